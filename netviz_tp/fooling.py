"""Fooling-rate measure (seed 000, Fig. 3): ``(model, x, V [K,C,H,W], classes) -> FoolingCurve``.

A visualisation ``V`` of class ``k`` (``max |V| = 1``) is added to natural images as a
universal perturbation, ``clamp(x + e * V / 255)`` for e = 1..35 grey levels (L-inf), and
we count how often the prediction leaves the clean prediction (untargeted fooling rate, the
paper's) and how often it becomes class ``k`` (targeted hit rate, which the paper does not
report), averaged over the classes and the images. References to read the curves against:
random sign noise of the same L-inf (the floor) and a universal perturbation trained on other
images (:func:`universal_references`, what an optimiser reaches).

Reference: Karagounis (seed 000), Sec. IV: fooling rate 0.30 at e = 10 and 0.945 at e = 35
on VGG16 and the NIPS 2017 competition images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .attacks import fooling_and_hit_rates, universal_perturbation
from .featviz import class_visualization
from .validate import as_target, check_images, check_model, device_of

E_RANGE = tuple(range(1, 36))
"""The paper's coefficients: the largest pixel change, in grey levels (/255)."""


@dataclass(frozen=True)
class FoolingCurve:
    """Rates at each coefficient ``e``, averaged over classes and images.

    ``fooling [len(e)]``: prediction != clean prediction; ``hit [len(e)]``: prediction ==
    the visualised class; ``per_class_fooling``, ``per_class_hit`` ``[K, len(e)]``;
    ``name`` of the perturbations (e.g. "generator"), ``model`` the classifier's name.
    """

    name: str
    model: str
    e: tuple[float, ...]
    fooling: tuple[float, ...]
    hit: tuple[float, ...]
    per_class_fooling: torch.Tensor
    per_class_hit: torch.Tensor

    def at(self, e: float) -> tuple[float, float]:
        """``(fooling rate, hit rate)`` at coefficient ``e`` (one of ``self.e``)."""
        if e not in self.e:
            raise ValueError(f"e={e} was not measured; measured: {list(self.e)}")
        i = self.e.index(e)
        return self.fooling[i], self.hit[i]


def as_perturbation(images: torch.Tensor) -> torch.Tensor:
    """Images in ``[0, 1]`` -> perturbations ``V = (2x - 1) / max|2x - 1|`` per image, so
    ``max |V| = 1`` (a generator's ``tanh`` output rescaled; a flat grey image gives 0).

    Shape: ``[K, C, H, W]`` -> the same.
    """
    v = check_images(images) * 2 - 1
    peak = v.abs().amax(dim=(1, 2, 3), keepdim=True)
    return v / torch.where(peak > 0, peak, torch.ones_like(peak))


def sign_noise(like: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Random signs ``+-1`` shaped like ``like`` (the floor: same L-inf, no structure)."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, like.shape, generator=gen) * 2 - 1).float().to(like.device)


def shuffled(perturbations: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Each perturbation with its pixel positions shuffled (the same permutation for every
    channel): the same values, hence the same L-inf and L2 norms, but no spatial structure;
    a stricter floor than sign noise, which has the largest L2 norm an L-inf budget allows.

    Shape: ``V [K, C, H, W]`` -> the same.
    """
    k, c, h, w = perturbations.shape
    gen = torch.Generator().manual_seed(seed)
    order = torch.stack([torch.randperm(h * w, generator=gen) for _ in range(k)])
    flat = perturbations.reshape(k, c, h * w)
    index = order[:, None].expand(-1, c, -1).to(perturbations.device)
    return flat.gather(2, index).reshape(k, c, h, w)


def check_coefficients(e: Sequence[float]) -> tuple[float, ...]:
    """The coefficients, checked: a non-empty sequence of numbers in ``(0, 255]``."""
    values = tuple(e) if isinstance(e, Sequence) else (e,)
    bad = [v for v in values if not isinstance(v, (int, float)) or not 0 < v <= 255]
    if not values or bad or any(isinstance(v, bool) or math.isnan(v) for v in values):
        raise ValueError(
            f"e must be grey levels in (0, 255] (the paper's 1..35), got {list(values)}"
        )
    return values


def fooling_curve(model, x, perturbations, classes, *, e=E_RANGE, name="") -> FoolingCurve:
    """The fooling rate and the targeted hit rate of each class's perturbation at each ``e``.

    Args:
        model: a frozen classifier in eval mode.
        x: natural images the perturbations were not made from, ``[N, C, H, W]`` in [0, 1].
        perturbations: ``V [K, C, H, W]`` with ``max |V| <= 1`` (see :func:`as_perturbation`).
        classes: the class each perturbation visualises, ``[K]`` (ids or names).
        e: coefficients in grey levels (default 1..35).
        name: a label for the plots.

    Shape: -> :class:`FoolingCurve` with rates of length ``len(e)``.
    Example: ``fooling_curve(model, data.x, as_perturbation(g.images(size=224)), g.units)``.
    Used in: solutions/05_generators.
    """
    check_model(model)
    x = check_images(x, model)
    e = check_coefficients(e)
    if not isinstance(perturbations, torch.Tensor) or perturbations.dim() != 4:
        raise TypeError("perturbations must be a tensor V [K, C, H, W] with max|V| <= 1")
    if perturbations.abs().max() > 1 + 1e-6:
        raise ValueError(
            f"perturbations must satisfy max|V| <= 1, got {perturbations.abs().max():.3g}; "
            "rescale them with as_perturbation(images) (or V / V.abs().max())"
        )
    classes = as_target(classes, len(perturbations), model)
    with torch.no_grad():
        clean = model(x).argmax(dim=1)
    rows = [
        fooling_and_hit_rates(model, x, v[None] / 255, e, int(c), clean=clean)
        for v, c in zip(perturbations.to(x.device), classes, strict=True)
    ]
    fooling = torch.tensor([r[0] for r in rows])
    hit = torch.tensor([r[1] for r in rows])
    return FoolingCurve(
        name,
        getattr(model, "name", type(model).__name__),
        e,
        tuple(fooling.mean(0).tolist()),
        tuple(hit.mean(0).tolist()),
        fooling,
        hit,
    )


def class_hits(model, x: torch.Tensor, classes) -> torch.Tensor:
    """Whether each image is classified as its class (a visualisation "reaches" its class).

    Shape: ``x [K, C, H, W]`` (resized by the caller to the model's input), ``classes [K]``
    -> bool ``[K]``.
    """
    x = check_images(x, model)
    with torch.no_grad():
        return model(x).argmax(dim=1) == as_target(classes, len(x), model)


def gradient_ascent_references(model, classes, *, steps=100, seed=0, preset="pixels"):
    """Practical 3's class visualisations (``featviz``, default preset "pixels") as
    perturbations; ``preset`` any of :func:`class_visualization`'s (e.g. without regularisers).

    Shape: ``classes [K]`` -> ``V [K, C, S, S]`` with ``max |V| = 1`` (S: the model's input).
    """
    targets = list(as_target(classes, _count(classes)).tolist())
    res = class_visualization(model, targets, preset=preset, steps=steps, seed=seed)
    return as_perturbation(res.x)


def universal_references(model, x_train, classes, *, eps=10 / 255, steps=30, lr=1 / 255):
    """One targeted universal perturbation per class, trained on ``x_train`` (keep the images
    you measure on out of it), rescaled to ``max |V| = 1``.

    Shape: ``x_train [M, C, H, W]``, ``classes [K]`` -> ``V [K, C, H, W]``.
    """
    targets = as_target(classes, _count(classes)).tolist()
    deltas = [
        universal_perturbation(model, x_train, c, eps=eps, steps=steps, lr=lr) for c in targets
    ]
    return torch.cat(deltas).to(device_of(model)) / eps


def _count(classes) -> int:
    if isinstance(classes, torch.Tensor):
        return max(classes.numel(), 1)
    return len(classes) if isinstance(classes, (list, tuple, range)) else 1
