"""Input gradients: ``input_gradient(forward, x, objective) -> (d objective(forward(x)).sum() / dx,
forward(x))``, the one gradient step shared by the saliency maps, the attacks and the checks.

Summing the per-image objective keeps images independent: image ``i``'s gradient depends on
image ``i`` only. Gradients are enabled inside (a caller under ``torch.no_grad()`` still gets
them), ``x`` is never modified and the returned tensors are detached.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def input_gradient(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    objective: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradient of ``objective(forward(x)).sum()`` with respect to ``x``, and ``forward(x)``.

    Args:
        forward: usually the model (``x`` pixels -> logits ``[N, K]``); any differentiable map.
        x: the input, e.g. pixels ``[N, C, H, W]``.
        objective: output -> one value per image ``[N]`` (or already a scalar).

    Shape: gradient like ``x``; output as ``forward(x)``, detached.
    Example: ``g, logits = input_gradient(model, x, lambda z: z.gather(1, t[:, None]))``.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = forward(x)
        (grad,) = torch.autograd.grad(objective(out).sum(), x)
    return grad, out.detach()
