"""Shared fixtures: tiny seeded models for speed, the real offline SqueezeNet for behaviour.

The real assets (see ../shared/assets/README.md) are found through NETVIZ_TP_ASSETS; tests
that need them skip with that reason when it is unset. CI sets it, and sets
NETVIZ_TP_REQUIRE_ASSETS=1 so that a missing asset fails instead of skipping. Helper functions
shared by several test files (oracles, hook probes) are in tests/helpers.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from netviz_tp import settings
from netviz_tp.models import tiny_cnn


def _assets() -> Path:
    root = os.environ.get("NETVIZ_TP_ASSETS")
    if not root:
        if settings.flag("NETVIZ_TP_REQUIRE_ASSETS"):
            pytest.fail("NETVIZ_TP_REQUIRE_ASSETS=1 but NETVIZ_TP_ASSETS is not set")
        pytest.skip("needs the real offline assets: set NETVIZ_TP_ASSETS=../shared/assets")
    path = Path(root)
    if not path.is_dir():
        pytest.fail(f"NETVIZ_TP_ASSETS={root} is not a directory")
    return path


@pytest.fixture(scope="session")
def assets() -> Path:
    """The offline assets folder (skips, with the reason, when NETVIZ_TP_ASSETS is unset)."""
    return _assets()


@pytest.fixture(scope="session")
def squeezenet(assets):
    """The real ImageNet-trained SqueezeNet 1.1 from the assets folder."""
    from netviz_tp.models import load_model

    return load_model("squeezenet1_1")


@pytest.fixture(scope="session")
def course_data(assets):
    """The course's 25 ImageNet validation images (x [25,3,224,224] in [0,1], y [25])."""
    from netviz_tp.data import load_imagenet_val

    return load_imagenet_val()


@pytest.fixture(scope="session")
def recognised(squeezenet, course_data):
    """The course images SqueezeNet classifies correctly (13 of 25), with their labels, on the
    model's device."""
    from netviz_tp.validate import device_of

    device = device_of(squeezenet)
    x, y = course_data.x.to(device), course_data.y.to(device)
    with torch.no_grad():
        right = squeezenet(x).argmax(1) == y
    return x[right], y[right]


@pytest.fixture(scope="module")
def vgg16():
    """VGG16 with random weights on the CPU (its real weights are not available offline)."""
    from netviz_tp.models import load_model

    return load_model("vgg16", weights=None, device="cpu")


@pytest.fixture
def tiny():
    """A tiny seeded 10-class CNN on 3-channel 32x32 pixels."""
    return tiny_cnn(num_classes=10, seed=0)


@pytest.fixture
def images():
    """Four seeded random 32x32 RGB images in [0, 1]."""
    return torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
