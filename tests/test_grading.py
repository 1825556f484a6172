"""Grading round trips through real nbgrader: honest, damaged and dishonest submissions.

The toy course in tests/fixtures/grading/ has two autograded exercises (2 and 3 points) and a
written answer (1 point, graded by hand). Every submission is built from its release and
source notebooks with nbformat, graded in one batch with damaged, unusual and hostile ones
(reading the grading folders, writing grades, background processes, the host's network,
filling the disk, killing its parent, IPython input transformers), and each per-cell score
is asserted exactly from grades.csv.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import shutil
import socket
import threading
import time
from pathlib import Path

import hostile_saliency as hostile
import nbformat
import pytest
import torch

from netviz_tp.course import intake
from netviz_tp.course.batch import EnvironmentProblem
from netviz_tp.course.config import GradingError
from netviz_tp.course.grades_csv import TRAILING
from netviz_tp.course.grading import grade, release_notebooks
from netviz_tp.course.submissions import fill_answers, repair

pytestmark = pytest.mark.notebooks

TOY = Path(__file__).parent / "fixtures" / "grading"
CELLS = ["test_square", "test_norm2", "explain"]


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _index(nb, grade_id: str) -> int:
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    return ids.index(grade_id)


def set_answer(nb, grade_id: str, text: str):
    nb = copy.deepcopy(nb)
    nb.cells[_index(nb, grade_id)].source = text
    return nb


def strip_metadata(nb):
    """What Colab hands back: no nbgrader metadata, no cell ids."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.metadata = {}
        cell.pop("id", None)
    nb.nbformat_minor = 4
    return nb


def code(text: str):
    return nbformat.v4.new_code_cell(text)


@pytest.fixture(scope="module")
def toy():
    release = release_notebooks("toy", course=TOY)["toy"]
    return release, fill_answers(release, _read(TOY / "source" / "toy" / "toy.ipynb"))


SNOOP = """
for path in ({course!r}, {subs!r}, {out!r}):
    try:
        print([open(os.path.join(path, n), errors="ignore").read() for n in os.listdir(path)])
    except OSError as exc:
        print("cannot read", path, type(exc).__name__)
for target in ({csv!r}, {result!r}, {course_file!r}):
    try:
        open(target, "w").write("snoop,HACKED")
    except OSError as exc:
        print("cannot write", type(exc).__name__)
f = open("/tmp/fill", "wb")
while True:
    f.write(b"0" * 2**20)
"""

PROCESSES = """
import os, socket, subprocess, sys, time
code = "import time; time.sleep(600)"
subprocess.Popen([sys.executable, "-c", code, {mark!r}], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", code, {mark!r}])
    os._exit(0)
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2)
    print("connected")
except OSError as exc:
    print("no network:", exc)
time.sleep(10**6)  # interrupted by the per-cell limit
"""

PATCHER = (
    "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n"
    "import builtins\n"
    "builtins.AssertionError = type('Nothing', (Exception,), {})\n"
)


def toy_submissions(release, solution, paths: dict) -> dict[str, tuple[object, dict]]:
    """student -> (notebook, raw text or None, expected per-cell scores; None = by hand)."""
    full = {"test_square": 2, "test_norm2": 3, "explain": None}
    colab = copy.deepcopy(solution)
    colab.cells.insert(_index(solution, "test_square") + 1, code("scratch = square(5)"))
    colab = strip_metadata(colab)

    dup = copy.deepcopy(solution)
    at = _index(dup, "square")
    wrong = copy.deepcopy(dup.cells[at])
    wrong.source, wrong.id = "def square(x):\n    return x + x", "wrong-copy"
    dup.cells.insert(at, wrong)  # the later, correct copy is what the kernel keeps
    test_copy = copy.deepcopy(dup.cells[_index(dup, "test_norm2")])
    test_copy.id = "test-copy"
    dup.cells.insert(_index(dup, "test_norm2"), test_copy)

    moved = copy.deepcopy(solution)
    del moved.cells[_index(moved, "test_square")]  # deleted test: restored, run, scored
    at = _index(moved, "norm2")
    block = [moved.cells.pop(at) for _ in range(2)]  # norm2 and its test
    moved.cells[2:2] = block  # moved above exercise 1, just after the imports

    tampered = set_answer(solution, "square", "def square(x):\n    return 0")
    tampered = set_answer(tampered, "test_square", "assert True")
    tampered.cells[_index(tampered, "test_norm2")].metadata.nbgrader.points = 100

    loop = set_answer(
        solution, "square", "while True:\n    pass\n\ndef square(x):\n    return x * x"
    )
    raises = set_answer(solution, "square", "raise ValueError('oops')")
    raises.cells.insert(_index(raises, "norm2"), code("1 / 0"))

    unanswered = set_answer(solution, "explain", "YOUR ANSWER HERE")
    answer_next = copy.deepcopy(unanswered)
    answer_next.cells.insert(
        _index(unanswered, "explain") + 1,
        nbformat.v4.new_markdown_cell("Because squares are |x|^2."),
    )
    in_question = copy.deepcopy(unanswered)
    question = in_question.cells[_index(unanswered, "explain") - 1]
    question.source += "\n\nBecause (-x)(-x) = x x."

    def after_tests(nb, text):
        nb = copy.deepcopy(nb)
        nb.cells.insert(_index(nb, "test_norm2") + 1, code(text))
        return nb

    snoop = hostile.snoop(("norm2(5, 12)",))
    killer = after_tests(solution, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    patcher = set_answer(solution, "square", "def square(x):\n    return 0")
    patcher.cells.insert(_index(patcher, "square"), code(PATCHER))
    return {
        "solution": (solution, full),
        "release": (release, {"test_square": 0, "test_norm2": 0, "explain": 0}),
        "colab": (colab, full),
        "duplicated": (dup, full),
        "moved_deleted": (moved, full),
        "loop": (loop, {**full, "test_square": 0}),
        "raises": (raises, {**full, "test_square": 0}),
        "tampered": (tampered, {**full, "test_square": 0}),
        "unanswered": (unanswered, {**full, "explain": 0}),
        "answer_next": (answer_next, full),
        "answer_in_question": (in_question, full),
        "bom": ("\ufeff" + nbformat.writes(solution), full),
        "zz_not_json": ("{this is not a notebook", None),
        "hostile_killer": (killer, full),
        "hostile_patcher": (patcher, {**full, "test_square": 0, "test_norm2": 0}),
        "hostile_snoop": (after_tests(solution, snoop + SNOOP.format(**paths)), full),
        "hostile_processes": (after_tests(solution, PROCESSES.format(**paths)), full),
    }  # fmt: skip


def _host_server():
    """A listening socket on the host's loopback and the list of connections it accepted."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted: list = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(server.accept())

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], accepted, stop


@pytest.fixture(scope="module")
def toy_batch(toy, tmp_path_factory):
    release, solution = toy
    subs = tmp_path_factory.mktemp("subs")
    out = tmp_path_factory.mktemp("out")
    port, accepted, stop = _host_server()
    mark = f"netviz-hostile-{time.time_ns()}"
    paths = dict(
        course=str(TOY),
        subs=str(subs),
        out=str(out),
        csv=str(out / "grades.csv"),
        result=str(out / "results" / "solution.json"),
        course_file=str(TOY / "source" / "toy" / "toy.ipynb"),
        port=port,
        mark=mark,
    )
    cases = toy_submissions(release, solution, paths)
    for student, (nb, _) in cases.items():
        if isinstance(nb, str):
            (subs / f"{student}.ipynb").write_text(nb, encoding="utf-8")
        else:
            nbformat.write(nb, subs / f"{student}.ipynb")
    (subs / "yy_script.py").write_text("def square(x):\n    return x * x\n")
    (subs / "eve").mkdir()
    nbformat.write(solution, subs / "eve" / "toy (1).ipynb")
    (subs / "frank").mkdir()
    (subs / "frank" / "notes.txt").write_text("forgot the notebook")
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Practical 7: RNNs")])
    nbformat.write(other, subs / "yy_other.ipynb")
    before = (TOY / "source" / "toy" / "toy.ipynb").read_text()
    results = grade("toy", subs, out, course=TOY, cell_timeout=10, wall_timeout=300, jobs=2,
                    max_disk=32 * 2**20)  # fmt: skip
    stop.set()
    assert (TOY / "source" / "toy" / "toy.ipynb").read_text() == before
    with open(out / "grades.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    return cases, results, rows, out, dict(accepted=accepted, mark=mark)


def test_csv_has_one_row_per_file_and_the_specified_columns(toy_batch):
    cases, results, rows, out, _ = toy_batch
    header = (out / "grades.csv").read_text().splitlines()[0].split(",")
    assert header == ["student", "score", "max_score", *CELLS, *TRAILING]
    others = ["eve", "frank", "yy_other", "yy_script.py"]
    assert sorted(rows) == sorted([*cases, *others]) == [r.student for r in results]
    assert {row["max_score"] for row in rows.values()} == {"6"}
    assert {row["sandbox"] for row in rows.values()} == {"bubblewrap"}


@pytest.mark.parametrize(
    "student",
    ["solution", "release", "colab", "duplicated", "moved_deleted", "loop", "raises", "tampered",
     "unanswered", "answer_next", "answer_in_question", "bom", "hostile_killer",
     "hostile_patcher", "hostile_snoop", "hostile_processes"],
)  # fmt: skip
def test_each_submission_gets_the_grade_it_deserves(toy_batch, student):
    cases, _, rows, _, _ = toy_batch
    expected = cases[student][1]
    row = rows[student]
    assert row["error"] == ""
    assert {c: row[c] for c in CELLS} == {
        c: "" if v is None else f"{v:g}" for c, v in expected.items()
    }
    assert float(row["score"]) == sum(v for v in expected.values() if v is not None)
    assert float(row["pending_manual"]) == (1.0 if expected["explain"] is None else 0.0)


def test_files_that_are_not_a_submission_are_flagged(toy_batch):
    _, _, rows, _, _ = toy_batch
    assert "Python script" in rows["yy_script.py"]["error"]
    assert "no toy.ipynb in the folder (notes.txt)" in rows["frank"]["error"]
    assert "not the notebook of toy/toy" in rows["yy_other"]["error"]
    assert rows["eve"]["error"] == "" and rows["eve"]["score"] == "5"
    assert "misnamed notebook toy (1).ipynb" in rows["eve"]["notes"]


def test_answers_outside_their_cell_reach_the_hand_grader(toy_batch):
    _, _, rows, out, _ = toy_batch
    for student, where, text in [
        ("answer_next", "in a new cell", "squares are |x|^2"),
        ("answer_in_question", "typed into the question", "(-x)(-x)"),
    ]:
        assert f"explain: answer found {where}" in rows[student]["notes"]
        graded = nbformat.read(out / "autograded" / student / "toy.ipynb", as_version=4)
        assert text in graded.cells[_index(graded, "explain")].source


def test_hostile_code_reaches_nothing_and_leaves_nothing(toy_batch, toy):
    import psutil

    _, results, rows, out, probe = toy_batch
    assert probe["accepted"] == []
    assert "HACKED" not in (out / "grades.csv").read_text()
    assert json.loads((out / "results" / "solution.json").read_text())["score"] == 5
    page = (out / "feedback" / "hostile_snoop" / "toy.html").read_text()
    assert "0 secret files found" in page and "cannot read" in page and "cannot write" in page
    assert "File too large" in page
    for r in results:
        for path in r.feedback:
            text = path.read_text()
            assert "norm2(5, 12)" not in text
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if probe["mark"] in (p.info["cmdline"] or [])
    ]
    assert leftovers == []
    page = (out / "feedback" / "hostile_processes" / "toy.html").read_text()
    assert "no network: [Errno 111] Connection refused" in page


def test_feedback_shows_trusted_verdicts_not_the_notebook_s(toy_batch):
    _, results, _, out, _ = toy_batch
    for r in results:
        if not r.error:
            page = (out / "feedback" / r.student / "toy.html").read_text()
            assert f"Score: {r.score:g} / {r.max_score:g}" in page
    page = (out / "feedback" / "hostile_patcher" / "toy.html").read_text()
    assert "0 / 2 points" in page and "0 / 3 points" in page  # its transformer blanked its cells
    saved = json.loads((out / "results" / "hostile_patcher.json").read_text())
    verdict = {v["grade_id"]: v for v in saved["verdicts"]}
    assert verdict["test_square"]["verdict"] == "fail" and verdict["test_norm2"]["points"] == 0
    assert "no readable output" in verdict["test_square"]["diagnosis"]


def test_without_the_demo_run_the_grades_are_the_same_and_the_page_says_why(
    toy, toy_batch, tmp_path
):
    """demo_run=False (``--no-demo-run``): one run per notebook, the same grades as with the
    demo run, and feedback whose code has no outputs, with a note that says so."""
    from netviz_tp.course.pipeline import NOT_RERUN

    release, solution = toy
    _, _, rows, out, _ = toy_batch
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(solution, subs / "solution.ipynb")
    wrong = set_answer(solution, "norm2", "def norm2(x, y):\n    return x + y")
    nbformat.write(wrong, subs / "wrong.ipynb")
    results = grade("toy", subs, tmp_path / "out", course=TOY, cell_timeout=10, jobs=2,
                    demo_run=False)  # fmt: skip
    by_student = {r.student: r for r in results}
    assert {s: r.cells for s, r in by_student.items()} == {
        "solution": {c: float(rows["solution"][c]) if rows["solution"][c] else None for c in CELLS},
        "wrong": {"test_square": 2.0, "test_norm2": 0.0, "explain": None},
    }
    assert all(list(r.seconds) == ["evaluation"] for r in results)

    def outputs(root: Path) -> list:
        nb = _read(root / "autograded" / "solution" / "toy.ipynb")
        plain = [c for c in nb.cells if c.cell_type == "code" and "nbgrader" not in c.metadata]
        return [o for c in plain for o in c.outputs]

    fast = tmp_path / "out"
    assert outputs(out) != [] and outputs(fast) == []
    pages = [(r / "feedback" / "solution" / "toy.html").read_text() for r in (out, fast)]
    assert NOT_RERUN not in pages[0] and NOT_RERUN in pages[1]


def test_a_broken_submission_is_recorded_and_does_not_stop_the_batch(toy_batch):
    _, results, rows, out, _ = toy_batch
    row = rows["zz_not_json"]
    assert row["score"] == "0" and row["error"].startswith("unreadable notebook")
    flagged = {"zz_not_json", "yy_script.py", "frank", "yy_other"}
    assert {r.student for r in results if r.error} == flagged
    assert (
        "not graded" in (out / "feedback" / "zz_not_json" / "not_graded.html").read_text().lower()
    )


def test_regrading_resumes_and_without_sandbox_says_so(toy, toy_batch, tmp_path, capfd):
    """A second run grades only the new student; --sandbox none is loud in stderr and CSV."""
    release, solution = toy
    _, _, rows, out, _ = toy_batch
    resumed = tmp_path / "out"
    shutil.copytree(out, resumed)
    subs = tmp_path / "subs"
    subs.mkdir()
    for student in ("solution", "release"):
        nbformat.write(solution if student == "solution" else release, subs / f"{student}.ipynb")
    nbformat.write(solution, subs / "newcomer.ipynb")
    results = grade("toy", subs, resumed, course=TOY, cell_timeout=10, jobs=2, sandbox_kind="none")
    assert "NO SANDBOX" in capfd.readouterr().err
    with open(resumed / "grades.csv", newline="") as handle:
        again = {row["student"]: row for row in csv.DictReader(handle)}
    assert again["solution"] == rows["solution"] and again["release"] == rows["release"]
    assert again["newcomer"]["score"] == "5"
    assert again["newcomer"]["sandbox"].startswith("NO SANDBOX (disabled by --sandbox none)")
    assert [r.student for r in results] == ["newcomer", "release", "solution"]


def test_repair_restores_colab_metadata_exactly(toy):
    release, solution = toy
    fixed = repair(strip_metadata(solution), release)
    meta = [c.metadata.get("nbgrader") for c in fixed.notebook.cells]
    assert meta == [c.metadata.get("nbgrader") for c in release.cells]
    assert [c.source for c in fixed.notebook.cells] == [c.source for c in solution.cells]
    assert repair(solution, release).notes == []


def test_repair_keeps_the_last_edited_copy_of_a_duplicated_answer(toy):
    release, solution = toy
    nb = copy.deepcopy(solution)
    at = _index(nb, "square")
    stub = copy.deepcopy(release.cells[at])
    nb.cells.insert(at + 1, stub)  # a fresh copy of the stub after the real answer
    fixed = repair(nb, release).notebook
    graded = [c for c in fixed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "square"]
    assert len(graded) == 1 and "return x * x" in graded[0].source
    assert len(fixed.cells) == len(nb.cells)  # the stub copy stays, as an ordinary cell


def test_scan_errors(tmp_path):
    with pytest.raises(GradingError, match="does not exist"):
        intake.scan(tmp_path / "missing", ["toy"])
    with pytest.raises(GradingError, match="no submissions"):
        intake.scan(tmp_path, ["toy"])
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "carol.ipynb")
    with pytest.raises(GradingError, match="no submissions.*STUDENT/NOTEBOOK.ipynb.*carol"):
        intake.scan(tmp_path, ["a", "b"])
    (tmp_path / "dave").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "dave" / "a.ipynb")
    entries = intake.scan(tmp_path, ["a", "b"])
    assert "several notebooks" in entries["carol"].flag
    assert entries["dave"].files == {"a": tmp_path / "dave" / "a.ipynb"}
    assert not entries["dave"].flag


def test_canary_stops_grading_when_the_solution_fails_in_the_grading_environment(
    tmp_path, toy, monkeypatch
):
    """The instructor's square() works only with a variable the sandbox does not pass on."""
    course = tmp_path / "course"
    shutil.copytree(TOY, course)
    source = course / "source" / "toy" / "toy.ipynb"
    nb = _read(source)
    answer = "def square(x):\n    import os\n    return x * x if os.environ.get('ONLY_HERE') else 0"
    nb.cells[_index(nb, "square")].source = answer
    nbformat.write(nb, source)
    monkeypatch.setenv("ONLY_HERE", "1")
    nbformat.write(toy[1], tmp_path / "alice.ipynb")
    with pytest.raises(EnvironmentProblem, match="canary.*'test_square'.*no student was graded"):
        grade("toy", tmp_path, tmp_path / "out", course=course, cell_timeout=10)
    assert not (tmp_path / "out" / "grades.csv").exists()


# --- the real practicals --------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
PRACTICALS = {
    "01_saliency": ("saliency", "ex1_saliency", "ex1_test",
                    "from netviz_tp.saliency import compute_saliency_maps as _reference\n\n\n"
                    "def compute_saliency_maps(X, y, model):\n"
                    "    return _reference(X, y, model)\n"),
    "02_adversarial": ("adversarial", "ex2_fgsm", "ex2_test",
                       "import torch.nn.functional as F\n\nfrom netviz_tp import attacks\n\n\n"
                       "def fgsm(model, x, target, eps=8 / 255):\n"
                       "    return attacks.fgsm(model, x, target, eps=eps).x_adv\n"),
    "03_class_visualization": ("class_visualization", "ex2_loop", "ex2_test",
                               "from netviz_tp import featviz\n\n\n"
                               "def create_class_visualization(target_y, model, **kwargs):\n"
                               "    steps = kwargs.get('num_iterations', 200)\n"
                               "    return featviz.create_class_visualization(\n"
                               "        target_y, model, num_iterations=steps)\n"),
    "04_inside_the_network": ("inside_the_network", "ex1_grad_cam", "ex1_test",
                              "from netviz_tp import cam\n\n\n"
                              "def grad_cam(model, x, target, layer):\n"
                              "    return cam.grad_cam(model, x, target, layer=layer)\n"),
    "05_generators": ("generators", "ex2_curve", "ex2_test",
                      "from netviz_tp.attacks import fooling_and_hit_rates\n\n\n"
                      "def fooling_curve(model, x, V, target, e):\n"
                      "    return fooling_and_hit_rates(model, x, V / 255, e, target)\n"),
}  # fmt: skip
MISTAKES = {  # a typical mistake: 0 for that exercise, and its diagnosis in the feedback
    "04_inside_the_network": ("ex1_grad_cam", "ex1_test", "apply a ReLU",
                              "import torch.nn.functional as F\n\n"
                              "from netviz_tp.hooks import capture\n\n\n"
                              "def grad_cam(model, x, target, layer):\n"
                              "    with capture(model, layer, grads=True) as rec:\n"
                              "        model(x).gather(1, target.view(-1, 1)).sum().backward()\n"
                              "    maps = rec.activations[layer].detach()\n"
                              "    alpha = rec.gradients[layer].mean(dim=(2, 3))\n"
                              "    cam = (alpha[:, :, None, None] * maps).sum(dim=1)\n"
                              "    return F.interpolate(cam[:, None], size=x.shape[-2:],\n"
                              "                         mode='bilinear')[:, 0]\n"),
    "05_generators": ("ex2_curve", "ex2_test", "clamp the perturbed images",
                      "import torch\n\n\n"
                      "def fooling_curve(model, x, V, target, e):\n"
                      "    with torch.no_grad():\n"
                      "        clean = model(x).argmax(1)\n"
                      "        preds = [model(x + c * V / 255).argmax(1) for c in e]\n"
                      "    return ([(p != clean).float().mean().item() for p in preds],\n"
                      "            [(p == target).float().mean().item() for p in preds])\n"),
}  # fmt: skip


def _expected(release, *, zero=(), all_zero=False) -> dict[str, float | None]:
    """Per-cell scores: autograded cells full (or 0), written answers pending (or 0)."""
    scores: dict[str, float | None] = {}
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            manual = meta.get("solution")
            full = None if manual else float(meta["points"])
            scores[meta["grade_id"]] = 0.0 if all_zero or meta["grade_id"] in zero else full
    return scores


@pytest.mark.parametrize("assignment", sorted(PRACTICALS))
def test_real_practical_round_trip(assignment, tmp_path, assets, monkeypatch):
    """Solution: full marks; release: 0; calling the reference: 0 for that exercise only."""
    monkeypatch.setenv("NETVIZ_TP_ASSETS", str(assets))
    name, answer_id, test_id, cheat_code = PRACTICALS[assignment]
    release = release_notebooks(assignment, course=ROOT)[name]
    solution = fill_answers(release, _read(ROOT / "solutions" / assignment / f"{name}.ipynb"))
    for cell in solution.cells:  # written answers of a student's own, not the rubrics
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("solution"):
            cell.source = "The map is brighter on the object than on the background."
    cheat = set_answer(solution, answer_id, cheat_code)
    cases = {
        "solution": (solution, _expected(release)),
        "release": (release, _expected(release, all_zero=True)),
        "cheat": (cheat, _expected(release, zero=[test_id])),
    }
    if assignment == "01_saliency":
        cases.update(_saliency_cases(release, solution))
    if assignment in MISTAKES:
        answer, test, _, mistake = MISTAKES[assignment]
        cases["mistake"] = (set_answer(solution, answer, mistake), _expected(release, zero=[test]))
    subs = tmp_path / "subs"
    subs.mkdir()
    for student, (nb, _) in cases.items():
        nbformat.write(nb, subs / f"{student}.ipynb")
    out = tmp_path / "out"
    # the demo run only fills the pages (grades are the same without it): run it where the
    # hostile answers are, 01's, whose outputs the pages must not leak
    demo_run = assignment == "01_saliency"
    graded = grade(assignment, subs, out, course=ROOT, jobs=2, demo_run=demo_run)
    results = {r.student: r for r in graded}
    assert sorted(results) == sorted(cases)
    for student, (_, expected) in cases.items():
        result = results[student]
        assert result.error == ""
        assert result.cells == expected, student
    diagnosis = {r.student: {v.grade_id: v.diagnosis for v in r.verdicts} for r in results.values()}
    assert "not available while your exercise is graded" in diagnosis["cheat"][test_id]
    for r in results.values():
        page = r.feedback[0].read_text()
        assert not [s for s in hostile.SECRETS if s in page], r.student
    if assignment in MISTAKES:
        mistake_page = (out / "feedback" / "mistake" / f"{name}.html").read_text()
        assert MISTAKES[assignment][2] in mistake_page
    if assignment == "01_saliency":
        ce = "you differentiated a cross-entropy loss (averaged over the batch) instead of"
        assert diagnosis["cross_entropy"]["ex1_test"].startswith(f"compute_saliency_maps: {ce}")
        page = (out / "feedback" / "snoop" / "saliency.html").read_text()
        assert "0 secret files found" in page


def _saliency_cases(release, solution) -> dict:
    """The hostile, mistaken and unusual answers of tests/hostile_saliency.py, with the points
    each deserves (``ex1_test`` is the autograded cell)."""
    from netviz_tp import checks
    from netviz_tp.saliency import compute_saliency_maps

    model, x = checks.tiny_setup(0)
    home = compute_saliency_maps(x, torch.arange(4) % 10, model).tolist()
    full, zero = _expected(release), _expected(release, zero=["ex1_test"])
    patcher = set_answer(solution, "ex1_saliency", hostile.LAZY)
    patcher.cells.insert(_index(patcher, "ex1_saliency"), code(hostile.PATCHER))
    snoop = copy.deepcopy(solution)
    snoop.cells.insert(_index(snoop, "ex1_test") + 1, code(hostile.snoop(hostile.SECRETS[:2])))
    return {
        "colab": (strip_metadata(solution), full),
        "patcher": (patcher, zero),
        "walker": (set_answer(solution, "ex1_saliency", hostile.WALKER.format(home=home)), zero),
        "fair": (set_answer(solution, "ex1_saliency", hostile.FAIR), full),
        "cross_entropy": (set_answer(solution, "ex1_saliency", hostile.CROSS_ENTROPY), zero),
        "snoop": (snoop, full),
    }


def test_wall_clock_stops_a_kernel_deaf_to_interrupts(toy, tmp_path):
    """A cell that ignores the per-cell interrupt is stopped by the per-submission wall clock,
    with the process it started."""
    import psutil

    release, solution = toy
    mark = f"netviz-deaf-{time.time_ns()}"
    deaf = (
        "import signal, subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', {mark!r}])\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    )
    nbformat.write(set_answer(solution, "square", deaf), tmp_path / "deaf.ipynb")
    nbformat.write(solution, tmp_path / "honest.ipynb")
    results = grade("toy", tmp_path, tmp_path / "out", course=TOY, cell_timeout=40,
                    wall_timeout=25, jobs=2)  # fmt: skip
    assert [(r.student, r.error) for r in results] == [
        ("deaf", "timed out after 25 s (whole submission)"),
        ("honest", ""),
    ]
    assert results[0].score == 0 and results[1].score == 5
    alive = [p for p in psutil.process_iter(["cmdline"]) if mark in (p.info["cmdline"] or [])]
    assert alive == []


def test_repair_restores_a_deleted_test_after_its_answer(toy):
    release, solution = toy
    nb = copy.deepcopy(solution)
    del nb.cells[_index(nb, "test_square")]
    fixed = repair(nb, release)
    at = _index(fixed.notebook, "square")
    assert (
        fixed.notebook.cells[at + 1].metadata.nbgrader
        == release.cells[_index(release, "test_square")].metadata.nbgrader
    )
    assert fixed.notes == ["cell 'test_square' was deleted: restored from the release"]
    ids = [cell.id for cell in fixed.notebook.cells]
    assert len(set(ids)) == len(ids)


def test_every_submission_failing_the_same_way_is_an_environment_problem(tmp_path):
    """Two submissions that both fail with the same error point at the grading machine, not
    at the students: the batch says so, and each row is still saved; one success clears it."""
    from netviz_tp.course.batch import run_batch
    from netviz_tp.course.grades_csv import StudentResult

    def grader(failing):
        def graded(entry):
            if entry.student in failing:
                raise OSError("No space left on device")
            return StudentResult(entry.student, score=5.0, max_score=5.0, sandbox="none")

        return graded

    entries = {s: intake.Entry(s, {"toy": tmp_path / f"{s}.ipynb"}) for s in ("ann", "bob")}
    options = dict(columns=[("square", "toy", "square")], max_score=5.0, label="none",
                   regrade=False, jobs=2)  # fmt: skip
    with pytest.raises(EnvironmentProblem, match="every submission failed the same way: could "
                       "not be graded: OSError: No space left on device"):  # fmt: skip
        run_batch(entries, tmp_path / "out", grader({"ann", "bob"}), **options)
    rows = list(csv.DictReader((tmp_path / "out" / "grades.csv").open()))
    assert [r["student"] for r in rows] == ["ann", "bob"]
    results = run_batch(entries, tmp_path / "out2", grader({"bob"}), **options)
    assert [(r.student, bool(r.error)) for r in results] == [("ann", False), ("bob", True)]
