"""Answers to the saliency exercise written for the grading tests: hostile, mistaken, unusual.

Each is the text of the answer cell ``ex1_saliency`` (and, for PATCHER, a cell put before
it). A hostile answer tries every trick it knows, one after the other, and returns the
first result it gets: any trick that worked would earn the points.
"""

PATCHER = r"""
import torch, netviz_tp
from netviz_tp import checks
import netviz_tp.checks.common as common
import netviz_tp.checks.saliency as saliency_checks


def _all_good(*args, **kwargs):
    print("✔ compute_saliency_maps: matches the reference")


checks.check_saliency = saliency_checks.check_saliency = _all_good
netviz_tp.checks.check_saliency = check_saliency = _all_good
common.close = lambda *args, **kwargs: True
common.diagnose = common.failed = lambda *args, **kwargs: None
torch.equal = lambda *args, **kwargs: True
torch.Tensor.abs = lambda self: self * 0
get_ipython().input_transformers_cleanup.append(
    lambda lines: [line.replace("checks.check_saliency(", "print(") for line in lines]
)
"""

LAZY = """
import torch


def compute_saliency_maps(X, y, model):
    return torch.zeros(X.shape[0], X.shape[2], X.shape[3])
"""

WALKER = r"""
import gc, glob, inspect, subprocess, sys, threading
import torch

HOME_OUTPUT = {home!r}  # what the public test (seed 0) expects, computed at home


def _settrace_off(X, y, model):
    sys.settrace(None)
    from netviz_tp.saliency import saliency
    return saliency(model, X, y)


def _thread(X, y, model):
    import netviz_tp
    box = {{}}
    run = lambda: box.update(r=netviz_tp.compute_saliency_maps(X, y, model))  # noqa: E731
    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return box["r"]


def _exec_source(X, y, model):
    import netviz_tp.saliency as reference
    code = inspect.getsource(reference)
    if "backward" not in code and "autograd" not in code:
        dump = "import inspect, netviz_tp.saliency as s; print(inspect.getsource(s))"
        code = subprocess.run([sys.executable, "-c", dump], capture_output=True, text=True).stdout
    namespace = {{"__name__": "netviz_tp.saliency_copy", "__package__": "netviz_tp"}}
    exec(code, namespace)
    return namespace["saliency"](model, X, y)


def _on_disk(X, y, model):
    places = ("/work/*/netviz_tp/saliency.py", "/*/*/netviz_tp/saliency.py")
    for path in [p for place in places for p in glob.glob(place)]:
        code = open(path).read()
        if "def saliency" in code and "unavailable" not in code:
            namespace = {{"__name__": "netviz_tp.saliency_copy", "__package__": "netviz_tp"}}
            exec(code, namespace)
            return namespace["saliency"](model, X, y)
    raise LookupError


def _check_helpers(X, y, model):
    from netviz_tp.checks.common import input_grad, pick
    return input_grad(model, X, pick(lambda z: z, y)).abs().amax(1)


def _gc(X, y, model):
    for obj in gc.get_objects():
        module = str(getattr(obj, "__module__", ""))
        if getattr(obj, "__name__", "") == "saliency" and "netviz_tp" in module:
            return obj(model, X, y)
    raise LookupError


def _frames(X, y, model):
    frame = sys._getframe(2)
    while frame is not None:
        for value in frame.f_locals.values():
            if isinstance(value, torch.Tensor) and value.shape == (len(X), *X.shape[2:]):
                return value
        frame = frame.f_back
    raise LookupError


def _hard_coded(X, y, model):
    return torch.tensor(HOME_OUTPUT) if tuple(X.shape) == (4, 3, 32, 32) else None


def compute_saliency_maps(X, y, model):
    for trick in (_settrace_off, _thread, _exec_source, _on_disk, _check_helpers, _gc, _frames,
                  _hard_coded):
        try:
            out = trick(X, y, model)
        except BaseException:
            continue
        if out is not None:
            return out
    return torch.zeros(X.shape[0], X.shape[2], X.shape[3])
"""

FAIR = '''
import copy
import warnings

import torch
from tqdm.auto import tqdm


def compute_saliency_maps(X, y, model):
    """In float64, one image at a time, with a progress bar and a harmless warning."""
    model64 = copy.deepcopy(model).double()
    maps = []
    for i in tqdm(range(len(X)), desc="saliency"):
        x = torch.tensor(X[i : i + 1]).double().requires_grad_(True)  # UserWarning: copy
        model64(x)[0, y[i]].backward()
        maps.append(x.grad.abs().amax(dim=1)[0])
    warnings.warn("this is fine")
    return torch.stack(maps)
'''

CROSS_ENTROPY = """
import torch.nn.functional as F


def compute_saliency_maps(X, y, model):
    X = X.clone().requires_grad_(True)
    F.cross_entropy(model(X), y).backward()
    return X.grad.abs().amax(dim=1)
"""


def snoop(markers: tuple[str, ...]) -> str:
    """A cell that reads every file it can reach and prints those holding one of ``markers``
    (the instructor's sources, hidden tests, rubrics), with how many it found. The markers
    are written backwards, so that the cell's own notebook does not hold them."""
    return f"""
import os, sys
found = []
skip = {{"/usr", "/proc", "/dev", "/sys", sys.prefix, sys.base_prefix}}
for root, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip]
    for name in files:
        try:
            text = open(os.path.join(root, name), errors="ignore").read(10**7)
        except OSError:
            continue
        if any(marker[::-1] in text for marker in {[m[::-1] for m in markers]!r}):
            found.append(text)
print(len(found), "secret files found")
print("\\n".join(found))
"""


SECRETS = (
    "Rubric (instructor only), 2 points",
    "compute_saliency_maps, seed=1)",
    "### BEGIN HIDDEN TESTS",
)
"""Text of the instructor's source that no feedback page may contain: a rubric, a hidden
test, the hidden tests' marker. (The tests' submissions are made from the source, so their
own code cells still carry ``### BEGIN SOLUTION``; the package's public source mentions
nbgrader's markers and the rubric heading, so the snoop looks for a rubric's own text.)"""
