"""Training generators: ``train_*(model, units, settings) -> Trained``, seeded, cached, resumable.

Every run is seeded: the generator's initial weights by ``settings.seed``, each step's random
draws by ``(seed, step)``; checkpoints, cache and resume are :func:`netviz_tp.checkpoints.fit`'s.
Budgets (:data:`BUDGETS`) size a run for CI and grading, a CPU, or a Colab GPU.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from .checkpoints import Trained, cache_key, fingerprint, fit, step_generator
from .data import load_image, load_imagenet_val, sample_images
from .featgen import (
    FEATURE_PRESETS,
    Autoencoder,
    FeatureGenerator,
    FeatureSettings,
    feature_objective,
    side_of,
)
from .generators import (
    CONDITIONAL_PRESETS,
    ConditionalGenerator,
    ConditionalSettings,
    check_units,
    conditional_loss,
    fit_to,
)
from .validate import check_images, check_model, device_of


def _settings(settings, presets: dict, kind: type):
    if isinstance(settings, str):
        if settings not in presets:
            raise KeyError(f"unknown preset {settings!r}; presets are {sorted(presets)}")
        return presets[settings]
    if not isinstance(settings, kind):
        raise TypeError(f"settings must be a {kind.__name__} or a preset name, got {settings!r}")
    if settings.steps < 1 or settings.checkpoint_every < 1:
        raise ValueError(f"steps and checkpoint_every must be >= 1, got {settings}")
    return settings


def _seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


# --- seed 000: the class-conditional generator ------------------------------------------------


def train_conditional(
    model, units, settings="imagenet_small", *, layer=None, cache=True, progress=True, callback=None
) -> Trained:
    """Train a :class:`~netviz_tp.generators.ConditionalGenerator` for ``units`` (classes, or
    channels of ``layer``) against the frozen ``model`` (seed 000's training steps).

    Args:
        model: a frozen classifier in eval mode (``load_model``); its weights never change.
        units: class ids or names (or channel indices when ``layer`` is given).
        settings: a :class:`ConditionalSettings` or a preset name (``CONDITIONAL_PRESETS``).
        layer: None for classes, or a layer name for the channel variant.
        cache, progress, callback: see :func:`fit`.

    Returns: :class:`Trained`; ``generator.images()`` are pixels ``[K, C, S, S]`` in [0, 1].
    Example: ``g = train_conditional(model, ["tench", "goldfish"]).generator``.
    Used in: solutions/05_generators.
    """
    s = _settings(settings, CONDITIONAL_PRESETS, ConditionalSettings)
    units = check_units(model, units, layer)
    device = device_of(model)
    gen = _seeded(
        s.seed, lambda: ConditionalGenerator(units, s, channels=model.in_channels, layer=layer)
    ).to(device)
    optimizer = torch.optim.Adam(gen.parameters(), lr=s.lr, betas=(0.5, 0.999))

    def loss_fn(step: int) -> torch.Tensor:
        cosine = (1 + math.cos(math.pi * step / s.steps)) / 2  # decays from 1 to 0
        for group in optimizer.param_groups:
            group["lr"] = s.lr * (s.final_lr_ratio + (1 - s.final_lr_ratio) * cosine)
        index = torch.randint(len(units), (s.batch,), generator=step_generator(s.seed, step))
        index = index.to(device)
        x = fit_to((gen(index) + 1) / 2, model.input_size)
        return conditional_loss(model, x, gen.units[index], layer)

    key = cache_key("conditional", s, model=fingerprint(model), units=units.tolist(), layer=layer)
    return fit(
        gen,
        optimizer,
        loss_fn,
        steps=s.steps,
        key=key,
        cache=cache,
        progress=progress,
        callback=callback,
        checkpoint_every=s.checkpoint_every,
        desc="generator",
    )


# --- seed 004: the feature-vector generator and its pre-trained decoder ------------------------


def natural_images(side: int) -> torch.Tensor:
    """The offline natural images: the course's 25 and the photos of the assets folder, at
    ``side`` pixels (the pre-training set of the denoising autoencoder).

    Shape: ``[N, 3, side, side]`` in ``[0, 1]``.
    """
    photos = [load_image(p, side) for p in sample_images().values()]
    return torch.cat([fit_to(load_imagenet_val().x, side), *photos])


def pretrain_autoencoder(
    images=None, settings="pretrained", *, cache=True, progress=True, callback=None
) -> Trained:
    """Train a denoising :class:`~netviz_tp.featgen.Autoencoder` on natural images: MSE between
    ``AE(clamp(x + noise))`` and ``x`` on seeded random flips and crops (Vincent et al. 2010).

    Args:
        images: pixels ``[N, 3, H, W]`` in ``[0, 1]`` (default :func:`natural_images`),
            resized to ``side_of(settings) * 9/8`` before cropping.
        settings: a :class:`FeatureSettings` (``ae_*`` knobs) or a preset name.

    Returns: :class:`Trained` with the autoencoder; ``generator.decoder`` is the generator.
    """
    s = _settings(settings, FEATURE_PRESETS, FeatureSettings)
    side = side_of(s)
    images = natural_images(side) if images is None else check_images(images)
    pool = fit_to(images, side + side // 8).cpu()
    ae = _seeded(s.seed, lambda: Autoencoder(s, channels=images.shape[1]))
    optimizer = torch.optim.Adam(ae.parameters(), lr=s.ae_lr)

    def loss_fn(step: int) -> torch.Tensor:
        g = step_generator(s.seed, step)
        pick = torch.randint(len(pool), (s.ae_batch,), generator=g)
        top, left = torch.randint(pool.shape[-1] - side + 1, (2,), generator=g).tolist()
        x = pool[pick, :, top : top + side, left : left + side]
        if torch.rand((), generator=g) < 0.5:
            x = x.flip(-1)
        noisy = (x + s.ae_noise * torch.randn(x.shape, generator=g)).clamp(0, 1)
        return torch.nn.functional.mse_loss(ae(noisy), x)

    key = cache_key("autoencoder", s, images=hashlib.sha256(pool.numpy().tobytes()).hexdigest())
    return fit(
        ae,
        optimizer,
        loss_fn,
        steps=s.ae_steps,
        key=key,
        cache=cache,
        progress=progress,
        callback=callback,
        checkpoint_every=s.checkpoint_every,
        desc="autoencoder",
    )


def train_feature(
    model,
    units,
    settings="untrained",
    *,
    layer=None,
    decoder=None,
    cache=True,
    progress=True,
    callback=None,
) -> Trained:
    """Train a :class:`~netviz_tp.featgen.FeatureGenerator` so that ``model`` responds with
    ``units``: one class, several classes at once, or filter(s) of ``layer`` (seed 004).

    Args:
        model: a frozen classifier in eval mode.
        units: one class (id or name), a list of classes maximised together, or channel(s)
            of ``layer``.
        settings: a :class:`FeatureSettings` or a preset name (``FEATURE_PRESETS``: "untrained",
            "pretrained", "paper", "mnist").
        decoder: the pre-trained decoder to freeze, only with ``settings.pretrained`` (default:
            the cached :func:`pretrain_autoencoder` on :func:`natural_images`); it is copied,
            the caller's stays as it is.

    Returns: :class:`Trained`; ``extra["image"]`` is the final image ``[1, C, S, S]`` in
    ``[0, 1]`` (the median of the last ``median_of`` snapshots).
    """
    s = _settings(settings, FEATURE_PRESETS, FeatureSettings)
    check_model(model)
    objective, units = feature_objective(model, units, layer)
    if decoder is not None and not s.pretrained:
        raise ValueError(
            "decoder= is the frozen decoder of settings with pretrained=True; these settings "
            "train a generator from scratch: leave decoder out"
        )
    if s.pretrained and decoder is None:
        decoder = pretrain_autoencoder(settings=s, progress=progress).generator.decoder
    if s.pretrained:
        decoder = copy.deepcopy(decoder)  # frozen here, the caller's copy untouched
    gen = _seeded(s.seed, lambda: FeatureGenerator(s, decoder=decoder, channels=model.in_channels))
    gen.to(device_of(model))
    params = [gen.alpha] if s.pretrained else list(gen.parameters())
    if s.optimizer == "adamax":
        optimizer = torch.optim.Adamax(params, lr=s.lr, betas=(0.9, 0.999), eps=1e-8)
    elif s.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, nesterov=s.momentum > 0)
    else:
        raise ValueError(f'optimizer must be "adamax" or "sgd", got {s.optimizer!r}')

    def loss_fn(step: int) -> torch.Tensor:
        noise = torch.randn(gen.ones.shape, generator=step_generator(s.seed, step))
        return objective(gen(noise.to(gen.ones.device)), s.lam) + gen.regulariser()

    def snapshot(step: int, extra: dict) -> None:
        if (step + 1) % s.snapshot_every == 0 or step + 1 == s.steps:
            with torch.no_grad():
                extra["snapshots"] = [*extra.get("snapshots", []), gen().cpu()][-s.median_of :]

    what = dict(model=fingerprint(model), units=units.tolist(), layer=layer)
    if s.pretrained:
        what["decoder"] = fingerprint(decoder)
    trained = fit(
        gen,
        optimizer,
        loss_fn,
        steps=s.steps,
        key=cache_key("feature", s, **what),
        cache=cache,
        progress=progress,
        callback=callback,
        after_step=snapshot,
        checkpoint_every=s.checkpoint_every,
        desc="feature generator",
    )
    shots = trained.extra.get("snapshots") or [gen().detach().cpu()]
    trained.extra["image"] = torch.stack(shots).quantile(0.5, dim=0)
    return trained


def with_steps(settings, steps: int):
    """``settings`` with another number of updates (a budget's), checkpoints kept in step."""
    return replace(settings, steps=steps, checkpoint_every=min(settings.checkpoint_every, steps))


@dataclass(frozen=True)
class GeneratorBudget:
    """What a practical-5 run trains and measures on a machine: ``classes`` trained by the
    class-conditional generator, its ``conditional`` and the ``feature`` generator's
    settings, the ``vis_steps`` of the gradient-ascent references, the ``universal_steps`` of
    the universal perturbations, the coefficients ``e``."""

    classes: int
    conditional: ConditionalSettings
    feature: FeatureSettings
    pretrained: FeatureSettings
    vis_steps: int
    universal_steps: int
    e: tuple[int, ...]


BUDGETS = {
    "fast": GeneratorBudget(  # CI and grading: seconds
        2,
        replace(CONDITIONAL_PRESETS["mnist"], steps=20, batch=2),
        with_steps(FEATURE_PRESETS["untrained"], 10),
        replace(with_steps(FEATURE_PRESETS["pretrained"], 10), ae_steps=10, median_of=2),
        5,
        2,
        (10, 35),
    ),
    "cpu": GeneratorBudget(  # 10 classes against SqueezeNet, < 10 min on 2 cores: see the README
        10,
        CONDITIONAL_PRESETS["imagenet_small"],
        with_steps(FEATURE_PRESETS["untrained"], 250),  # half the paper's 500 AdaMax updates
        replace(with_steps(FEATURE_PRESETS["pretrained"], 400), snapshot_every=20),  # of 1,200
        100,
        20,  # the L-inf bound is reached after 10 signed steps of 1/255
        (1, 3, 6, 10, 20, 35),
    ),
    "gpu": GeneratorBudget(  # a Colab T4, well under 30 minutes (estimate, not measured)
        100,
        replace(CONDITIONAL_PRESETS["imagenet"], steps=3000),
        FEATURE_PRESETS["paper"],
        replace(FEATURE_PRESETS["pretrained"], ae_steps=3000),
        200,
        100,
        tuple(range(1, 36)),
    ),
}
"""Budgets by ``setup()``'s mode ("fast", "cpu", "gpu")."""
