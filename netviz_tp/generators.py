"""Class-conditional generator (seed 000): ``G(class id) -> image [N,3,S,S] in [0,1]``.

A generator trained against a FROZEN classifier (eval mode, weights never updated) so that
the classifier recognises the class it was asked for: nothing adversarial, no data. Also
here what both generator families share: the units they visualise (classes, or the
channels of one layer) and the scores those units get (:func:`unit_scores`).

Reference: Karagounis, "Efficient Visualization of Neural Networks with Generative Models
and Adversarial Perturbations" (seed 000): the class id is embedded and fed to several
depths of an up-sampling network; loss = cross-entropy between the class id and the
classifier's prediction on ``G(id)``; channel variant = softmax over the spatial means of
one layer's channels, cross-entropy with the channel index.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .hooks import capture
from .validate import as_target, check_model


@dataclass(frozen=True)
class ConditionalSettings:
    """Architecture, optimiser and schedule of the class-conditional generator.

    The paper gives none of them; these are ours, chosen to train in minutes on a CPU:

    - ``base``, ``widths``: a ``base x base`` map up-sampled x2 once per entry of ``widths``,
      each stage ``concat(features, label map) -> up-sampling -> GroupNorm -> ReLU``; images
      of side ``base * 2**len(widths)`` are resized (bilinear) to the classifier's input.
      GroupNorm, not BatchNorm: a batch mixes classes, and per-image normalisation keeps one
      class's image independent of the others in the batch (and identical at training and at
      inference).
    - ``upsample``: ``"nearest"`` (x2 nearest, then a 3x3 convolution: ours, smooth images)
      or ``"deconv"`` (a 4x4 transposed convolution of stride 2: the paper's "deconvolution
      network", with its checkerboard patterns, Odena et al. 2016, doi:10.23915/distill.00003).
      Measured on SqueezeNet (README, CPU preset): the paper's trains faster (106 s against
      153 s) and fools more (FR(10) 0.19 against 0.13), and its images show dots on a grid
      where ours show shapes; both stay below random signs (0.40).
    - ``embed_dim``: the label embedding, broadcast and concatenated before every convolution
      and the output convolution (the paper's block "feeding the input information to modules
      in different depths"); output ``tanh`` (the paper's matrix in [-1, 1]) -> ``(t+1)/2``.
    - Adam (``lr``, betas (0.5, 0.999) as usual for generators) with a cosine decay to
      ``lr * final_lr_ratio``: large steps while the classes separate, small ones at the end
      so the images settle rather than oscillate between classes.
    - ``batch`` class ids per step, drawn uniformly from the trained classes (paper: "random
      choose class id"), seeded per step (``seed``), so an interrupted run resumes exactly.
    """

    embed_dim: int = 32
    base: int = 7
    widths: tuple[int, ...] = (128, 64, 32, 16)
    upsample: str = "nearest"
    lr: float = 2e-3
    final_lr_ratio: float = 0.05
    steps: int = 300
    batch: int = 10
    seed: int = 0
    checkpoint_every: int = 50


UPSAMPLING = {
    "nearest": lambda c_in, c_out: nn.Conv2d(c_in, c_out, 3, padding=1),  # after x2 nearest
    "deconv": lambda c_in, c_out: nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1),
}
"""``ConditionalSettings.upsample`` -> the convolution of a stage, ``[N, c_in, s, s] -> [N,
c_out, 2s, 2s]`` ("nearest": the features are up-sampled before it, the label map is not:
cheaper than up-sampling both)."""

CONDITIONAL_PRESETS = {
    "mnist": ConditionalSettings(embed_dim=16, widths=(32, 16), steps=200),  # 7 -> 28
    "imagenet_small": ConditionalSettings(),  # 7 -> 112, resized to 224: CPU
    "imagenet": ConditionalSettings(widths=(256, 128, 64, 32, 16), steps=1500, batch=32),  # GPU
}
"""Presets: MNIST (28 px), ImageNet-small (112 px generated, for a CPU), ImageNet (224 px, for
a GPU); change any knob with ``dataclasses.replace(preset, steps=...)``."""


# --- units: what a generator visualises ------------------------------------------------------


def unit_scores(model, x: torch.Tensor, layer: str | None = None) -> torch.Tensor:
    """The score of every unit: the logits (``layer=None``) or the spatial mean of each channel
    of ``layer`` (the paper's "activation of the whole channel").

    Shape: ``x [N, C, H, W]`` in ``[0, 1]`` -> ``[N, num_classes]`` or ``[N, channels]``.
    """
    if layer is None:
        return model(x)
    with capture(model, layer) as rec:
        model(x)
    (act,) = rec.activations.values()
    if act.dim() != 4:
        raise ValueError(
            f"layer {layer!r} outputs shape {tuple(act.shape)}, not [N, C, H, W] feature maps; "
            "pick a convolutional layer (see model.layers)"
        )
    return act.mean(dim=(2, 3))


def check_units(model, units, layer: str | None = None) -> torch.Tensor:
    """The units to train for, checked: class ids or names (``layer=None``) or channel indices
    of ``layer``; an unknown class, layer or channel raises an error naming the valid range.

    Shape: one unit or a sequence -> ``LongTensor[K]`` of distinct units, on the CPU.
    """
    check_model(model)
    many = isinstance(units, (list, tuple, range)) or (
        isinstance(units, torch.Tensor) and units.dim() > 0
    )
    n = len(units) if many else 1
    if n == 0:
        raise ValueError("give at least one class (or channel) to visualise")
    if layer is None:
        t = as_target(units, n, model).cpu()
    else:
        if any(isinstance(u, str) for u in (units if many else [units])):
            raise TypeError(f"channels of layer {layer!r} are numbers, got {units!r}")
        t = as_target(units, n).cpu()
        count = count_channels(model, layer)
        if int(t.max()) >= count:
            raise ValueError(
                f"channel(s) {[c for c in t.tolist() if c >= count]} out of range: layer "
                f"{layer!r} has {count} channels, numbered 0..{count - 1}"
            )
    if len(set(t.tolist())) != len(t):
        raise ValueError(f"units must be distinct, got {t.tolist()}")
    return t


def count_channels(model, layer: str) -> int:
    """The number of channels of ``layer`` (one forward pass on a zero image)."""
    size = (1, model.in_channels, model.input_size, model.input_size)
    with torch.no_grad():
        return unit_scores(model, torch.zeros(size, device=model.mean.device), layer).shape[1]


def fit_to(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize square images ``x [N, C, S, S]`` to ``size`` (bilinear); unchanged if equal."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


# --- the class-conditional generator ----------------------------------------------------------


class ConditionalGenerator(nn.Module):
    """``units [K]`` (class ids or channels) -> a generator of one image per unit.

    Args:
        units: the K units it is trained for (``check_units``); it answers only for them.
        settings: a :class:`ConditionalSettings`.
        channels: image channels (3 RGB, 1 MNIST).
        layer: None for classes, or the layer whose channels ``units`` are.

    Shape: ``forward(index [N])`` (positions 0..K-1) -> ``t [N, channels, S, S]`` in
    ``[-1, 1]``; :meth:`images` maps unit ids to pixels in ``[0, 1]``.
    Example: ``g = ConditionalGenerator([1, 2], CONDITIONAL_PRESETS["mnist"], channels=1)``.
    Used in: solutions/05_generators.
    """

    def __init__(self, units, settings: ConditionalSettings, *, channels=3, layer=None):
        super().__init__()
        if settings.upsample not in UPSAMPLING:
            raise ValueError(
                f"upsample must be one of {sorted(UPSAMPLING)}, got {settings.upsample!r}"
            )
        units = torch.as_tensor(units, dtype=torch.long).reshape(-1)
        self.register_buffer("units", units)
        self.settings, self.layer, self.channels = settings, layer, channels
        e, w0 = settings.embed_dim, settings.widths[0]
        self.embed = nn.Embedding(len(units), e)
        self.stem = nn.Linear(e, w0 * settings.base**2)
        widths = (w0, *settings.widths)
        self.stages = nn.ModuleList(
            nn.Sequential(
                UPSAMPLING[settings.upsample](w_in + e, w_out),
                nn.GroupNorm(min(8, w_out), w_out),
                nn.ReLU(),
            )
            for w_in, w_out in zip(widths[:-1], widths[1:], strict=True)
        )
        self.head = nn.Conv2d(widths[-1] + e, channels, 3, padding=1)

    def recipe(self) -> dict:
        """The constructor's arguments as JSON (what grading sends into its sandbox)."""
        settings = asdict(self.settings)
        return {"units": self.units.tolist(), "settings": settings, "channels": self.channels,
                "layer": self.layer}  # fmt: skip

    @classmethod
    def from_recipe(cls, recipe: dict) -> ConditionalGenerator:
        """A generator with the architecture of :meth:`recipe` (untrained weights)."""
        settings = dict(recipe["settings"], widths=tuple(recipe["settings"]["widths"]))
        return cls(recipe["units"], ConditionalSettings(**settings), channels=recipe["channels"],
                   layer=recipe["layer"])  # fmt: skip

    @property
    def side(self) -> int:
        """The side of the generated images before resizing."""
        return self.settings.base * 2 ** len(self.settings.widths)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        label = self.embed(index)
        h = F.relu(self.stem(label)).view(len(index), -1, self.settings.base, self.settings.base)
        for stage in self.stages:
            if self.settings.upsample == "nearest":
                h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = stage(_with_label(h, label))
        return torch.tanh(self.head(_with_label(h, label)))

    def positions(self, units) -> torch.Tensor:
        """Unit ids (class ids or names, or channels) -> positions 0..K-1; an id this
        generator was not trained for raises ValueError listing the trained ones."""
        many = isinstance(units, (list, tuple, range)) or (
            isinstance(units, torch.Tensor) and units.dim() > 0
        )
        wanted = as_target(units, len(units) if many else 1).to(self.units.device)
        hit = wanted[:, None] == self.units[None]
        missing = wanted[~hit.any(1)].tolist()
        if missing:
            raise ValueError(
                f"this generator was trained for {self.units.tolist()}, not {missing}; "
                "train one for those units"
            )
        return hit.float().argmax(1)

    def images(self, units=None, *, size: int | None = None) -> torch.Tensor:
        """Pixels ``[N, channels, size, size]`` in ``[0, 1]`` for ``units`` (default: all),
        resized to ``size`` (default: the generated side), without gradient."""
        index = torch.arange(len(self.units)) if units is None else self.positions(units)
        with torch.no_grad():
            t = self(index.to(self.units.device))
        return fit_to((t + 1) / 2, size or self.side).clamp(0, 1)


def _with_label(h: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Concatenate the label embedding, broadcast over positions, to the features ``h``."""
    return torch.cat([h, label[:, :, None, None].expand(-1, -1, *h.shape[2:])], dim=1)


def conditional_loss(model, x: torch.Tensor, units: torch.Tensor, layer=None) -> torch.Tensor:
    """The paper's loss: cross-entropy between the unit asked for and the classifier's answer.

    Classes: ``CE(model(x), class)``; channels: ``CE(mean_hw(layer(x)), channel)``, a softmax
    over the channels' spatial means. ``model`` must be frozen and in eval mode.

    Shape: ``x [N, C, H, W]`` in ``[0, 1]``, ``units [N]`` -> a scalar (mean over images).
    """
    return F.cross_entropy(unit_scores(model, x, layer), units)
