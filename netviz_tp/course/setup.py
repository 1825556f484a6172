"""Notebook setup: ``setup() -> Budget`` (device, iteration counts, cache, seed), Colab or local.

Every notebook's setup cell runs ``from netviz_tp.course.setup import setup``: this module
imports only the standard library (and torch when :func:`setup` runs), never the
instructor's ``[course]`` dependencies. The repository URL lives here and only here
(:data:`REPO_URL`): the Open-in-Colab badges and the install line of every setup cell are
generated from it (:func:`badge`, :func:`bootstrap_code`; the install line pins the kit's
version, :data:`RELEASE_TAG`), and ``netviz_tp.course.release`` stamps them into the sources
and checks that they match. On Colab
(:func:`netviz_tp.settings.in_colab`) the setup cell pip-installs the kit from the
repository; elsewhere nothing is installed. The budget sizes every knob of a notebook's
``parameters`` cell: ``NETVIZ_TP_FAST=1`` (CI, grading) gives tiny values, a machine without
GPU reduced ones, a GPU the course's values.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass

from .. import __version__, settings
from ..settings import in_colab

REPO_URL = "https://github.com/netviz-tp/netviz-tp"
"""The kit's public repository: badges and the Colab install line are generated from it.
An instructor who forks the kit changes this line only, then runs ``netviz-tp build``."""

BRANCH = "main"  # what the badges open: the current release notebooks
RELEASE_TAG = f"v{__version__}"
"""The git tag of this version: released notebooks install the kit at this tag, so that a
notebook handed out in September keeps running the September kit whatever main becomes."""
PIP_SPEC = f"netviz-tp @ git+{REPO_URL}@{RELEASE_TAG}"
COLAB_BADGE_SVG = "https://colab.research.google.com/assets/colab-badge.svg"


def colab_url(notebook_path: str) -> str:
    """The Colab address that opens ``notebook_path`` (relative to the repository root)."""
    repo = REPO_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{repo}/blob/{BRANCH}/{notebook_path}"


def badge(notebook_path: str) -> str:
    """The Open-in-Colab badge (markdown) of the release notebook ``notebook_path``."""
    return f"[![Open In Colab]({COLAB_BADGE_SVG})]({colab_url(notebook_path)})"


def bootstrap_code() -> str:
    """The first lines of every setup cell: install the kit on Colab only (once per session).

    They run before ``netviz_tp`` can be imported, so they are plain Python; the release
    check makes sure every notebook carries exactly these lines.
    """
    return (
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:  # on Colab only: install the kit (once per session)\n'
        "    import subprocess\n"
        "\n"
        f'    KIT = "{PIP_SPEC}"\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", KIT], check=True)'
    )


@dataclass(frozen=True)
class Budget:
    """Default sizes of a notebook's knobs for the machine it runs on.

    ``mode`` is "fast" (``NETVIZ_TP_FAST=1``: CI and grading), "cpu" (no GPU: reduced) or
    "gpu" (the course's values). ``vgg16_weights`` is None in fast mode only: CI and grading
    machines are offline, and a notebook then says loudly that VGG16 has random weights.
    """

    mode: str
    device: str
    n_images: int  # course images shown per figure
    smoothgrad_samples: int
    fool_max_iter: int  # the course's 100 steps at most
    attack_steps: int  # PGD steps
    n_attack_images: int  # images attacked by FGSM / PGD
    vis_steps: int  # class visualisation steps (course: 200)
    n_vis_classes: int
    sweep_steps: int  # steps of each run of the Q9 sweeps
    vgg_steps: int  # class visualisation steps with VGG16 (slow on CPU)
    n_class_images: int  # course images split by class (average activations, classes mode)
    occlusion_random: int  # random regions per image in the occlusion experiment
    mnist_epochs: int  # training epochs of the MNIST network (the kit's checkpoint: 10)
    n_digits: int  # held-out MNIST digits attacked and compared
    vgg16_weights: str | None

    def as_dict(self) -> dict:
        return asdict(self)


_SIZES = {
    #         n_img sg  fool atk n_atk vis n_cls sweep vgg  cls_img occ mnist digits
    "fast": (2, 2, 20, 3, 2, 4, 1, 2, 2, 4, 1, 1, 20),
    "cpu": (5, 10, 100, 10, 5, 100, 3, 40, 20, 25, 4, 10, 300),
    "gpu": (5, 25, 100, 20, 10, 200, 5, 200, 200, 25, 8, 10, 1000),
}


def budget(*, fast: bool | None = None, gpu: bool | None = None) -> Budget:
    """The budget for this machine: ``fast`` defaults to :func:`netviz_tp.settings.fast`
    (``NETVIZ_TP_FAST``), ``gpu`` to ``torch.cuda.is_available()``."""
    if fast is None:
        fast = settings.fast()
    if gpu is None:
        gpu = _has_gpu()
    mode = "fast" if fast else ("gpu" if gpu else "cpu")
    return Budget(mode, "cuda" if gpu else "cpu", *_SIZES[mode], None if fast else "imagenet")


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def setup(*, seed: int = 0, fast: bool | None = None, gpu: bool | None = None) -> Budget:
    """Prepare a notebook: seed everything, point the caches at
    :func:`netviz_tp.settings.cache_dir`, warn about a
    missing GPU, and return the :class:`Budget` that sizes the ``parameters`` cell.

    Prints one status line (and a warning on Colab without GPU).
    """
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    chosen = budget(fast=fast, gpu=gpu)
    cache = settings.cache_dir()
    if in_colab():
        os.environ.setdefault(settings.CACHE, str(cache))
        os.environ.setdefault("TORCH_HOME", str(cache / "torch"))
        if chosen.mode == "cpu":
            print(
                "⚠ No GPU: iteration counts are reduced. For the course's values choose "
                "Runtime > Change runtime type > T4 GPU, then run the notebook again."
            )
    print(
        f"netviz-tp {__version__} | device: {chosen.device} | budget: {chosen.mode} "
        f"({_MODE_NOTE[chosen.mode]}) | cache: {cache}"
    )
    return chosen


_MODE_NOTE = {
    "fast": "tiny sizes for CI and grading",
    "cpu": "reduced sizes, no GPU",
    "gpu": "the course's sizes",
}
