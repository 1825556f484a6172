"""The `netviz-tp` command line: argument errors, one-line messages and exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from course_helpers import run_cli as run

from netviz_tp.course import cli

TOY = Path(__file__).parent / "fixtures" / "grading"


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_missing_submissions_folder(capsys, tmp_path):
    code, _, err = run(capsys, "grade", "toy", str(tmp_path / "nope"), "--out", str(tmp_path),
                       "--course", str(TOY))  # fmt: skip
    assert code == 1
    assert "does not exist" in one_line_error(err)


def test_unknown_assignment_suggests_the_closest(capsys, tmp_path):
    code, _, err = run(capsys, "grade", "tyo", str(tmp_path), "--out", str(tmp_path / "o"),
                       "--course", str(TOY))  # fmt: skip
    assert code == 1
    line = one_line_error(err)
    assert "unknown assignment 'tyo'" in line and "did you mean 'toy'?" in line


def test_empty_submissions_folder(capsys, tmp_path):
    (tmp_path / "subs").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "subs" / "notes.txt.bak")
    code, _, err = run(capsys, "grade", "toy", str(tmp_path / "subs"), "--out",
                       str(tmp_path / "o"), "--course", str(TOY))  # fmt: skip
    assert code == 1
    assert "no submissions" in one_line_error(err)
    assert not (tmp_path / "o").exists()


def test_not_a_course(capsys, tmp_path):
    code, _, err = run(capsys, "grade", "toy", str(tmp_path), "--out", str(tmp_path / "o"),
                       "--course", str(tmp_path))  # fmt: skip
    assert code == 1
    assert "not an nbgrader course" in one_line_error(err)


@pytest.mark.parametrize(
    "argv",
    [
        ["grade", "toy", "subs"],  # --out is required
        ["grade", "toy", "subs", "--out", "o", "--jobs", "0"],
        ["grade", "toy", "subs", "--out", "o", "--timeout", "soon"],
        ["frobnicate"],
        [],
    ],
)
def test_argument_errors_exit_2_with_usage(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "usage: netviz-tp" in capsys.readouterr().err


def test_build_check_exit_status(capsys, monkeypatch):
    from netviz_tp.course import release

    monkeypatch.setattr(release, "check_in_sync", lambda course: ["notebooks/x.ipynb: stale"])
    code, _, err = run(capsys, "build", "--check")
    assert code == 1
    assert "notebooks/x.ipynb: stale" in err and "1 problem(s)" in err

    monkeypatch.setattr(release, "check_in_sync", lambda course: [])
    code, out, _ = run(capsys, "build", "--check")
    assert code == 0 and "in sync" in out


def test_run_passes_its_arguments_to_the_report(capsys, monkeypatch, tmp_path):
    from netviz_tp.course import report

    calls = []
    monkeypatch.setattr(report, "main", lambda out, model: calls.append((out, model)) or out)
    code, out, _ = run(capsys, "run", "--out", str(tmp_path), "--model", "tiny_cnn")
    assert code == 0 and calls == [(str(tmp_path), "tiny_cnn")]


def test_python_dash_m_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "netviz_tp", "grade", "toy", "nowhere", "--out", "o",
         "--course", str(TOY)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        done.stderr.strip() == "netviz-tp grade: error: submissions folder nowhere does not exist"
    )


def test_grade_reports_each_student_and_exits_3_when_some_were_not_graded(capsys, monkeypatch):
    from netviz_tp.course import grading
    from netviz_tp.course.grades_csv import StudentResult

    demo_runs = []

    def fake_grade(assignment, submissions, out, **options):
        demo_runs.append(options.pop("demo_run"))
        assert options == {"course": ".", "cell_timeout": 5, "wall_timeout": 600.0, "jobs": 2,
                           "sandbox_kind": "auto", "regrade": False}  # fmt: skip
        return [
            StudentResult("alice", 5, 6, pending_manual=1),
            StudentResult("bob", 0, 6, error="timed out after 600 s (whole submission)"),
        ]

    from netviz_tp.course import gradebook

    published = []
    monkeypatch.setattr(gradebook, "publish", lambda *a, **k: published.append(a[1:]) or [])
    monkeypatch.setattr(grading, "grade", fake_grade)
    code, out, err = run(capsys, "grade", "toy", "subs", "--out", "o", "--timeout", "5",
                         "--jobs", "2")  # fmt: skip
    assert published == [("toy", Path("o"), Path("subs"))]  # into the course's gradebook
    assert code == 3
    assert "alice: 5 / 6 (+1 to grade by hand)" in out
    assert "bob: 0 / 6  ERROR: timed out" in out
    assert "1 of 2 submission(s) not fully graded" in err

    monkeypatch.setattr(grading, "grade", lambda *a, **k: fake_grade(*a, **k)[:1])
    assert run(capsys, "grade", "toy", "subs", "--out", "o", "--timeout", "5", "--jobs", "2",
               "--no-demo-run")[0] == 0  # fmt: skip
    assert demo_runs == [True, False]

    def canary_fails(*args, **kwargs):
        from netviz_tp.course.batch import EnvironmentProblem

        raise EnvironmentProblem("canary: the instructor's solution gets 0 (cell 'ex1_test': x)")

    monkeypatch.setattr(grading, "grade", canary_fails)
    code, _, err = run(capsys, "grade", "toy", "subs", "--out", "o", "--sandbox", "none")
    assert code == 1 and "canary: the instructor's solution gets 0" in one_line_error(err)
