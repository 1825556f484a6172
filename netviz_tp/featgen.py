"""Feature-vector generator (seed 004): ``G(alpha * jitter(1)) -> one image [1,3,S,S] in [0,1]``.

A fixed input vector of ones, a trainable per-element scale ``alpha`` (eq. (1)), Gaussian
jitter of the input, and an up-sampling convolutional generator whose convolutions are each
followed by ReLU then batch-norm; trained so that a FROZEN classifier (eval mode) responds
with one unit: a class, two classes at once, or one filter of a layer. Without pre-training
the whole generator is trained (L1 on the output batch-norm scales); with pre-training the
generator is the frozen decoder of a denoising autoencoder and only ``alpha`` moves (L2).

Reference: Despraz et al., "Towards a Better Understanding of Deep Neural Networks
Representations using Deep Generative Networks", IJCCI 2017 (seed 004), and its authors'
Keras code (github.com/jdespraz/deep_generative_networks), which settles what the text leaves
open. Where paper and code differ we follow the code, except where noted:

- loss: code ``1 - sum(y * a)`` with ``y_i = 1``, ``y_j = -10/1000``: ``1 - a_i + 0.01 sum_{j!=i}
  a_j`` on ReLU'd logits (eq. (2), lambda 0.01); no pre-training: L1 0.01 on the output
  batch-norm scales (eq. (3)), AdaMax 0.002, 10 x 50 updates of batch 1 = 500; noise sigma 2
  added to the input ones, before the scale (so ``alpha * (1 + 2 N)``).
- **lambda 0.001, not 0.01.** VGG16's ReLU'd logits are mostly zero; SqueezeNet's are all
  positive (a ReLU before its average pool), so with 0.01 the penalty on the 999 others
  outweighs the target tenfold and training only darkens the image: measured on the real
  SqueezeNet (tench, 250 updates), the final image ranked tench 770th with 0.01, 11th with
  0.001; with the decoder, 1st (softmax 0.40) with 0.001 and not in the top 3 with 0.01.
- **noise on the code without pre-training** (``jitter="code"``: ``alpha + sigma N``): with
  the code's ``alpha * (1 + 2 N)`` the generator never sees an input near the noise-free
  ``alpha`` its final image is made from (that image ranked tench 11th while every jittered
  one ranked it 1st or 2nd); added after the scale, ``alpha`` can outgrow the noise, and the
  final image ranked tench 1st (softmax 0.85). ``jitter="input"`` is the code's.
- pre-training: code multiplicative noise ``GaussianDropout(0.05)``, i.e. sigma
  ``sqrt(0.05/0.95) = 0.23`` (paper's table: 0.05); L2 as Keras' ``l2(0.1)``: ``0.1 sum
  alpha^2`` (eq. (4) writes a square root); SGD 0.01, Nesterov momentum 0.1, 30 x 40 = 1200
  updates, a snapshot every 40, the final image the pixel-wise median of the last 10; code
  scale initialised to ones with a ReLU after it (we keep it linear: the encoder's codes
  have both signs); the code's autoencoder (Adadelta, 400 epochs of dog photos) adds no
  noise to its input: we add Gaussian noise (sigma 0.1) as the paper says ("denoising").
- the classifier: their Keras ``fit`` ran VGG16 in training mode, dropout on; we keep the
  classifier in eval mode (deterministic answers, the model the students study).
- our generator decodes into pixels ``clamp(mean + std * z)`` (ImageNet statistics), so the
  classifier sees a valid image; the code fed the unbounded batch-norm output to VGG16.
- 'same' convolutions and x2 up-sampling from ``base`` (7 -> 224 in five stages) instead of
  the paper's mix of 'valid' and 'same' convolutions (5 -> 224); input 64 x 7 x 7 = 3136.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .generators import check_units, fit_to, unit_scores
from .image import IMAGENET_MEAN, IMAGENET_STD


@dataclass(frozen=True)
class FeatureSettings:
    """Knobs of the feature-vector generator (defaults: the authors' code without
    pre-training, on a narrower network that trains on a CPU; see the module docstring)."""

    code_channels: int = 64
    base: int = 7
    widths: tuple[int, ...] = (64, 32, 32, 16, 16)
    sigma: float = 2.0  # jitter of the code, see ``jitter``
    jitter: str = "code"  # "code": f = alpha + sigma N; "input": f = alpha * (1 + sigma N)
    lam: float = 0.001  # penalty on the other units' activations (the code's 0.01: see above)
    reg: float = 0.01  # L1 on the output batch-norm scales, or L2 on alpha when pretrained
    pretrained: bool = False
    optimizer: str = "adamax"  # "adamax" or "sgd" (Nesterov)
    lr: float = 0.002
    momentum: float = 0.0
    steps: int = 500
    snapshot_every: int = 50
    median_of: int = 1  # final image: pixel-wise median of the last snapshots
    seed: int = 0
    checkpoint_every: int = 50
    # denoising autoencoder (pretrained=True): pre-training on natural images
    ae_steps: int = 400
    ae_batch: int = 8
    ae_lr: float = 1e-3
    ae_noise: float = 0.1


FEATURE_PRESETS = {
    "paper": FeatureSettings(widths=(512, 256, 256, 128, 128)),  # Table 2 widths: GPU
    "untrained": FeatureSettings(),  # CPU
    "pretrained": FeatureSettings(
        widths=(64, 32, 32, 16),
        sigma=(0.05 / 0.95) ** 0.5,
        jitter="input",
        reg=0.1,
        pretrained=True,
        optimizer="sgd",
        lr=0.01,
        momentum=0.1,
        steps=1200,
        snapshot_every=40,
        median_of=10,
    ),  # decoder side 112 (reduced size, offline images)
    "mnist": FeatureSettings(code_channels=16, widths=(16, 8), steps=200, snapshot_every=20),
}
"""Presets; change a knob with ``dataclasses.replace(preset, steps=...)``."""


def side_of(settings: FeatureSettings) -> int:
    """The side of the decoder's images: ``base * 2**len(widths)``."""
    return settings.base * 2 ** len(settings.widths)


def _block(c_in: int, c_out: int, track_stats: bool) -> list[nn.Module]:
    """conv 3x3 -> ReLU -> batch-norm, the authors' order."""
    return [
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.ReLU(),
        nn.BatchNorm2d(c_out, track_running_stats=track_stats),
    ]


class Decoder(nn.Module):
    """Code ``[N, code_channels * base**2]`` -> pixels ``[N, channels, S, S]`` in ``[0, 1]``.

    Five-ish stages of ``upsample x2 -> block -> block`` and an output block to ``channels``
    whose batch-norm scales are the ``output_scales`` of eq. (3). ``track_stats=False`` (the
    untrained generator, batch 1) always normalises with the current image's statistics;
    the autoencoder's decoder tracks running statistics and is used frozen in eval mode.
    """

    def __init__(self, settings: FeatureSettings, *, channels=3, track_stats=False):
        super().__init__()
        self.settings = settings
        layers: list[nn.Module] = []
        c = settings.code_channels
        for w in settings.widths:
            layers += [nn.Upsample(scale_factor=2), *_block(c, w, track_stats)]
            layers += _block(w, w, track_stats)
            c = w
        layers += _block(c, channels, track_stats)
        self.net = nn.Sequential(*layers)
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else ((0.5,), (0.25,))
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    @property
    def output_scales(self) -> torch.Tensor:
        """The scales (gamma) of the output batch-norm, one per image channel."""
        return self.net[-1].weight

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        s = self.settings
        z = self.net(code.view(len(code), s.code_channels, s.base, s.base))
        return (self.mean + self.std * z).clamp(0, 1)


class Autoencoder(nn.Module):
    """Denoising autoencoder: pixels ``[N, C, S, S]`` -> code -> pixels; ``S = side_of``.

    Encoder: per stage ``conv 3x3 stride 2 -> ReLU -> batch-norm`` down to ``base``, then a
    1x1 convolution to ``code_channels`` (the authors' ends with two dense layers, 2048 and
    3200 units: fully convolutional keeps the checkpoints small).
    """

    def __init__(self, settings: FeatureSettings, *, channels=3):
        super().__init__()
        layers: list[nn.Module] = []
        c = channels
        for w in reversed(settings.widths):
            layers += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.ReLU(), nn.BatchNorm2d(w)]
            c = w
        layers += [nn.Conv2d(c, settings.code_channels, 1), nn.Flatten()]
        self.encoder = nn.Sequential(*layers)
        self.decoder = Decoder(settings, channels=channels, track_stats=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class FeatureGenerator(nn.Module):
    """A code of ones scaled by ``alpha`` (eq. (1), trainable), jittered while training
    (``settings.jitter``) -> decoder -> one image.

    Args:
        settings: a :class:`FeatureSettings`.
        decoder: a pre-trained :class:`Decoder` to freeze (only ``alpha`` then trains), or None
            for a fresh one trained whole.
        channels: image channels.

    Shape: ``forward(noise [1, m] or None) -> [1, channels, S, S]`` in ``[0, 1]``.
    """

    def __init__(self, settings: FeatureSettings, *, decoder: Decoder | None = None, channels=3):
        super().__init__()
        if settings.jitter not in ("code", "input"):
            raise ValueError(f'jitter must be "code" or "input", got {settings.jitter!r}')
        m = settings.code_channels * settings.base**2
        self.settings = settings
        self.register_buffer("ones", torch.ones(1, m))
        self.alpha = nn.Parameter(torch.ones(1, m))
        self.decoder = decoder or Decoder(settings, channels=channels)
        if decoder is not None:
            self.decoder.requires_grad_(False).eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.settings.pretrained:
            return self
        self.decoder.eval()  # frozen: running statistics, always
        return self

    def forward(self, noise: torch.Tensor | None = None) -> torch.Tensor:
        s = self.settings
        if noise is None:
            return self.decoder(self.alpha * self.ones)
        if s.jitter == "input":
            return self.decoder(self.alpha * (self.ones + s.sigma * noise))
        return self.decoder(self.alpha * self.ones + s.sigma * noise)

    def regulariser(self) -> torch.Tensor:
        """R of eq. (2): ``reg * sum(alpha**2)`` when pretrained, else ``reg * sum|gamma|``."""
        s = self.settings
        if s.pretrained:
            return s.reg * self.alpha.pow(2).sum()
        return s.reg * self.decoder.output_scales.abs().sum()


def feature_loss(a: torch.Tensor, units: torch.Tensor, lam: float) -> torch.Tensor:
    """Eq. (2) as in the authors' code: ``1 - sum_{i in units} a_i + lam * sum_{j not in units}
    a_j`` with ``a`` the ReLU'd scores (the regulariser is added by the caller).

    Shape: ``a [N, U]`` (raw scores), ``units [K]`` -> a scalar (mean over images).
    """
    a = a.relu()
    mine = a[:, units].sum(1)
    return (1 - mine + lam * (a.sum(1) - mine)).mean()


def feature_objective(model, units, layer: str | None = None):
    """``x -> loss`` for one class, several classes at once, or filter(s) of ``layer``.

    Shape: ``x [N, C, H, W]`` in ``[0, 1]`` (resized to the model's input) -> a scalar.
    """
    units = check_units(model, units, layer).to(model.mean.device)

    def objective(x: torch.Tensor, lam: float) -> torch.Tensor:
        return feature_loss(unit_scores(model, fit_to(x, model.input_size), layer), units, lam)

    return objective, units
