"""Feature visualisation: ``(model, target) -> VisResult(x [N,3,H,W] in [0,1])`` by gradient ascent.

One regularised gradient-ascent loop (Simonyan et al. 2014, eq. (3)-(4) of the practical)
with the implicit regularisers of Yosinski et al. 2015: random jitter, clamping to valid
pixels and a periodic Gaussian blur. The objective (a class score, or the mean activation of
one channel of a layer) is a small function handed to the loop, and so are the transforms.
The course's settings are the presets ``"rdfia"`` and ``"cs231n"``, which optimise the
normalised image as the course does and reproduce its loop step for step.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from .featviz_settings import (
    COURSE_NAMES,
    PRESETS,
    VisSettings,
    batch_settings,
    course_knobs,
    is_sequence,
    per_image,
    vis_settings,
)
from .hooks import capture
from .regularizers import blur_each, gaussian_blur, jitter, jitter_each, l2_penalty
from .validate import as_target, check_images, check_model, device_of

__all__ = [  # jitter and gaussian_blur are the notebook's helpers, from .regularizers
    "COURSE_NAMES", "PRESETS", "VisResult", "VisSettings", "batch_settings", "channel_mean",
    "channel_visualization", "class_score", "class_visualization", "course_knobs",
    "create_class_visualization", "gaussian_blur", "jitter", "vis_settings",
]  # fmt: skip


@dataclass(frozen=True)
class VisResult:
    """What a visualisation returns.

    Shape: ``x [N, C, H, W]`` pixels in ``[0, 1]`` (detached); ``target`` long ``[N]`` (the
    class, or the channel, of each image); ``scores [steps_run, N]``: the objective (class
    score, or mean channel activation) of each image at each step, measured on the jittered
    image before that step's update (NaN once the image has done its ``steps``);
    ``steps_run``: the loop's steps done (the largest ``steps`` of the batch, fewer when the
    callback stopped the loop); ``settings``: the :class:`VisSettings` of each image.
    """

    x: torch.Tensor
    target: torch.Tensor
    scores: torch.Tensor
    steps_run: int
    settings: tuple[VisSettings, ...]


# --- objectives: (network output, rows of the batch still running) -> one score per row ------


def class_score(target: torch.Tensor) -> Callable:
    """Objective: the logit of class ``target[i]`` for image ``i`` (of ``rows``, if given)."""

    def objective(logits: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        t = target if rows is None else target[rows]
        return logits.gather(1, t[:, None]).squeeze(1)

    return objective


def channel_mean(rec, channel: torch.Tensor) -> Callable:
    """Objective: the mean over positions of channel ``channel[i]`` of the layer recorded by
    ``rec`` (a :func:`netviz_tp.hooks.capture` recording of one layer) for image ``i``."""

    def objective(_logits: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        if not rec.activations:
            raise ValueError("the layer did not run in the model's forward pass; pick another")
        (act,) = rec.activations.values()
        if int(channel.max()) >= act.shape[1]:
            raise ValueError(
                f"channel {channel.tolist()} is out of range: the layer has {act.shape[1]} "
                f"channels, numbered 0..{act.shape[1] - 1}"
            )
        ch = channel if rows is None else channel[rows]
        return act[torch.arange(len(ch), device=ch.device), ch].reshape(len(ch), -1).mean(dim=1)

    return objective


# --- the one loop --------------------------------------------------------------------------


def class_visualization(
    model,
    target,
    *,
    preset: str | VisSettings | Sequence | None = None,
    init_img: torch.Tensor | None = None,
    seed: int | Sequence[int] = 0,
    callback: Callable | None = None,
    callback_every: int = 1,
    progress: bool | tqdm = False,
    **knobs,
) -> VisResult:
    """Generate images that the model scores highly for a class, by regularised gradient ascent.

    Each step: jitter by random offsets, step ``v <- v + lr * grad(s_y - l2 ||v||^2)``
    (eq. (3)-(4)) on the optimised variable ``v``, undo the jitter, clamp to valid pixels, and
    every ``blur_every`` steps blur. ``v`` is the pixels ``x`` (``space="pixels"``) or, as in
    the course, the normalised image ``z = (x - mean) / std`` (``space="normalized"``: the
    network ``model.net`` then runs on ``z`` directly).

    A batch runs as one: every image carries its own settings (target, knobs, seed, start)
    and each is optimised as if alone (up to float rounding); an image that has done its
    ``steps`` stops changing and leaves the batch, which then runs on the others only.

    Reference: Simonyan et al. 2014, arXiv:1312.6034; Yosinski et al. 2015, arXiv:1506.06579.

    Args:
        model: a :class:`~netviz_tp.models.Classifier`.
        target: a class index or name for every image, or one per image (a list: the images
            are optimised together, each for its own class).
        preset: ``"pixels"``, ``"rdfia"``, ``"cs231n"`` (see :data:`PRESETS`) or any
            :class:`VisSettings`, or one per image; the default is the preset of ``space``:
            ``"pixels"``, or ``"rdfia"`` for ``"normalized"``.
        knobs: fields of :class:`VisSettings` replacing the preset's (``lr=2.0``,
            ``steps=50``...; None keeps the preset's value), one value for every image or
            a sequence with one per image (``lr=[0.1, 1.0]``), see :func:`batch_settings`.
        init_img: pixels ``[N, C, H, W]`` in ``[0, 1]`` to start from; default noise
            ``torch.randn`` from ``torch.Generator().manual_seed(seed)`` taken as ``z`` (in
            pixel space mapped to pixels and clipped to ``[0, 1]``). The course draws it from
            the global RNG instead.
        seed: for every image, or one per image: seeds its noise and its jitter offsets,
            drawn as ``rng.randint(0, jitter)`` for W then H from ``random.Random(seed)``,
            like the course. Images with the same seed start from the same noise and share
            their offsets, so that each is what it would be alone with that seed.
        callback: ``callback(step, x, scores)`` with the current pixels and this step's
            scores ``[N]``, every ``callback_every`` steps and at the last step; if it returns
            a true value the loop stops there (a stop button, an early exit).
        progress: show a tqdm progress bar counting image-steps (or advance the bar given).

    Shape: ``init_img [N, C, H, W]`` in ``[0, 1]`` -> ``VisResult.x [N, C, H, W]`` in
    ``[0, 1]`` (``H = W = model.input_size`` from noise); ``scores [steps_run, N]``.

    Example:
        >>> res = class_visualization(model, ["tarantula", 366], preset="rdfia", lr=[3, 5])
        >>> plt.imshow(netviz_tp.to_numpy(res.x)[0])

    Used in: solutions/03_class_visualization.
    """
    per_image = (preset, seed, *knobs.values())
    target, init_img = _checked(model, target, init_img, per_image, classes=True)
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
            ``progress``, the :class:`VisSettings` fields, per image or for all...).

    Shape: as :func:`class_visualization`; ``VisResult.target`` holds the channels.
    """
    per_image = (preset, *options.values())
    channel, init_img = _checked(model, channel, init_img, per_image, classes=False)
    with capture(model, layer) as rec:
        return _ascend(model, channel_mean(rec, channel), channel, init_img, preset, **options)


def _checked(model, target, init_img, per_image, *, classes: bool):
    """The prologue: check the model and the start images; ``target`` (classes, checked against
    the model's, or channels) as ``LongTensor[N]`` on the model's device."""
    check_model(model)
    init_img = None if init_img is None else check_images(init_img, model)
    n = _batch_size(target, init_img, per_image)
    return as_target(target, n, model if classes else None).to(device_of(model)), init_img


def _batch_size(target, init_img: torch.Tensor | None, per_image) -> int:
    """The number of images: of ``init_img``, else of the targets, else of the longest
    per-image setting (the mismatches are reported by the checks that follow)."""
    if init_img is not None:
        return len(init_img)
    if isinstance(target, torch.Tensor) and target.dim():
        return max(target.numel(), 1)
    if is_sequence(target):
        return len(target)
    sizes = [len(v) for v in per_image if is_sequence(v)]
    return max(sizes, default=1)


def _ascend(
    model,
    objective,
    target: torch.Tensor,
    init_img: torch.Tensor | None,
    preset,
    *,
    seed: int | Sequence[int] = 0,
    callback: Callable | None = None,
    callback_every: int = 1,
    progress: bool | tqdm = False,
    **knobs,
) -> VisResult:
    """The one loop (see :func:`class_visualization`) for any ``objective(output, rows)``."""
    n = len(target)
    plan = batch_settings(preset, n, **knobs)
    seeds = _seeds(seed, n)
    if callback_every < 1:
        raise ValueError(f"callback_every must be a positive integer, got {callback_every!r}")
    forward, to_pixels, lo, hi = _parametrisation(model, plan[0].space == "normalized")
    v = _start(model, init_img, seeds, plan[0].space == "normalized")
    rngs = [random.Random(s) for s in seeds]
    total = max(s.steps for s in plan)
    scores = torch.full((total, n), math.nan, device=v.device)
    bar = _bar(progress, sum(s.steps for s in plan))
    step = -1
    for step in range(total):
        rows = [i for i, s in enumerate(plan) if s.steps > step]  # finished images leave
        part = [plan[i] for i in rows]
        offsets = [_offsets(rngs[i], s.jitter) for i, s in zip(rows, part, strict=True)]
        index = None if len(rows) == n else torch.tensor(rows, device=v.device)
        sub = v if index is None else v.index_select(0, index)
        shifted = jitter_each(sub, offsets).detach().requires_grad_(True)
        lr, l2 = (_one_or_each([getattr(s, k) for s in part], v) for k in ("lr", "l2"))
        with torch.enable_grad():
            score = objective(forward(shifted), index)
            penalty = l2_penalty(shifted, l2) if any(s.l2 for s in part) else 0  # eq. (3)
            (grad,) = torch.autograd.grad(score.sum() - penalty, shifted)
        with torch.no_grad():
            sub.add_(jitter_each(grad.mul_(lr), offsets, undo=True))  # eq. (4)
            sub = _clamp(sub, [s.clamp for s in part], lo, hi)
            due = [s.blur_sigma if s.blur_every and step % s.blur_every == 0 else 0 for s in part]
            sub = blur_each(sub, due)
            v = sub if index is None else v.index_copy_(0, index, sub)
            scores[step, rows] = score
            if bar is not None:
                bar.update(len(rows))
            due = callback is not None and (step % callback_every == 0 or step == total - 1)
            if due and callback(step, _pixels(to_pixels, v), scores[step]):
                break
    if bar is not None and progress is True:
        bar.close()
    return VisResult(_pixels(to_pixels, v), target, scores[: step + 1], step + 1, plan)


def _seeds(seed, n: int) -> list[int]:
    seeds = per_image("seed", seed, n)
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int):
            raise TypeError(f"seed must be an integer or one integer per image, got {seed!r}")
    return seeds


def _offsets(rng: random.Random, shake: int) -> tuple[int, int]:
    """This step's jitter ``(ox, oy)`` of one image, drawn as the course draws them."""
    return (rng.randint(0, shake), rng.randint(0, shake)) if shake else (0, 0)


def _one_or_each(values: list[float], like: torch.Tensor) -> float | torch.Tensor:
    """A float when all images share the value (exactly the course's arithmetic), else a
    tensor ``[N, 1, 1, 1]`` that broadcasts over each image."""
    if len(set(values)) == 1:
        return values[0]
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(-1, 1, 1, 1)


def _clamp(v: torch.Tensor, clamps: list[bool], lo, hi) -> torch.Tensor:
    """Clamp the images whose settings ask for it to ``[lo, hi]`` (per channel)."""
    if all(clamps):
        return v.clamp_(lo, hi)
    if not any(clamps):
        return v
    mask = torch.tensor(clamps, device=v.device).view(-1, 1, 1, 1)
    return torch.where(mask, v.clamp(lo, hi), v)


def _bar(progress, total: int):
    """The progress bar to advance: a new one when ``progress`` is True, or the one given."""
    if progress is True:
        return tqdm(total=total, desc="visualisation", unit="image-step")
    return progress or None


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


def _start(model, init_img, seeds: list[int], normalized: bool) -> torch.Tensor:
    """The starting ``v``: the given pixels, or seeded normal noise as ``z``, one draw per
    seed (see :func:`class_visualization`)."""
    if init_img is not None:
        return model.normalize(init_img) if normalized else init_img.clone()
    size = (1, model.in_channels, model.input_size, model.input_size)
    noise = {s: torch.randn(size, generator=torch.Generator().manual_seed(s)) for s in set(seeds)}
    z = torch.cat([noise[s] for s in seeds]).to(model.mean.device)
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
