"""Hooks: ``capture(model, layers, *, grads=False)`` records layer outputs (and their gradients).

The hooks are always removed when the ``with`` block ends, even on error (pytorch-grad-cam
#132, #483). Gradients come from tensor hooks on the captured outputs rather than from module
backward hooks, which break on in-place ReLU as in SqueezeNet and VGG (pytorch-grad-cam #148).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class Recording:
    """What :func:`capture` saw: layer name -> output activation, and -> gradient of that output.

    ``activations[name]`` is the layer's own output (later in-place operations such as
    ``ReLU(inplace=True)`` do not alter it), still attached to the autograd graph.
    ``gradients[name]`` appears once a backward pass reaches that output.
    """

    activations: dict[str, torch.Tensor] = field(default_factory=dict)
    gradients: dict[str, torch.Tensor] = field(default_factory=dict)


@contextmanager
def capture(model: nn.Module, layers, *, grads: bool = False) -> Iterator[Recording]:
    """Record the outputs of some layers (and, with ``grads=True``, their gradients).

    Args:
        model: a :class:`~netviz_tp.models.Classifier` (names as in ``model.layers``) or any
            module (names as in ``model.named_modules()``).
        layers: one layer or a sequence of layers, each a name or a submodule of ``model``.
        grads: also record ``d(whatever is backpropagated) / d(output)`` for each layer. When
            nothing upstream of a layer requires a gradient (frozen weights, plain input), its
            output is made a leaf that does, so gradients exist (pytorch-grad-cam #80).

    Yields a :class:`Recording`, filled by each forward (and backward) pass inside the block;
    when a layer runs several times in one pass, the last call wins. Each captured layer hands
    a copy of its output to the rest of the network, so the recording keeps the layer's own
    values even when the next module works in place.

    Example:
        >>> with capture(model, "features.12", grads=True) as rec:
        ...     model(x)[:, 281].sum().backward()
        >>> rec.activations["features.12"].shape, rec.gradients["features.12"].shape
    """
    recording = Recording()
    handles = []
    try:
        for name, module in _resolve(model, layers).items():
            handles.append(module.register_forward_hook(_recorder(recording, name, grads)))
        yield recording
    finally:
        for handle in handles:
            handle.remove()


def _recorder(recording: Recording, name: str, grads: bool):
    def hook(module: nn.Module, inputs, output):
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"layer {name!r} returns {type(output).__name__}, not a tensor; "
                "capture a layer whose output is a single tensor"
            )
        if grads and torch.is_grad_enabled() and not output.requires_grad:
            output = output.detach().requires_grad_(True)
        recording.activations[name] = output
        if grads and output.requires_grad:
            output.register_hook(lambda grad: recording.gradients.__setitem__(name, grad))
        return output.clone()

    return hook


def _resolve(model: nn.Module, layers) -> dict[str, nn.Module]:
    """Map each requested layer (a name or a module) to ``{name: module}``, in request order."""
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    if not isinstance(layers, Sequence) or not layers:
        raise TypeError(
            f"layers must be a layer name, a module, or a non-empty list, got {layers!r}"
        )
    named = _named_layers(model)
    names_of = {id(module): name for name, module in named.items()}
    resolved = {}
    for layer in layers:
        if isinstance(layer, nn.Module):
            if id(layer) not in names_of:
                raise ValueError(
                    f"{type(layer).__name__} is not a submodule of the model; "
                    "pass one of model.layers (or its name)"
                )
            resolved[names_of[id(layer)]] = layer
        elif hasattr(model, "layer"):
            resolved[layer] = model.layer(layer)
        elif layer in named:
            resolved[layer] = named[layer]
        else:
            raise KeyError(f"the model has no layer {layer!r}; see dict(model.named_modules())")
    return resolved


def _named_layers(model: nn.Module) -> dict[str, nn.Module]:
    if hasattr(model, "layers"):
        return dict(model.layers)
    return {name: module for name, module in model.named_modules() if name}


def last_conv(model: nn.Module) -> str:
    """The name of the model's last ``Conv2d`` in definition order (Grad-CAM's default layer).

    For VGG16 this is ``"features.28"``. For SqueezeNet 1.1 it is the 1000-channel classifier
    convolution ``"classifier.1"``, whose channel ``c`` is the class-``c`` evidence map: there
    Grad-CAM is the CAM of Zhou et al. 2016 for the target, the same map up to that layer's
    bias as Grad-CAM at the last Fire module ``"features.12"``.
    """
    convs = [name for name, module in _named_layers(model).items() if isinstance(module, nn.Conv2d)]
    if not convs:
        raise ValueError(
            f"{type(model).__name__} has no Conv2d layer; pass the layer to explain by name"
        )
    return convs[-1]
