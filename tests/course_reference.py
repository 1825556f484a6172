"""Plain restatements of the course code (RDFIA 3-b / CS231n NetworkVisualization), as oracles.

Written the way the course writes them: on the *normalised* image ``z = (x - mean) / std``,
with the raw network ``model.net`` (no channels-last), ``torch.cat`` jitter, a numpy/scipy
blur and Python's ``random`` for the jitter offsets. The tests compare the package against
these step by step; ``bench/bench_methods.py`` imports this module (through ``sys.path``) to
time the package against the same code, so there is a single restatement.
"""

from __future__ import annotations

import random

import torch
from scipy.ndimage import gaussian_filter1d


def jitter(img: torch.Tensor, ox: int, oy: int) -> torch.Tensor:
    """Roll ``img`` by ``ox`` pixels along W and ``oy`` along H (course helper)."""
    if ox != 0:
        img = torch.cat([img[:, :, :, -ox:], img[:, :, :, :-ox]], dim=3)
    if oy != 0:
        img = torch.cat([img[:, :, -oy:], img[:, :, :-oy]], dim=2)
    return img


def blur_image(img: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Separable Gaussian blur through numpy and scipy (course helper)."""
    arr = img.cpu().clone().numpy()
    arr = gaussian_filter1d(arr, sigma, axis=2)
    arr = gaussian_filter1d(arr, sigma, axis=3)
    return torch.from_numpy(arr).to(img)


def create_class_visualization(
    target_y: int,
    net: torch.nn.Module,
    mean,
    std,
    init_z: torch.Tensor,
    rng: random.Random,
    *,
    l2_reg: float = 1e-3,
    learning_rate: float = 5.0,
    num_iterations: int = 200,
    blur_every: int = 10,
    blur_width: float = 0.5,
    max_jitter: int = 16,
    callback=None,
) -> torch.Tensor:
    """The course loop on the normalised image ``init_z [1, 3, H, W]``; returns ``z``.

    ``mean``, ``std``: the course's ``SQUEEZENET_MEAN`` / ``SQUEEZENET_STD``, float32 numpy
    arrays (the clamp bounds are computed from them in float32, as in the course).
    ``callback(t, z, score)`` after each step, with the target score before the update.
    """
    img = init_z.clone()
    for t in range(num_iterations):
        ox, oy = rng.randint(0, max_jitter), rng.randint(0, max_jitter)
        img = jitter(img, ox, oy).requires_grad_()
        logit = net(img)[0, target_y]
        score = logit - l2_reg * (img.norm() ** 2)  # eq. (3)
        score.backward()
        img = (img + learning_rate * img.grad).detach()  # eq. (4)
        img = jitter(img, -ox, -oy)
        for c in range(3):
            img[:, c].clamp_(float(-mean[c] / std[c]), float((1.0 - mean[c]) / std[c]))
        if t % blur_every == 0:
            img = blur_image(img, sigma=blur_width)
        if callback is not None:
            callback(t, img, logit.detach())
    return img


def compute_saliency_maps(X: torch.Tensor, y: torch.Tensor, net: torch.nn.Module) -> torch.Tensor:
    """The course's saliency: max over RGB of ``|d s_y / dX|`` on the normalised batch ``X``."""
    X = X.clone().requires_grad_()
    scores = net(X).gather(1, y.view(-1, 1)).squeeze(1)
    scores.backward(torch.ones_like(scores))
    return X.grad.abs().amax(dim=1)
