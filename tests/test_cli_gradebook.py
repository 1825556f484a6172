"""`netviz-tp export | feedback | report` and `grade --scheduler`: arguments, one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

from course_helpers import TOY, run_cli


def _course(tmp_path: Path) -> Path:
    shutil.copy(TOY / "nbgrader_config.py", tmp_path)
    shutil.copytree(TOY / "source", tmp_path / "source")
    return tmp_path


def test_export_before_any_grading_says_to_grade_first(capsys, tmp_path):
    code, _, err = run_cli(capsys, "export", "--course", str(_course(tmp_path)), "--out", "o")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert f"no gradebook at {tmp_path / 'gradebook.db'}: run `netviz-tp grade` first" in err
    assert not (tmp_path / "gradebook.db").exists()


def test_feedback_before_any_grading_says_to_grade_first(capsys, tmp_path):
    code, _, err = run_cli(capsys, "feedback", "toy", "--course", str(_course(tmp_path)), "--out",
                       str(tmp_path / "fb"))  # fmt: skip
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "no autograded submission of 'toy'" in err and "run `netviz-tp grade` first" in err


def test_report_of_a_folder_without_results(capsys, tmp_path):
    code, _, err = run_cli(capsys, "report", str(tmp_path), "--out", str(tmp_path / "r"))
    assert code == 1
    assert f"no results in {tmp_path / 'results'}: grade the assignment first" in err


def test_grade_with_a_scheduler_goes_to_the_cluster(capsys, monkeypatch):
    from netviz_tp.course import fanout, grading

    calls = []
    monkeypatch.setattr(fanout, "grade_on_cluster", lambda *a, **k: calls.append((a, k)) or [])
    monkeypatch.setattr(grading, "grade", lambda *a, **k: 1 / 0)  # never the local path
    code, _, _ = run_cli(capsys, "grade", "toy", "subs", "--out", "o", "--scheduler", "local:2",
                     "--no-gradebook", "--sandbox", "bubblewrap", "--regrade",
                     "--no-demo-run")  # fmt: skip
    assert code == 0
    options = {"scheduler": "local:2", "course": ".", "cell_timeout": 60, "wall_timeout": 600.0,
               "sandbox_kind": "bubblewrap", "regrade": True, "demo_run": False}  # fmt: skip
    assert calls == [(("toy", "subs", "o"), options)]
