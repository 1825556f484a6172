"""Saliency check: ``check_saliency(compute_saliency_maps)`` against the vanilla gradient map."""

from __future__ import annotations

import torch

from .. import saliency
from .common import check_maps, diagnose, failed, input_grad, passed, pick, run_student, tiny_setup

PIXEL_SLACK = 5e-3
"""The fraction of pixels allowed to differ: on a real network, a correct map computed in
float64 or image by image flips a few ReLU / max-pool decisions (222 of 100,352 pixels for
SqueezeNet on two course images); every usual mistake changes nearly all of them."""


def check_saliency(fn, model=None, x=None, y=None, *, seed: int = 0, tol: float = 1e-5) -> None:
    """Check ``fn(X, y, model) -> [N, H, W]`` against :func:`netviz_tp.saliency.saliency`."""
    name = getattr(fn, "__name__", "compute_saliency_maps")
    if model is None:
        model, x = tiny_setup(seed)
    if y is None:
        y = torch.arange(len(x)) % model.num_classes
    y = torch.as_tensor(y).long()
    ref = saliency.saliency(model, x, y)
    x_in = x.clone()
    out = run_student(name, "saliency", fn, x_in, y.to(x.device), model)
    n, _, h, w = x.shape
    if tuple(out.shape) == tuple(x.shape):
        failed(
            name,
            f"expected shape {(n, h, w)}, got {tuple(out.shape)}: did you take the "
            "max over the colour channels (dim=1)?",
        )
    check_maps(name, out, x_in, x)
    out = out.to(ref.device)
    if (out < 0).any():
        failed(name, "the map has negative values: take the absolute value of the gradient")
    mistakes = _mistakes(model, x, y.to(ref.device))
    diagnose(name, out, ref, mistakes, tol, "saliency values", PIXEL_SLACK)
    passed(name, f"shape {tuple(out.shape)}, non-negative, matches the reference within {tol:g}")


def _mistakes(model, x, t) -> list:
    """(diagnosis, map that mistake gives) for the usual saliency mistakes."""
    score = pick(lambda z: z, t)

    def grad(objective=score):
        return input_grad(model, x, objective)

    return [
        (
            "you took the mean over the colour channels: take the max of |gradient| over them",
            lambda: grad().abs().mean(dim=1),
        ),
        (
            "you summed over the colour channels: take the max of |gradient| over them",
            lambda: grad().abs().sum(dim=1),
        ),
        (
            "negative or signed values: take the absolute value of the gradient before the max",
            lambda: grad().amax(dim=1),
        ),
        (
            "you took the absolute value after the max: take max over channels of |gradient|",
            lambda: grad().amax(dim=1).abs(),
        ),
        (
            "you differentiated the softmax probability: use the score (logit) of class y, "
            "before the softmax",
            lambda: grad(pick(lambda z: z.softmax(1), t)).abs().amax(1),
        ),
        (
            "you differentiated a cross-entropy loss instead of the class score: use the score "
            "(logit) of class y, before the softmax",
            lambda: grad(pick(lambda z: z.log_softmax(1), t)).abs().amax(1),
        ),
        (
            "you differentiated a cross-entropy loss (averaged over the batch) instead of the "
            "class score: use the score (logit) of class y, summed over the images",
            lambda: grad(pick(lambda z: z.log_softmax(1), t)).abs().amax(1) / len(x),
        ),
        (
            "you differentiated the sum of all the scores: take only the score of each image's "
            "class y[i] (e.g. scores.gather(1, y.view(-1, 1)))",
            lambda: grad(lambda z: z.sum(1)).abs().amax(1),
        ),
        (
            "you differentiated the score of the predicted class: use the true class y",
            lambda: grad(lambda z: z.max(1).values).abs().amax(1),
        ),
        (
            "you differentiated with respect to the normalised image: differentiate with "
            "respect to the pixels X (the model normalises inside)",
            lambda: (grad() * model.std).abs().amax(1),
        ),
    ]
