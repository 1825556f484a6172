"""attribution: (model, x [N,C,H,W] in [0,1], target [N]) -> heat [N,H,W] >= 0.

Class activation maps: Grad-CAM and its variants share :func:`_class_map`; each variant
supplies only its channel weighting ``(activations, gradients) -> weights [N, K]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .hooks import capture, last_conv
from .validate import checked


def grad_cam(model: nn.Module, x: torch.Tensor, target, *, layer=None) -> torch.Tensor:
    """Grad-CAM: the layer's channels weighted by their spatially averaged gradients.

    ``weights_k = mean_ij d score_target / d A_k[i, j]`` (Eq. 1), ``heat = ReLU(sum_k
    weights_k A_k)`` (Eq. 2), upsampled bilinearly to the input size; the score is the logit.

    Reference: Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization", ICCV 2017, arXiv:1610.02391.

    Args:
        model: a frozen classifier in eval mode.
        x: pixels in ``[0, 1]``.
        target: one class for all images or one per image (int, name, list, LongTensor).
        layer: the layer to explain (name or module); default :func:`~netviz_tp.hooks.last_conv`.

    Shape: ``x [N, C, H, W]`` -> heat ``[N, H, W]`` >= 0, on the model's device.

    Example:
        >>> heat = grad_cam(model, x, "tabby")
        >>> plt.imshow(overlay(x, heat)[0])
    """
    return _class_map(model, x, target, layer, _grad_cam_weights)


def grad_cam_pp(model: nn.Module, x: torch.Tensor, target, *, layer=None) -> torch.Tensor:
    """Grad-CAM++: Grad-CAM with pixel-wise weighted positive gradients.

    ``weights_k = sum_ij a_k[i,j] ReLU(g_k[i,j])`` with ``g = d score / d A`` and
    ``a = g^2 / (2 g^2 + sum_ab A_k[a,b] g^3)``, the paper's closed form for the exponential
    of the score (``a = 0`` where ``g = 0``). Then as :func:`grad_cam`.

    Reference: Chattopadhyay et al., "Grad-CAM++: Improved Visual Explanations for Deep
    Convolutional Networks", WACV 2018, arXiv:1710.11063.

    Args and Shape: as :func:`grad_cam`.
    """
    return _class_map(model, x, target, layer, _grad_cam_pp_weights)


def _grad_cam_weights(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    return grad.mean(dim=(2, 3))


def _grad_cam_pp_weights(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    g2 = grad.pow(2)
    denom = 2 * g2 + act.sum(dim=(2, 3), keepdim=True) * grad.pow(3)
    alpha = torch.where(grad != 0, g2 / torch.where(denom != 0, denom, 1.0), 0.0)
    return (alpha * grad.relu()).sum(dim=(2, 3))


def _class_map(model, x, target, layer, weigh) -> torch.Tensor:
    """Shared Grad-CAM skeleton: capture the layer, backpropagate the target logit, weigh the
    channels with ``weigh(act [N,K,h,w], grad [N,K,h,w]) -> [N,K]``, ReLU, upsample."""
    x, t = checked(model, x, target)
    name = layer if layer is not None else last_conv(model)
    with torch.enable_grad(), capture(model, name, grads=True) as rec:
        model(x).gather(1, t[:, None]).sum().backward()
    if not rec.gradients:
        raise ValueError(f"layer {name!r} did not take part in computing the scores")
    (act,), (grad,) = rec.activations.values(), rec.gradients.values()
    if act.dim() != 4:
        raise ValueError(
            f"Grad-CAM needs a layer with spatial maps [N, K, h, w]; {name!r} gives "
            f"{tuple(act.shape)}; pick a convolutional layer (see model.layers)"
        )
    act = act.detach()
    cam = torch.einsum("nk,nkhw->nhw", weigh(act, grad), act).relu()
    up = F.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)
    return up[:, 0]
