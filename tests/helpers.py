"""Oracles and probes shared by the hook-based tests (hooks, saliency, cam)."""

from __future__ import annotations

import torch
from torch import nn


def hook_count(model: nn.Module) -> int:
    """Module hooks of every kind left on any submodule."""
    kinds = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return sum(len(getattr(m, kind)) for m in model.modules() for kind in kinds)


def split_oracle(model, x, t, head, tail):
    """Activation of ``head`` and the gradient of the target logits w.r.t. it, by plain autograd
    on the network cut in two by hand: ``logits = tail(head(normalize(x)))``."""
    with torch.no_grad():
        act = head(model.normalize(x))
    a = act.clone().requires_grad_(True)
    score = tail(a.clone()).gather(1, t[:, None]).sum()  # clone: tail may start in place
    (grad,) = torch.autograd.grad(score, a)
    return act, grad


def vgg16_split_oracle(vgg16, x, t):
    """:func:`split_oracle` at VGG16's last conv, features.28 (an in-place ReLU follows it)."""
    net = vgg16.net

    def tail(a):
        return net.classifier(net.avgpool(net.features[29:](a)).flatten(1))

    return split_oracle(vgg16, x, t, net.features[:29], tail)
