"""attribution: (model, x [N,C,H,W] in [0,1], target [N]) -> heat [N,H,W] >= 0.

Gradient maps. Every method is batched, runs on the model's device, differentiates the
target's logit (pre-softmax score) with respect to the *pixels* ``x``, and leaves ``x`` and
the model as they were. :data:`ATTRIBUTIONS` is the table of the family (read by the
contract test, the widget dropdown and the comparison plot); Grad-CAM lives in
:mod:`netviz_tp.cam`, which does not import this module.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .cam import grad_cam, grad_cam_pp
from .gradients import input_gradient
from .methods import Knob, Method
from .validate import check_images, checked


def saliency(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """Vanilla saliency map: the largest absolute gradient of the target logit over RGB.

    ``heat[i, j] = max_c |d score_target / d x[c, i, j]|`` (Sec. 3.1), one forward and one
    backward pass for the whole batch. The course differentiates with respect to the
    *normalised* input ``z = (x - mean) / std`` instead; since ``d/dz = std * d/dx``, that
    only rescales each channel by its ``std`` (0.229, 0.224, 0.225 for ImageNet, nearly equal).

    Reference: Simonyan, Vedaldi, Zisserman, "Deep Inside Convolutional Networks: Visualising
    Image Classification Models and Saliency Maps", ICLR workshop 2014, arXiv:1312.6034.

    Args:
        model: a frozen classifier in eval mode.
        x: pixels in ``[0, 1]``.
        target: one class for all images or one per image (int, name, list, LongTensor).

    Shape: ``x [N, C, H, W]`` -> heat ``[N, H, W]`` >= 0, on the model's device.

    Example:
        >>> heat = saliency(model, x, y)
        >>> plt.imshow(heat[0].cpu(), cmap="hot")
    """
    x, t = checked(model, x, target)
    return _input_gradient(model, x, t).abs().amax(dim=1)


def smoothgrad(
    model: nn.Module,
    x: torch.Tensor,
    target,
    *,
    n_samples: int = 25,
    noise: float = 0.15,
    seed: int = 0,
    batch_size: int = 32,
) -> torch.Tensor:
    """SmoothGrad: the saliency map of the gradient averaged over noisy copies of the image.

    ``g = 1/n sum_k d score / dx (x + eps_k)``, ``eps_k ~ N(0, sigma^2)`` (the paper's
    definition: the signed gradients are averaged), then ``heat = max_c |g|`` as in
    :func:`saliency`, so ``noise=0`` gives :func:`saliency` exactly. Per image,
    ``sigma = noise * (x.max() - x.min())`` (the paper's "noise level"); noisy copies are not
    clipped to ``[0, 1]``.

    Reference: Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017,
    arXiv:1706.03825.

    Args:
        n_samples: noisy copies per image (default 25; the paper finds little gain past 50).
        noise: noise level as a fraction of each image's value range (paper: 10-20%).
        seed: seeds a ``torch.Generator`` on the model's device. Every image of the batch
            sees the same noise draws, so an image's map does not depend on its batch.
        batch_size: images per forward pass (at least one noisy copy of the whole batch).
        model, x, target: as :func:`saliency`.

    Shape: ``x [N, C, H, W]`` -> heat ``[N, H, W]`` >= 0, on the model's device.
    """
    if n_samples < 1 or noise < 0:
        raise ValueError(f"need n_samples >= 1 and noise >= 0, got {n_samples} and {noise}")
    x, t = checked(model, x, target)
    sigma = noise * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3)))
    gen = torch.Generator(device=x.device).manual_seed(seed)

    def noisy(first: int, k: int) -> torch.Tensor:
        draws = [torch.randn(x.shape[1:], generator=gen, device=x.device) for _ in range(k)]
        eps = torch.stack(draws).to(x.dtype)
        return x + sigma[:, None, None, None] * eps[:, None]

    return _mean_gradient(model, x, t, noisy, n_samples, batch_size).abs().amax(dim=1)


def ig_attributions(
    model: nn.Module,
    x: torch.Tensor,
    target,
    *,
    baseline: torch.Tensor | None = None,
    steps: int = 32,
    batch_size: int = 32,
) -> torch.Tensor:
    """Signed Integrated Gradients attributions, one per pixel and channel.

    ``(x - x') * 1/m sum_k d score / dx (x' + a_k (x - x'))`` with ``a_k = (k - 1/2) / m``:
    the Riemann sum of Eq. 3 at interval midpoints (second-order accurate). Completeness
    (Prop. 1): the attributions sum to about ``score(x) - score(x')``.

    Reference: Sundararajan, Taly, Yan, "Axiomatic Attribution for Deep Networks", ICML 2017,
    arXiv:1703.01365.

    Args:
        baseline: ``x'``, pixels in ``[0, 1]`` of shape ``[1 or N, C, H, W]``; default black.
        steps: ``m``, points on the path (paper: 20 to 300 are enough).
        batch_size: images per forward pass (at least one path point of the whole batch).
        model, x, target: as :func:`saliency`.

    Shape: ``x [N, C, H, W]`` -> attributions ``[N, C, H, W]``, on the model's device.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    x, t = checked(model, x, target)
    start = torch.zeros_like(x) if baseline is None else check_images(baseline, model)
    if start.shape[0] not in (1, len(x)) or start.shape[1:] != x.shape[1:]:
        raise ValueError(
            f"baseline must have shape [1 or N, C, H, W] = {(len(x), *x.shape[1:])}, "
            f"got {tuple(start.shape)}"
        )

    def path(first: int, k: int) -> torch.Tensor:
        alphas = (torch.arange(first, first + k, device=x.device, dtype=x.dtype) + 0.5) / steps
        return start + alphas[:, None, None, None, None] * (x - start)

    return (x - start) * _mean_gradient(model, x, t, path, steps, batch_size)


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target,
    *,
    baseline: torch.Tensor | None = None,
    steps: int = 32,
    batch_size: int = 32,
) -> torch.Tensor:
    """Integrated Gradients heat map: :func:`ig_attributions` summed in absolute value over
    the colour channels (as the paper aggregates them for its figures).

    Reference: Sundararajan, Taly, Yan, "Axiomatic Attribution for Deep Networks", ICML 2017,
    arXiv:1703.01365.

    Args: as :func:`ig_attributions`.

    Shape: ``x [N, C, H, W]`` -> heat ``[N, H, W]`` >= 0, on the model's device.
    """
    attributions = ig_attributions(
        model, x, target, baseline=baseline, steps=steps, batch_size=batch_size
    )
    return attributions.abs().sum(dim=1)


def compute_saliency_maps(X: torch.Tensor, y, model: nn.Module) -> torch.Tensor:
    """Course alias of :func:`saliency`, with the course's argument order ``(X, y, model)``.

    ``X`` holds pixels in ``[0, 1]`` (not the course's normalised tensor: the model
    normalises). Shape: ``X [N, 3, H, W]``, ``y [N]`` -> ``[N, H, W]``.
    """
    return saliency(model, X, y)


ATTRIBUTIONS: dict[str, Method] = {
    "vanilla": Method(saliency),
    "smoothgrad": Method(
        smoothgrad,
        knobs={
            "n_samples": Knob(1, 50, integer=True, control="samples"),
            "noise": Knob(0.0, 0.5, step=0.01),
        },
    ),
    "integrated_gradients": Method(
        integrated_gradients, knobs={"steps": Knob(1, 128, integer=True)}
    ),
    "grad_cam": Method(grad_cam),
    "grad_cam_pp": Method(grad_cam_pp),
}
"""Every attribution method by name (a :class:`~netviz_tp.methods.Method`, called like its
function ``fn(model, x, target, *, knobs) -> heat``). All are deterministic as they are
(SmoothGrad's noise is seeded)."""


def _input_gradient(model: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``d score_t / dx`` for each image: the gradient of the sum of the gathered logits."""
    return input_gradient(model, x, lambda logits: logits.gather(1, t[:, None]))[0]


def _mean_gradient(model, x, t, inputs: Callable[[int, int], torch.Tensor], count, batch_size):
    """Average input gradient over ``count`` variants of the batch ``x [N, C, H, W]``.

    ``inputs(first, k)`` returns variants ``first .. first + k - 1`` as ``[k, N, C, H, W]``;
    ``max(1, batch_size // N)`` variants go through the model at a time.
    """
    n = len(x)
    per_pass = max(1, batch_size // max(n, 1))
    total = torch.zeros_like(x)
    for first in range(0, count, per_pass):
        k = min(per_pass, count - first)
        grad = _input_gradient(model, inputs(first, k).flatten(0, 1), t.repeat(k))
        total += grad.reshape(k, *x.shape).sum(dim=0)
    return total / count
