"""Priors of feature visualisation, per image: ``v [N, C, H, W] -> v`` (jitter, blur, L2).

The implicit regularisers of Yosinski et al. 2015 (random jitter, Gaussian blur) and the
L2 term of eq. (3), each with one setting for the whole batch (exactly the course's
operation) and with one setting per image, for batches of visualisations that each carry
their own settings (:func:`netviz_tp.featviz.class_visualization`, :mod:`netviz_tp.sweep`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def jitter(v: torch.Tensor, ox: int, oy: int) -> torch.Tensor:
    """Roll ``v [N, C, H, W]`` circularly by ``ox`` pixels along W and ``oy`` along H.

    Equal to the course's ``jitter(X, ox, oy)`` (two ``torch.cat``); negative offsets undo it.
    """
    return torch.roll(v, shifts=(oy, ox), dims=(2, 3)) if ox or oy else v


def jitter_each(
    v: torch.Tensor, offsets: Sequence[tuple[int, int]], *, undo: bool = False
) -> torch.Tensor:
    """Roll image ``i`` of ``v [N, C, H, W]`` by ``offsets[i] = (ox, oy)`` (``undo``: back).

    One roll of the whole batch when all offsets are equal, else one per image (a roll is
    a copy, cheap beside the network's pass).
    """
    sign = -1 if undo else 1
    if all(o == offsets[0] for o in offsets):
        return jitter(v, sign * offsets[0][0], sign * offsets[0][1])
    rolled = [jitter(v[i : i + 1], sign * ox, sign * oy) for i, (ox, oy) in enumerate(offsets)]
    return torch.cat(rolled)


def gaussian_blur(v: torch.Tensor, sigma: float, *, truncate: float = 4.0) -> torch.Tensor:
    """Separable Gaussian blur along H then W, equal to the course's ``blur_image``.

    Reference: the course blurs with ``scipy.ndimage.gaussian_filter1d`` on axis 2 then 3;
    this is the same filter in torch on ``v``'s device: kernel radius ``int(truncate * sigma
    + 0.5)``, half-sample symmetric borders (scipy's ``mode="reflect"``), each pass summed in
    float64 and rounded to ``v``'s dtype like scipy's.

    Args: sigma: the standard deviation in pixels (> 0); truncate: kernel half-width in sigmas.
    Shape: ``v [N, C, H, W]`` -> the same shape and dtype.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64, device=v.device)
    weights = torch.exp(-0.5 / (sigma * sigma) * offsets**2)
    weights = (weights / weights.sum()).tolist()
    for dim in (2, 3):
        v = _correlate(v, weights, dim)
    return v


def _correlate(v: torch.Tensor, weights: list[float], dim: int) -> torch.Tensor:
    """Correlate ``v`` along ``dim`` with an odd-length kernel, half-sample symmetric borders."""
    n, radius = v.shape[dim], len(weights) // 2
    index = torch.arange(-radius, n + radius, device=v.device) % (2 * n)
    index = torch.where(index < n, index, 2 * n - 1 - index)  # ... c b a | a b c ... c | c b ...
    padded = v.index_select(dim, index).double()
    out = sum(w * padded.narrow(dim, k, n) for k, w in enumerate(weights))
    return out.to(v.dtype)


def blur_each(v: torch.Tensor, sigmas: Sequence[float]) -> torch.Tensor:
    """Blur image ``i`` of ``v [N, C, H, W]`` with ``sigmas[i]`` (``0``: leave it as is).

    One :func:`gaussian_blur` per distinct sigma, on the images that share it (the blur of
    an image does not depend on the others: the result is the same as one image at a time).
    """
    if len(set(sigmas)) == 1:
        return gaussian_blur(v, sigmas[0]) if sigmas[0] > 0 else v
    out = v.clone()
    for sigma in set(sigmas) - {0}:
        rows = torch.tensor([i for i, s in enumerate(sigmas) if s == sigma], device=v.device)
        out.index_copy_(0, rows, gaussian_blur(v.index_select(0, rows), sigma))
    return out


def l2_penalty(v: torch.Tensor, l2: float | torch.Tensor) -> torch.Tensor:
    """The regulariser of eq. (3), ``sum_i l2_i ||v_i||^2`` over the batch ``v [N, C, H, W]``.

    ``l2``: one weight for every image (a float: ``l2 * ||v||^2``, the course's expression)
    or one per image (a tensor ``[N]``). Differentiated by autograd like the course's, not
    as ``2 * l2 * v``: the two differ in the last bit, and on SqueezeNet the loop is chaotic:
    measured, a last-bit difference grows to a visibly different image within 2 to 10 steps.
    """
    if isinstance(l2, torch.Tensor):
        return (l2.to(v).reshape(-1) * v.flatten(1).norm(dim=1) ** 2).sum()
    return l2 * v.norm() ** 2
