"""Occlusion: ``(model, x [N,C,H,W] in [0,1], target [N]) -> OcclusionResult``: what covering
the Grad-CAM region does to the target's probability, against random regions of the same area.

The experiment of the "CNN Visualizer" thesis (seed 002, Sec. 6.2.1): cover the region that
Grad-CAM marks as important for the class with a neutral colour and see whether the network
changes its mind; covering a random region of the same area is the control.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .cam import grad_cam
from .validate import checked


@dataclass(frozen=True)
class OcclusionResult:
    """One entry per image.

    Shape: ``mask``, ``control_mask`` bool ``[N, H, W]`` (the Grad-CAM region and the first
    random region); ``x_occluded``, ``x_control`` ``[N, C, H, W]`` in ``[0, 1]``; ``area``
    ``[N]``, the covered fraction of the image; ``prob``, ``prob_occluded`` ``[N]``, the
    target's softmax probability before and after covering the Grad-CAM region;
    ``prob_control`` ``[N]`` the same averaged over the random regions; ``pred``,
    ``pred_occluded``, ``pred_control`` long ``[N]`` the top-1 classes (the control's for the
    first random region); ``control_overlap`` ``[N]`` the fraction of the random regions that
    falls inside the Grad-CAM region (on average).
    """

    mask: torch.Tensor
    control_mask: torch.Tensor
    x_occluded: torch.Tensor
    x_control: torch.Tensor
    area: torch.Tensor
    prob: torch.Tensor
    prob_occluded: torch.Tensor
    prob_control: torch.Tensor
    pred: torch.Tensor
    pred_occluded: torch.Tensor
    pred_control: torch.Tensor
    control_overlap: torch.Tensor

    @property
    def drop(self) -> torch.Tensor:
        """How much covering the Grad-CAM region lowers the target's probability ``[N]``."""
        return self.prob - self.prob_occluded

    @property
    def control_drop(self) -> torch.Tensor:
        """How much a random region of the same area lowers it, on average ``[N]``."""
        return self.prob - self.prob_control

    @property
    def beats_control(self) -> torch.Tensor:
        """bool ``[N]``: the Grad-CAM region matters more than a random one."""
        return self.drop > self.control_drop


def cam_region(model: nn.Module, x: torch.Tensor, target, *, threshold=0.5, layer=None):
    """The pixels where the Grad-CAM map reaches ``threshold`` times its maximum.

    Shape: ``x [N, C, H, W]`` -> bool ``[N, H, W]``; an all-zero map (no positive evidence)
    gives an empty region.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold is a fraction of the map's maximum in (0, 1], got {threshold}")
    heat = grad_cam(model, x, target, layer=layer)
    peak = heat.flatten(1).amax(1)[:, None, None]
    return (heat >= threshold * peak) & (peak > 0)


def random_regions(mask: torch.Tensor, n: int, *, seed: int = 0) -> torch.Tensor:
    """``n`` random regions per image, each the image's region moved by a random offset.

    A circular shift by an offset drawn uniformly over the image keeps the area exactly and
    the shape too (a piece that leaves one edge comes back at the opposite one), so the
    control differs from the Grad-CAM region by its place only: the same compact blob lands
    anywhere, object included. Scattered pixels of the same count would instead test
    how the network reacts to salt-and-pepper noise, not to a missing part.

    Shape: ``mask [N, H, W]`` bool -> ``[n, N, H, W]`` bool, reproducible for a ``seed``.
    """
    gen = torch.Generator().manual_seed(seed)
    side_h, side_w = mask.shape[-2:]
    shifts = torch.stack(
        [torch.randint(side_h, (n, len(mask)), generator=gen),
         torch.randint(side_w, (n, len(mask)), generator=gen)], dim=-1,
    )  # fmt: skip
    return torch.stack(
        [
            torch.stack(
                [m.roll(tuple(s.tolist()), dims=(0, 1)) for m, s in zip(mask, row, strict=True)]
            )
            for row in shifts
        ]
    )


def occlude(x: torch.Tensor, mask: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """``x`` with the pixels of ``mask`` set to ``fill`` (a colour ``[C]`` or ``[N, C]``).

    Shape: ``x [N, C, H, W]``, ``mask [N, H, W]`` bool -> ``[N, C, H, W]``; ``x`` is unchanged.
    """
    colour = fill.to(x).reshape(-1, x.shape[1], 1, 1).expand_as(x)
    return torch.where(mask[:, None].to(x.device), colour, x)


def occlusion_experiment(
    model: nn.Module,
    x: torch.Tensor,
    target,
    *,
    threshold: float = 0.5,
    fill: str | float = "mean",
    n_random: int = 8,
    seed: int = 0,
    layer=None,
) -> OcclusionResult:
    """Cover the Grad-CAM region of ``target``, and random regions of the same area.

    Args:
        model: a frozen classifier in eval mode.
        x: pixels in ``[0, 1]``.
        target: the class whose region is covered and whose probability is measured (usually
            the true label), one for all images or one per image.
        threshold: the region is where Grad-CAM reaches this fraction of its maximum (0.5).
        fill: ``"mean"`` (default): the model's normalisation mean, the colour the network
            sees as zero input, so the covered pixels carry no signal (ImageNet's mean
            colour for ImageNet models, the mean grey for MNIST); ``"image"``: each image's
            own mean colour; or a grey level in ``[0, 1]``.
        n_random: how many random regions (:func:`random_regions`) are averaged per image.
        seed: seed of the random regions.
        layer: Grad-CAM's layer (default: its own).

    Reference: "CNN Visualizer" thesis (seed 002), Sec. 6.2.1; Zeiler & Fergus 2014
    (arXiv:1311.2901) slide a grey square instead.

    Shape: ``x [N, C, H, W]`` -> OcclusionResult (on the CPU).

    Example:
        >>> r = occlusion_experiment(model, x, y)
        >>> r.drop.mean(), r.control_drop.mean(), r.beats_control.sum()
    """
    x, t = checked(model, x, target)
    if isinstance(n_random, bool) or not isinstance(n_random, int) or n_random < 1:
        raise ValueError(f"n_random must be a positive int, got {n_random!r}")
    colour = _fill(model, x, fill)
    mask = cam_region(model, x, t, threshold=threshold, layer=layer).cpu()
    controls = random_regions(mask, n_random, seed=seed)
    prob, pred = _probs(model, x, t)
    x_occluded = occlude(x, mask, colour)
    prob_occluded, pred_occluded = _probs(model, x_occluded, t)
    x_control = occlude(x, controls[0], colour)
    runs = [_probs(model, occlude(x, c, colour), t) for c in controls]
    overlap = (controls & mask).flatten(2).sum(2) / mask.flatten(1).sum(1).clamp(min=1)
    return OcclusionResult(
        mask=mask, control_mask=controls[0], x_occluded=x_occluded.cpu(),
        x_control=x_control.cpu(), area=mask.flatten(1).float().mean(1), prob=prob, pred=pred,
        prob_occluded=prob_occluded, pred_occluded=pred_occluded,
        prob_control=torch.stack([p for p, _ in runs]).mean(0), pred_control=runs[0][1],
        control_overlap=overlap.float().mean(0),
    )  # fmt: skip


def _fill(model, x, fill) -> torch.Tensor:
    """The fill colour: ``[C]`` or ``[N, C]``."""
    if fill == "mean":
        mean = getattr(model, "mean", None)
        if mean is None:
            raise ValueError("fill='mean' needs a model from load_model (it knows its mean)")
        return mean.flatten()
    if fill == "image":
        return x.mean(dim=(2, 3))
    if isinstance(fill, (int, float)) and not isinstance(fill, bool) and 0 <= fill <= 1:
        return torch.full((x.shape[1],), float(fill))
    raise ValueError(f"fill must be 'mean', 'image' or a grey level in [0, 1], got {fill!r}")


def _probs(model, x, t, batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The target's probability and the top-1 class of each image, on the CPU."""
    with torch.no_grad():
        probs = torch.cat([model(b).softmax(1) for b in x.split(batch_size)])
    return probs.gather(1, t[:, None])[:, 0].cpu(), probs.argmax(1).cpu()
