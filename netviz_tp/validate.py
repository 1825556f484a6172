"""Input checks shared by every method: each raises with the problem and its fix.

Contract: ``check_model(model)``; ``check_images(x, model) -> x`` on the model's device;
``as_target(target, n, model) -> LongTensor[n]`` on the model's device; ``checked(model, x,
target) -> (x, target)``, all three: the prologue of every method.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for an empty module)."""
    for tensor in _tensors(model):
        return tensor.device
    return torch.device("cpu")


def _tensors(model: nn.Module):
    yield from model.parameters()
    yield from model.buffers()


def check_model(model: nn.Module) -> None:
    """Refuse a model in train mode or with trainable weights.

    Methods differentiate the *input*; a train-mode model changes its answer between calls
    (dropout, batch-norm statistics) and trainable weights waste memory on weight gradients.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}; "
            "load one with netviz_tp.load_model('squeezenet1_1')"
        )
    if model.training:
        raise ValueError(
            "the model is in train mode (dropout and batch-norm would change its answers); "
            "wrap it with netviz_tp.load_model(model), which freezes it and calls .eval()"
        )
    if any(p.requires_grad for p in model.parameters()):
        raise ValueError(
            "the model has trainable weights (requires_grad=True); "
            "wrap it with netviz_tp.load_model(model), which freezes it and calls .eval()"
        )


def check_images(x: torch.Tensor, model: nn.Module | None = None) -> torch.Tensor:
    """Check that ``x`` is a float batch ``[N, C, H, W]`` of pixels in ``[0, 1]``.

    Returns ``x`` detached, on the model's device. ``C`` must match ``model.in_channels``
    when the model declares it.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"images must be a torch.Tensor [N, 3, H, W] in [0, 1], got {type(x).__name__}; "
            "convert uint8 arrays with netviz_tp.from_uint8(images)"
        )
    if x.dim() == 3:
        raise ValueError(
            f"images must be a batch [N, C, H, W], got one image of shape {tuple(x.shape)}; "
            "add the batch axis with x[None] or x.unsqueeze(0)"
        )
    if x.dim() != 4:
        raise ValueError(f"images must have shape [N, C, H, W], got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(
            f"images must be floating point in [0, 1], got dtype {x.dtype}; "
            "for uint8 pixels use netviz_tp.from_uint8(images) or x.float() / 255"
        )
    channels = getattr(model, "in_channels", None)
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"the model expects {channels} channels but images have {x.shape[1]} "
            f"(shape {tuple(x.shape)}); images are [N, C, H, W], channels first"
        )
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"pixel values must lie in [0, 1], got [{x.min().item():.3g}, {x.max().item():.3g}]; "
            "pass raw pixels divided by 255: the model normalises its input itself"
        )
    device = device_of(model) if model is not None else x.device
    return x.detach().to(device)


def as_target(target, n: int, model: nn.Module | None = None) -> torch.Tensor:
    """Turn ``target`` into class indices ``LongTensor[n]`` on the model's device.

    ``target`` is one class (int, or a name looked up in ImageNet's classes), one per image
    (a sequence, or a 1-d integer tensor or numpy array of length ``n``), and is checked against
    ``model.num_classes`` when the model declares it.
    """
    if isinstance(target, np.ndarray):
        target = torch.from_numpy(target)
    if isinstance(target, torch.Tensor):
        if target.is_floating_point() or target.is_complex():
            raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
        t = target.detach().long().reshape(-1)
    elif isinstance(target, str) or not isinstance(target, Sequence):
        t = torch.tensor([_one_class(target)])
    else:
        t = torch.tensor([_one_class(c) for c in target], dtype=torch.long)
    if t.numel() == 1 and n != 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(
            f"got {t.numel()} targets for {n} images; give one per image or one for all"
        )
    classes = getattr(model, "num_classes", None)
    if t.numel() and (t.min() < 0 or (classes is not None and t.max() >= classes)):
        bound = f"0..{classes - 1}" if classes is not None else "non-negative"
        raise ValueError(f"target classes must be {bound}, got {t.tolist()}")
    device = device_of(model) if model is not None else torch.device("cpu")
    return t.to(device)


def _one_class(c) -> int:
    if isinstance(c, str):
        from .data import class_index  # the name table lives with the data

        return class_index(c)
    if isinstance(c, bool) or not hasattr(c, "__index__"):
        raise TypeError(f"a target class must be an int or a class name, got {c!r}")
    return int(c)


def checked(model: nn.Module, x: torch.Tensor, target) -> tuple[torch.Tensor, torch.Tensor]:
    """The prologue of every method ``fn(model, x, target)``: check the model, the images and
    the targets; returns ``(x, target)`` as ``[N, C, H, W]`` pixels and ``LongTensor[N]`` on
    the model's device."""
    check_model(model)
    x = check_images(x, model)
    return x, as_target(target, len(x), model)
