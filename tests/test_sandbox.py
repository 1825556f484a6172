"""The sandbox, the package copies and the transport, without grading a notebook.

Each hostile script runs as student code would (under bubblewrap, or with no sandbox) and
the test checks from outside what it could reach: files, the host's loopback, processes.
CI installs bubblewrap and sets NETVIZ_TP_REQUIRE_SANDBOX=1, making a missing one a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch

from netviz_tp.course import sandbox, stubs
from netviz_tp.course.transport import Encoder, Opaque, TransportError, decode, load, read_bounded
from netviz_tp.models import tiny_cnn

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bwrap() -> sandbox.Sandbox:
    box = sandbox.detect("auto")
    if box.kind != "bubblewrap":
        if os.environ.get("NETVIZ_TP_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"NETVIZ_TP_REQUIRE_SANDBOX=1 but {box.warning}")
        pytest.skip(f"needs bubblewrap: {box.warning}")
    return box


class _Socket(socket.socket):
    done: threading.Event


def _host_server():
    """A listening socket on the host's loopback; returns (port, list of accepted peers)."""
    server = _Socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list = []
    server.done = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not server.done.is_set():
            try:
                accepted.append(server.accept()[1])
            except OSError:
                continue

    threading.Thread(target=serve, daemon=True).start()
    return server, accepted


HOSTILE = """
import os, signal, socket, subprocess, sys, time
MARK = {mark!r}
skip = {{"/usr", "/proc", "/dev", sys.prefix, sys.base_prefix}}
found = []
for root, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip]
    found += [os.path.join(root, f) for f in files if f.endswith((".db", ".ipynb", ".csv"))]
    found += [os.path.join(root, d) for d in dirs if d in ("solutions", "source", "submitted")]
print("FOUND", found[:5])
for path in ({repo!r}, {secret!r}):
    try:
        print("READ", open(path).read()[:80])
    except OSError as exc:
        print("no", path, type(exc).__name__)
try:
    open({outside!r}, "w").write("HACKED")
    print("WROTE OUTSIDE")
except OSError as exc:
    print("no write", type(exc).__name__)
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2)
    print("CONNECTED")
except OSError as exc:
    print("no network", type(exc).__name__)
sleep = [sys.executable, "-c", "import time; time.sleep(600)", MARK]
subprocess.Popen(sleep, start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", MARK])
    os._exit(0)
time.sleep(0.5)
print("PARENT", os.getppid())
os.kill(os.getppid(), signal.SIGKILL) if os.getppid() > 1 else None
"""


def _survivors(mark: str) -> list:
    alive = []
    for proc in psutil.process_iter(["cmdline"]):
        if mark in (proc.info["cmdline"] or []):
            alive.append(proc)
    return alive


def test_bubblewrap_confines_files_network_and_processes(bwrap, tmp_path):
    secret = tmp_path / "gradebook.db"
    secret.write_text("grades")
    outside = tmp_path / "grades.csv"
    server, accepted = _host_server()
    mark = f"netviz-test-{os.getpid()}-{time.time_ns()}"
    code = HOSTILE.format(
        mark=mark,
        repo=str(ROOT / "solutions" / "01_saliency" / "saliency.py"),
        secret=str(secret),
        outside=str(outside),
        port=server.getsockname()[1],
    )
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "hostile.py").write_text(code)
    run = bwrap.run(
        ["python", "/grading/hostile.py"],
        package=tmp_path / "in",
        scratch=tmp_path / "scratch",
        inputs=tmp_path / "in",
        timeout=60,
    )
    server.done.set()
    assert "FOUND []" in run.log, run.log
    assert "READ" not in run.log and "no network" in run.log and "CONNECTED" not in run.log
    assert "no write" in run.log and not outside.exists()
    assert accepted == []
    assert run.killed == ""
    time.sleep(0.5)
    assert _survivors(mark) == []


def test_bubblewrap_stops_a_sleeper_and_a_disk_filler(bwrap, tmp_path):
    fill = "f = open('/scratch/big', 'wb')\nwhile True:\n    f.write(b'0' * 2**20)"
    run = bwrap.run(
        ["python", "-c", fill],
        package=tmp_path,
        scratch=tmp_path / "s1",
        inputs=tmp_path,
        timeout=60,
        max_disk=8 * 2**20,
    )
    assert "File too large" in run.log or "wrote more than" in run.killed
    assert (tmp_path / "s1" / "big").stat().st_size <= 4 * 2**20
    mark = f"netviz-sleeper-{time.time_ns()}"
    sleeper = f"import os, time\nif os.fork() == 0:\n    os.setsid()\ntime.sleep(600)  # {mark}"
    (tmp_path / "sleep.py").write_text(sleeper)
    run = bwrap.run(
        ["python", "/grading/sleep.py", mark],
        package=tmp_path,
        scratch=tmp_path / "s2",
        inputs=tmp_path,
        timeout=3,
    )
    assert run.killed == "timed out after 3 s (whole submission)" and run.code is None
    time.sleep(0.5)
    assert _survivors(mark) == []


def test_bubblewrap_stops_a_memory_hog_and_its_children(bwrap, tmp_path):
    """Memory grown by a forked child counts too: the whole tree is killed at the limit."""
    mark = f"netviz-hog-{time.time_ns()}"
    hog = (
        "import os, time\nos.fork()\nheld = []\n"
        "for _ in range(40):\n    held.append(b'x' * 2**26)\n    time.sleep(0.05)\n"
        f"time.sleep(600)  # {mark}"
    )
    (tmp_path / "hog.py").write_text(hog)
    run = bwrap.run(
        ["python", "/grading/hog.py", mark],
        package=tmp_path,
        scratch=tmp_path / "s",
        inputs=tmp_path,
        timeout=60,
        max_memory=1024 * 2**20,  # two processes of up to 2.5 GiB each, were they let grow
    )
    assert run.killed == "used more than 1024 MB of memory" and run.seconds < 30
    time.sleep(0.5)
    assert _survivors(mark) == []


def test_without_bubblewrap_grading_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    box = sandbox.detect("auto")
    assert box.kind == "none" and box.label.startswith("NO SANDBOX")
    assert "bubblewrap is not installed" in box.warning
    with pytest.raises(RuntimeError, match="no sandbox: bubblewrap is not installed"):
        sandbox.detect("bubblewrap")
    run = box.run(
        ["python", "-c", "import os; print(os.environ['HOME'])"],
        package=tmp_path,
        scratch=tmp_path / "s",
        inputs=tmp_path,
        timeout=30,
    )
    assert run.code == 0 and run.log.strip() == str(tmp_path / "s" / "home")


def _in_copy(copy: Path, code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(copy))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_reference_free_copy_has_no_reference_to_call_or_read(tmp_path):
    copy = stubs.reference_free_copy(tmp_path / "pkg", {"saliency", "featviz"})
    done = _in_copy(
        copy,
        """
        import inspect, torch, netviz_tp
        from netviz_tp import saliency, featviz, checks
        assert netviz_tp.__file__.startswith("COPY"), netviz_tp.__file__
        source = inspect.getsource(saliency) + inspect.getsource(featviz)
        assert "def _ascend" not in source and ".backward(" not in inspect.getsource(saliency)
        from netviz_tp import regularizers  # featviz re-exports the helpers students may use
        assert "def jitter" in inspect.getsource(regularizers)
        assert featviz.jitter is regularizers.jitter
        featviz.jitter(torch.zeros(1, 3, 8, 8), 1, 1)
        for call in (lambda: saliency.saliency(None, None, None),
                     lambda: netviz_tp.compute_saliency_maps(None, None, None),
                     lambda: featviz.class_visualization(None, 3),
                     lambda: checks.check_saliency(print), lambda: checks.fgsm_variant(None)):
            try:
                call()
            except AssertionError as exc:
                assert "not available while your exercise is graded" in str(exc), exc
            else:
                raise SystemExit("a reference ran")
        for name in ("common", "saliency"):
            try:
                __import__(f"netviz_tp.checks.{name}")
            except ModuleNotFoundError:
                continue
            raise SystemExit(f"checks.{name} is importable")
        print("ok")
    """.replace("COPY", str(copy)),
    )
    assert done.stdout.strip() == "ok", done.stderr
    assert not list(copy.rglob("__pycache__"))


def test_reference_free_copy_of_practical_5_still_imports(tmp_path):
    """Whole modules (training, fooling) and functions of a module another family stubs
    whole (attacks.fooling_rate): the copy builds, every module imports, each refuses."""
    copy = stubs.reference_free_copy(tmp_path / "pkg", {"attacks", "generators"})
    done = _in_copy(
        copy,
        """
        import importlib, pkgutil, netviz_tp
        for module in pkgutil.iter_modules(netviz_tp.__path__):
            if module.name != "__main__":
                importlib.import_module(f"netviz_tp.{module.name}")
        from netviz_tp import attacks, fooling, generators, training, widgets
        for call in (lambda: generators.conditional_loss(None, None, None),
                     lambda: attacks.fooling_rate(None, None, None),
                     lambda: training.train_conditional(None),
                     lambda: fooling.fooling_curve(None)):
            try:
                call()
            except AssertionError as exc:
                assert "not available while your exercise is graded" in str(exc), exc
            else:
                raise SystemExit("a reference ran")
        print("ok")
    """,
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_transport_round_trip_and_refusals(tmp_path):
    model = tiny_cnn(seed=3)
    value = {
        "x": torch.rand(2, 3, 8, 8, dtype=torch.float64),
        "n": [1, 2.5, None, "a", True],
        "pair": (torch.arange(3), model),
    }
    enc = Encoder()
    spec = enc.encode(value)
    enc.save(tmp_path / "v", spec)
    back = decode(*load(tmp_path / "v", tmp_path))
    assert torch.equal(back["x"], value["x"]) and back["n"] == value["n"]
    assert isinstance(back["pair"], tuple) and torch.equal(back["pair"][0], torch.arange(3))
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(back["pair"][1](x), model(x))
    assert isinstance(decode(Encoder().encode(object(), strict=False), {}), Opaque)
    with pytest.raises(TransportError, match="only tensors"):
        Encoder().encode(object())
    (tmp_path / "link.json").symlink_to(tmp_path / "v.json")
    with pytest.raises(TransportError, match="cannot read"):
        read_bounded(tmp_path / "link.json", tmp_path)
    (tmp_path / "sub").symlink_to(ROOT)
    with pytest.raises(TransportError, match="outside"):
        read_bounded(tmp_path / "sub" / "README.md", tmp_path)


def _train_step(generator, model, optimizer, index):
    """A student's update in the sandbox: stale gradients kept (no zero_grad), one Adam step."""
    model(generator(index)).sum().backward()
    optimizer.step()


def test_a_training_step_crosses_the_wall_with_its_side_effects(tmp_path):
    """A generator, its optimizer (with stale gradients and Adam's state) and a classifier
    cross into the sandbox; the step made there comes back into the grader's objects."""
    from netviz_tp.course.transport import after_call, apply_after, snapshot
    from netviz_tp.generators import ConditionalGenerator, ConditionalSettings

    def problem():
        torch.manual_seed(0)
        settings = ConditionalSettings(embed_dim=4, base=4, widths=(8, 4), steps=3)
        g = ConditionalGenerator([2, 5], settings)
        opt = torch.optim.Adam(g.parameters(), lr=0.01, betas=(0.5, 0.9))
        g(torch.tensor([0, 1])).sum().backward()
        opt.step()  # Adam has a state, the gradients are stale
        return g, tiny_cnn(seed=1), opt, torch.tensor([1, 0])

    home = problem()
    _train_step(*home)
    mine = problem()
    enc = Encoder()
    enc.save(tmp_path / "call", enc.encode(list(mine)))
    there = decode(*load(tmp_path / "call", tmp_path), {})  # a fresh rebuild, as in the sandbox
    assert type(there[0]) is ConditionalGenerator and there[2].param_groups[0]["betas"] == (
        0.5,
        0.9,
    )
    before = snapshot(there, {})
    _train_step(*there)
    enc = Encoder()
    enc.save(tmp_path / "after", enc.encode(after_call(there, {}, before)))
    after = decode(*load(tmp_path / "after", tmp_path), build=False)
    assert sorted(after) == ["0", "2"]  # the classifier and the index did not change
    apply_after(list(mine), {}, after)
    for p, q in zip(mine[0].parameters(), home[0].parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6) and torch.allclose(p.grad, q.grad, atol=1e-6)
    assert mine[2].state_dict()["state"][0]["step"] == 2
    with pytest.raises(TransportError, match="does not fit"):
        apply_after(
            list(mine), {}, {"0": {"weights": {"stem.weight": torch.zeros(1)}, "grads": {}}}
        )
    with pytest.raises(TransportError, match="no argument"):
        apply_after(list(mine), {}, {"7": {"tensor": torch.zeros(1)}})
    trained = {k: v + 1 for k, v in mine[1].state_dict().items()}
    with pytest.raises(TransportError, match="changed the weights of the network"):
        apply_after(list(mine), {}, {"1": {"weights": trained, "grads": {}}})
    with pytest.raises(TransportError, match="not those of a module"):
        Encoder().encode([mine[2]])
    assert isinstance(decode(Encoder().encode(mine[0]), enc.tensors, build=False), Opaque)


def test_execute_runs_every_cell_and_skips_the_slow_grammar_import(tmp_path):
    """course/execute.py (the runner inside the sandbox) runs every cell past an error and
    writes the notebook, without importing rfc3987_syntax (2 s of every run, unused)."""
    import json

    import nbformat

    cells = [nbformat.v4.new_code_cell(s) for s in ("1 / 0", "print(6 * 7)")]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, tmp_path / "in.ipynb")
    job = {"notebook": str(tmp_path / "in.ipynb"), "cwd": str(tmp_path),
           "output": str(tmp_path / "out.ipynb"), "cell_timeout": 60}  # fmt: skip
    (tmp_path / "job.json").write_text(json.dumps(job))
    script = ROOT / "netviz_tp" / "course" / "execute.py"
    argv = [sys.executable, "-X", "importtime", str(script), str(tmp_path / "job.json")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "nbformat" in imported and "rfc3987_syntax.syntax_helpers" not in imported
    ran = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert ran.cells[0].outputs[0]["ename"] == "ZeroDivisionError"
    assert ran.cells[1].outputs[0]["text"] == "42\n"
    assert ran.metadata["netviz_run"] == {"status": "complete"}
