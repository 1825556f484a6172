"""Models: ``load_model(name | nn.Module, weights=...) -> Classifier`` (frozen, eval, normalising).

A :class:`Classifier` takes pixels ``x [N, C, H, W]`` in ``[0, 1]`` and returns logits
``[N, num_classes]``; its input normalisation lives inside, so every method of the package
works on pixels (see :mod:`netviz_tp.image`).
"""

from __future__ import annotations

import difflib

import torch
from torch import nn

from .image import IMAGENET_MEAN, IMAGENET_STD


class Classifier(nn.Module):
    """A frozen classifier in eval mode that normalises its own input.

    Args:
        net: the raw network, taking normalised input.
        mean, std: per-channel normalisation, ``x_net = (x - mean) / std``.
        name: a short name for titles and reports.
        num_classes: the number of logits.
        input_size: the side of the square input the network was trained on.
        channels_last: run convolutions in channels-last memory format (faster on CPU).

    Shape: ``x [N, C, H, W]`` in ``[0, 1]`` -> logits ``[N, num_classes]``.
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        name: str = "model",
        num_classes: int = 1000,
        input_size: int = 224,
        channels_last: bool = True,
    ):
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean and std need one value per channel, got {mean} and {std}")
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.name = name
        self.num_classes = num_classes
        self.input_size = input_size
        self.in_channels = len(mean)
        self.channels_last = channels_last
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels in ``[0, 1]`` -> the network's normalised input."""
        return (x - self.mean) / self.std

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """The network's normalised input -> pixels."""
        return z * self.std + self.mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.normalize(x)
        if self.channels_last:
            z = z.contiguous(memory_format=torch.channels_last)
        return self.net(z)

    @property
    def layers(self) -> dict[str, nn.Module]:
        """The network's modules by their dotted name (``"features.12"``), in order."""
        return {name: m for name, m in self.net.named_modules() if name}

    def layer(self, name: str) -> nn.Module:
        """The module called ``name``; a typo gets the closest names in the error."""
        layers = self.layers
        if name not in layers:
            close = difflib.get_close_matches(name, layers, n=5)
            hint = f"did you mean {close}?" if close else f"names look like {list(layers)[:5]}"
            raise KeyError(f"{self.name} has no layer {name!r}; {hint} (see model.layers)")
        return layers[name]

    def extra_repr(self) -> str:
        return f"name={self.name!r}, num_classes={self.num_classes}, input_size={self.input_size}"


def tiny_cnn(*, num_classes: int = 10, in_channels: int = 3, seed: int = 0) -> Classifier:
    """A small seeded CNN (two conv blocks, ~10k weights) for fast tests and MNIST-size demos.

    The same seed always gives the same weights. Accepts any input side of at least 8 pixels.
    """
    gen = torch.Generator().manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(32 * 16, num_classes),
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / max(p[0].numel(), 1)) ** 0.5)
    mean, std = (0.5,) * in_channels, (0.25,) * in_channels
    return Classifier(net, mean=mean, std=std, name="tiny_cnn", num_classes=num_classes, input_size=32)
