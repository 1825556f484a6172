"""Feature visualisation: ``(model, target) -> VisResult(x [N,3,H,W] in [0,1])`` by gradient ascent.

One regularised gradient-ascent loop (Simonyan et al. 2014, eq. (3)-(4) of the practical)
with the implicit regularisers of Yosinski et al. 2015: random jitter, clamping to valid
pixels and a periodic Gaussian blur. The objective (a class score, or the mean activation of
one channel of a layer) is a small function handed to the loop, and so are the transforms.
The course's settings are the presets ``"rdfia"`` and ``"cs231n"``, which optimise the
normalised image as the course does and reproduce its loop step for step.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from .hooks import capture
from .validate import as_target, check_images, check_model, device_of


@dataclass(frozen=True)
class VisSettings:
    """The knobs of the visualisation loop (:func:`class_visualization`), one frozen value.

    Fields: ``space`` the optimised variable, ``"pixels"`` (``x``) or ``"normalized"`` (the
    course's ``z = (x - mean) / std``); ``lr`` the ascent step of eq. (4); ``steps``; ``l2``
    the weight of the penalty ``l2 ||v||^2`` of eq. (3); ``blur_sigma`` (pixels) and
    ``blur_every`` (steps) the periodic Gaussian blur (``0`` in either: never blur);
    ``jitter`` the largest random roll in pixels (``0``: never); ``clamp`` keep valid pixels
    after each step. The defaults are the preset ``"pixels"``; override a preset with
    ``dataclasses.replace(PRESETS["rdfia"], lr=2.0)``.
    """

    space: str = "pixels"
    lr: float = 0.3
    steps: int = 200
    l2: float = 0.01
    blur_sigma: float = 0.5
    blur_every: int = 10
    jitter: int = 16
    clamp: bool = True

    def __post_init__(self) -> None:
        if self.space not in ("pixels", "normalized"):
            raise ValueError(f'space must be "pixels" or "normalized", got {self.space!r}')
        for name in ("steps", "blur_every", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
            object.__setattr__(self, name, int(value))  # 10.0 from a slider -> 10
        for name in ("lr", "l2", "blur_sigma"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


PRESETS: dict[str, VisSettings] = {
    "pixels": VisSettings(),  # ours
    "rdfia": VisSettings(space="normalized", lr=5.0, steps=200, l2=1e-3),
    "cs231n": VisSettings(space="normalized", lr=25.0, steps=100, l2=1e-3),
}
"""Named settings of :func:`class_visualization`: the course's (RDFIA 3-b, CS231n), on the
normalised image ``z``, and ours, ``"pixels"``, on pixels. Since ``x = mean + std * z``, a
step ``lr_z`` on ``z`` moves pixels like a step ``lr_z * std**2`` on ``x``: lr 0.3 in pixels
is about rdfia's lr 5. The L2 term pulls towards black rather than towards the mean colour,
so images are darker; l2 0.01 (a pull of ``2 * lr * l2 = 0.6%`` per step, rdfia's is 1%) was
chosen on SqueezeNet: tarantula, gorilla and oboe all reached softmax >= 0.99 from noise
(rdfia: the oboe became a cornet), with cleaner images than l2 0.003-0.005 (brighter but
noisier, oboe lost) or 0 (saturated noise). All three blur with sigma 0.5 every 10 steps and
jitter by up to 16 pixels, as the course does."""

COURSE_NAMES = dict(
    l2_reg="l2", learning_rate="lr", num_iterations="steps", blur_width="blur_sigma",
    max_jitter="jitter",
)  # fmt: skip
"""The course's keyword names of :class:`VisSettings` fields (``create_class_visualization``)."""


def vis_settings(preset: str | VisSettings | None = None, **overrides) -> VisSettings:
    """A preset (a name of :data:`PRESETS` or a :class:`VisSettings`) with some fields replaced.

    ``overrides`` are :class:`VisSettings` fields; a None value keeps the preset's. Without a
    preset: ``"rdfia"`` when ``space="normalized"`` is asked, else ``"pixels"``.
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if preset is None:
        preset = "rdfia" if overrides.get("space") == "normalized" else "pixels"
    if isinstance(preset, str):
        if preset not in PRESETS:
            close = difflib.get_close_matches(preset, PRESETS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise KeyError(f"unknown preset {preset!r}; {hint}presets are {sorted(PRESETS)}")
        preset = PRESETS[preset]
    if not isinstance(preset, VisSettings):
        raise TypeError(f"preset must be a name or a VisSettings, got {type(preset).__name__}")
    knobs = [f.name for f in dataclasses.fields(VisSettings)]
    unknown = sorted(set(overrides) - set(knobs))
    if unknown:
        raise TypeError(f"unknown keyword(s) {unknown}; knobs are {knobs}")
    return dataclasses.replace(preset, **overrides)


def course_knobs(kwargs: dict) -> dict:
    """The course's keywords (``l2_reg``, ``learning_rate``, ``num_iterations``, ``blur_width``,
    ``max_jitter``; ``None`` turning blur or jitter off) as :class:`VisSettings` fields; other
    keywords pass through unchanged."""
    knobs = {COURSE_NAMES.get(k, k): v for k, v in kwargs.items()}
    for name in ("blur_every", "jitter"):
        if name in knobs and knobs[name] is None:
            knobs[name] = 0
    return knobs


@dataclass(frozen=True)
class VisResult:
    """What a visualisation returns.

    Shape: ``x [N, C, H, W]`` pixels in ``[0, 1]`` (detached); ``target`` long ``[N]`` (the
    class, or the channel, of each image); ``scores [steps_run, N]``: the objective (class
    score, or mean channel activation) of each image at each step, measured on the jittered
    image before that step's update; ``steps_run``: the steps done (fewer than asked when the
    callback stopped the loop); ``settings``: the :class:`VisSettings` used.
    """

    x: torch.Tensor
    target: torch.Tensor
    scores: torch.Tensor
    steps_run: int
    settings: VisSettings


# --- transforms and regularisers ----------------------------------------------------------


def jitter(v: torch.Tensor, ox: int, oy: int) -> torch.Tensor:
    """Roll ``v [N, C, H, W]`` circularly by ``ox`` pixels along W and ``oy`` along H.

    Equal to the course's ``jitter(X, ox, oy)`` (two ``torch.cat``); negative offsets undo it.
    """
    return torch.roll(v, shifts=(oy, ox), dims=(2, 3)) if ox or oy else v


def gaussian_blur(v: torch.Tensor, sigma: float, *, truncate: float = 4.0) -> torch.Tensor:
    """Separable Gaussian blur along H then W, equal to the course's ``blur_image``.

    Reference: the course blurs with ``scipy.ndimage.gaussian_filter1d`` on axis 2 then 3;
    this is the same filter in torch on ``v``'s device: kernel radius ``int(truncate * sigma
    + 0.5)``, half-sample symmetric borders (scipy's ``mode="reflect"``), each pass summed in
    float64 and rounded to ``v``'s dtype like scipy's.

    Args: sigma: the standard deviation in pixels (> 0); truncate: kernel half-width in sigmas.
    Shape: ``v [N, C, H, W]`` -> the same shape and dtype.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64, device=v.device)
    weights = torch.exp(-0.5 / (sigma * sigma) * offsets**2)
    weights = (weights / weights.sum()).tolist()
    for dim in (2, 3):
        v = _correlate(v, weights, dim)
    return v


def _correlate(v: torch.Tensor, weights: list[float], dim: int) -> torch.Tensor:
    """Correlate ``v`` along ``dim`` with an odd-length kernel, half-sample symmetric borders."""
    n, radius = v.shape[dim], len(weights) // 2
    index = torch.arange(-radius, n + radius, device=v.device) % (2 * n)
    index = torch.where(index < n, index, 2 * n - 1 - index)  # ... c b a | a b c ... c | c b ...
    padded = v.index_select(dim, index).double()
    out = sum(w * padded.narrow(dim, k, n) for k, w in enumerate(weights))
    return out.to(v.dtype)


def l2_penalty(v: torch.Tensor, l2: float) -> torch.Tensor:
    """The regulariser of eq. (3), ``l2 * ||v||^2`` over the batch (a sum of per-image terms).

    Differentiated by autograd like the course's, not as ``2 * l2 * v``: the two differ in the
    last bit, and on SqueezeNet the loop is chaotic: measured, a last-bit difference grows
    to a visibly different image within 2 to 10 steps.
    """
    return l2 * v.norm() ** 2


# --- objectives: network output -> one score per image [N] ----------------------------------


def class_score(target: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Objective: the logit of class ``target[i]`` for image ``i``."""
    return lambda logits: logits.gather(1, target[:, None]).squeeze(1)


def channel_mean(rec, channel: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Objective: the mean over positions of channel ``channel[i]`` of the layer recorded by
    ``rec`` (a :func:`netviz_tp.hooks.capture` recording of one layer) for image ``i``."""
    rows = torch.arange(len(channel), device=channel.device)

    def objective(_logits: torch.Tensor) -> torch.Tensor:
        if not rec.activations:
            raise ValueError("the layer did not run in the model's forward pass; pick another")
        (act,) = rec.activations.values()
        if int(channel.max()) >= act.shape[1]:
            raise ValueError(
                f"channel {channel.tolist()} is out of range: the layer has {act.shape[1]} "
                f"channels, numbered 0..{act.shape[1] - 1}"
            )
        return act[rows, channel].reshape(len(channel), -1).mean(dim=1)

    return objective


# --- the one loop --------------------------------------------------------------------------


def class_visualization(
    model,
    target,
    *,
    preset: str | VisSettings | None = None,
    init_img: torch.Tensor | None = None,
    seed: int = 0,
    callback: Callable | None = None,
    callback_every: int = 1,
    progress: bool = False,
    **knobs,
) -> VisResult:
    """Generate images that the model scores highly for a class, by regularised gradient ascent.

    Each step: jitter by random offsets, step ``v <- v + lr * grad(s_y - l2 ||v||^2)``
    (eq. (3)-(4)) on the optimised variable ``v``, undo the jitter, clamp to valid pixels, and
    every ``blur_every`` steps blur. ``v`` is the pixels ``x`` (``space="pixels"``) or, as in
    the course, the normalised image ``z = (x - mean) / std`` (``space="normalized"``: the
    network ``model.net`` then runs on ``z`` directly).

    Reference: Simonyan et al. 2014, arXiv:1312.6034; Yosinski et al. 2015, arXiv:1506.06579.

    Args:
        model: a :class:`~netviz_tp.models.Classifier`.
        target: a class index or name for every image, or one per image (a list: the images
            are optimised together, each for its own class).
        preset: ``"pixels"``, ``"rdfia"``, ``"cs231n"`` (see :data:`PRESETS`) or any
            :class:`VisSettings`; the default is the preset of ``space``: ``"pixels"``, or
            ``"rdfia"`` for ``"normalized"``.
        knobs: fields of :class:`VisSettings` replacing the preset's (``lr=2.0``,
            ``steps=50``...; None keeps the preset's value), see :func:`vis_settings`.
        init_img: pixels ``[N, C, H, W]`` in ``[0, 1]`` to start from; default noise
            ``torch.randn`` from ``torch.Generator().manual_seed(seed)`` taken as ``z`` (in
            pixel space mapped to pixels and clipped to ``[0, 1]``). The course draws it from
            the global RNG instead.
        seed: seeds the noise and the jitter offsets, drawn as ``rng.randint(0, jitter)`` for
            W then H from ``random.Random(seed)``, like the course.
        callback: ``callback(step, x, scores)`` with the current pixels and this step's
            scores ``[N]``, every ``callback_every`` steps and at the last step; if it returns
            a true value the loop stops there (a stop button, an early exit).
        progress: show a tqdm progress bar.

    Shape: ``init_img [N, C, H, W]`` in ``[0, 1]`` -> ``VisResult.x [N, C, H, W]`` in
    ``[0, 1]`` (``H = W = model.input_size`` from noise); ``scores [steps_run, N]``.

    Example:
        >>> res = class_visualization(model, ["tarantula", 366], preset="rdfia")
        >>> plt.imshow(netviz_tp.to_numpy(res.x)[0])

    Used in: solutions/03_class_visualization.
    """
    target, init_img = _checked(model, target, init_img, classes=True)
    run = dict(seed=seed, callback=callback, callback_every=callback_every, progress=progress)
    return _ascend(model, class_score(target), target, init_img, preset, **run, **knobs)


def channel_visualization(
    model, layer, channel, *, preset=None, init_img: torch.Tensor | None = None, **options
) -> VisResult:
    """Generate images that excite one channel of a layer: :func:`class_visualization` with
    the mean activation of that channel as the objective.

    Reference: Erhan et al. 2009 (activation maximisation); Yosinski et al. 2015,
    arXiv:1506.06579.

    Args:
        model: a :class:`~netviz_tp.models.Classifier`.
        layer: a name from ``model.layers`` (e.g. ``"features.7"``) or one of its modules.
        channel: the channel for every image, or one per image.
        preset, init_img, options: as :func:`class_visualization` (``seed``, ``callback``,
            ``progress``, the :class:`VisSettings` fields...).

    Shape: as :func:`class_visualization`; ``VisResult.target`` holds the channels.
    """
    channel, init_img = _checked(model, channel, init_img, classes=False)
    with capture(model, layer) as rec:
        return _ascend(model, channel_mean(rec, channel), channel, init_img, preset, **options)


def _checked(model, target, init_img, *, classes: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The prologue: check the model and the start images; ``target`` (classes, checked against
    the model's, or channels) as ``LongTensor[N]`` on the model's device."""
    check_model(model)
    init_img = None if init_img is None else check_images(init_img, model)
    n = _batch_size(target, init_img)
    return as_target(target, n, model if classes else None).to(device_of(model)), init_img


def _batch_size(target, init_img: torch.Tensor | None) -> int:
    if init_img is not None:
        return len(init_img)
    if isinstance(target, torch.Tensor):
        return max(target.numel(), 1)
    return len(target) if isinstance(target, Sequence) and not isinstance(target, str) else 1


def _ascend(
    model,
    objective,
    target: torch.Tensor,
    init_img: torch.Tensor | None,
    preset: str | VisSettings | None,
    *,
    seed: int = 0,
    callback: Callable | None = None,
    callback_every: int = 1,
    progress: bool = False,
    **knobs,
) -> VisResult:
    """The one loop (see :func:`class_visualization`) for any ``objective(output) -> [N]``."""
    settings = vis_settings(preset, **knobs)
    if callback_every < 1:
        raise ValueError(f"callback_every must be a positive integer, got {callback_every!r}")
    normalized = settings.space == "normalized"
    forward, to_pixels, lo, hi = _parametrisation(model, normalized)
    v = _start(model, init_img, len(target), normalized, seed)
    lr, l2, shake, steps = settings.lr, settings.l2, settings.jitter, settings.steps
    blur_every = settings.blur_every if settings.blur_sigma > 0 else 0
    rng = random.Random(seed)
    scores = torch.empty(steps, len(target), device=v.device)
    step = -1
    for step in tqdm(range(steps), disable=not progress, desc="visualisation"):
        ox, oy = (rng.randint(0, shake), rng.randint(0, shake)) if shake else (0, 0)
        shifted = jitter(v, ox, oy).detach().requires_grad_(True)
        with torch.enable_grad():
            score = objective(forward(shifted))
            loss = score.sum() - l2_penalty(shifted, l2) if l2 else score.sum()  # eq. (3)
            (grad,) = torch.autograd.grad(loss, shifted)
        with torch.no_grad():
            v.add_(jitter(grad.mul_(lr), -ox, -oy))  # eq. (4)
            if settings.clamp:
                v.clamp_(lo, hi)
            if blur_every and step % blur_every == 0:
                v = gaussian_blur(v, settings.blur_sigma)
            scores[step] = score
            due = callback is not None and (step % callback_every == 0 or step == steps - 1)
            if due and callback(step, _pixels(to_pixels, v), scores[step]):
                break
    x = _pixels(to_pixels, v)
    return VisResult(x, target, scores[: step + 1], step + 1, settings)


@torch.no_grad()
def _pixels(to_pixels, v: torch.Tensor) -> torch.Tensor:
    """``v`` as a new batch of pixels in ``[0, 1]``."""
    return to_pixels(v).clamp(0, 1)


def _parametrisation(model, normalized: bool):
    """``(network of v, v -> pixels, lower bound, upper bound)`` for the optimised ``v``.

    For ``z`` the network runs on ``z`` itself, as in the course, rather than on
    ``model(model.denormalize(z))``: that round trip changes the last bit of ``z``, enough for
    SqueezeNet to leave the course's trajectory after a few steps (see :func:`l2_penalty`).
    """
    zeros = torch.zeros_like(model.mean)
    if not normalized:
        return model, lambda x: x, zeros, zeros + 1
    layout = torch.channels_last if getattr(model, "channels_last", False) else None

    def network(z: torch.Tensor) -> torch.Tensor:  # what Classifier.forward does after normalising
        return model.net(z.contiguous(memory_format=layout) if layout else z)

    return network, model.denormalize, model.normalize(zeros), model.normalize(zeros + 1)


def _start(model, init_img, n: int, normalized: bool, seed: int) -> torch.Tensor:
    """The starting ``v``: the given pixels, or seeded normal noise as ``z`` (see docstring)."""
    if init_img is not None:
        return model.normalize(init_img) if normalized else init_img.clone()
    size = (n, model.in_channels, model.input_size, model.input_size)
    z = torch.randn(size, generator=torch.Generator().manual_seed(seed)).to(model.mean.device)
    return z if normalized else model.denormalize(z).clamp(0, 1)


def create_class_visualization(target_y, model, init_img=None, **kwargs) -> torch.Tensor:
    """Course alias of :func:`class_visualization` with the ``"rdfia"`` preset by default.

    Takes the course's keyword names (:func:`course_knobs`: ``l2_reg``, ``learning_rate``,
    ``num_iterations``, ``blur_every``, ``blur_width``, ``max_jitter``, ``clamp``) as well as
    the package's. ``init_img`` is pixels ``[1, 3, H, W]`` in ``[0, 1]``
    (the course passed ``preprocess(img)``; the model here normalises itself).

    Shape: returns pixels ``[1, 3, H, W]`` in ``[0, 1]``. The course's ``deprocess`` also
    stretched each image to the full range for display; this returns what the model sees.
    """
    knobs = course_knobs(kwargs)
    knobs.setdefault("preset", "rdfia")
    return class_visualization(model, target_y, init_img=init_img, **knobs).x
