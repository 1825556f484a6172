"""Settings of feature visualisation: ``VisSettings``, the presets, one per image of a batch.

The knobs of :func:`netviz_tp.featviz.class_visualization` are one frozen dataclass
(nanoGPT's ``GPTConfig`` shape); the presets are instances of it, overridden by replacement;
a batch holds one instance per image (:func:`batch_settings`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch


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


def batch_settings(preset=None, n: int = 1, **knobs) -> tuple[VisSettings, ...]:
    """One :class:`VisSettings` per image of a batch of ``n``.

    ``preset``: one (a name of :data:`PRESETS` or a :class:`VisSettings`) for every image,
    or a sequence of ``n``; each knob (a :class:`VisSettings` field): one value for every
    image, or a sequence of ``n`` values (``lr=[0.1, 0.3]``). All images share one ``space``.
    """
    presets = per_image("preset", preset, n)
    columns = {name: per_image(name, value, n) for name, value in knobs.items()}
    plan = []
    for i in range(n):
        try:
            plan.append(vis_settings(presets[i], **{k: c[i] for k, c in columns.items()}))
        except (ValueError, TypeError, KeyError) as error:
            if n == 1:
                raise
            message = error.args[0] if error.args else str(error)
            raise type(error)(f"image {i} of {n}: {message}") from error
    spaces = sorted({s.space for s in plan})
    if len(spaces) > 1:
        raise ValueError(
            f"the images of one batch must share one space, got {spaces}: the network runs "
            "on pixels or on normalised images, not both; run them as two batches"
        )
    return tuple(plan)


def per_image(name: str, value, n: int) -> list:
    """``value`` for each of ``n`` images: a sequence of ``n``, or one value repeated."""
    if isinstance(value, torch.Tensor):
        value = value.tolist() if value.dim() else value.item()
    if not is_sequence(value):
        return [value] * n
    if len(value) != n:
        raise ValueError(
            f"{name}: got {len(value)} values for {n} images; give one per image or one for all"
        )
    return list(value)


def is_sequence(value) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)
