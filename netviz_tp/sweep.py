"""Sweeps of class visualisations: ``(model, targets x settings) -> VisGrid``, in few batches.

A class grid, a Cartesian product of settings (``lr x l2 x steps``), a list of settings, or
starts from real images, run as batches of :func:`netviz_tp.featviz.class_visualization`
(each image with its own settings), chunked so that the batch fits the device's memory
(:func:`chunk_size`), with one progress bar. ``plot.plot_vis_grid`` draws the result.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from .featviz import batch_settings, class_visualization, course_knobs, vis_settings
from .featviz_settings import VisSettings, is_sequence
from .validate import as_target, check_images, check_model, device_of

CPU_BATCH = 16
"""Most images per batch on a CPU: beyond a few images a larger batch is no faster per
image (measured on SqueezeNet and VGG16, ``bench/bench_featviz.py``), it only takes memory."""
MEMORY_SHARE = {"cuda": 0.8, "cpu": 0.25}
"""The share of the free memory a sweep's batch may take (by its estimate), per device type:
most of a GPU (the session's own), a quarter of a CPU machine's (shared with the rest)."""


@dataclass(frozen=True)
class VisGrid:
    """A labelled grid of visualisations, the cells in row-major order of ``shape``.

    Shape: ``x [N, C, H, W]`` pixels in ``[0, 1]`` with ``N = rows * cols``; ``target``
    long ``[N]``; ``scores [N]`` each cell's objective at its last step; ``settings`` the
    :class:`~netviz_tp.featviz.VisSettings` of each cell; ``labels`` what sets each cell
    apart (``"lr=0.3, l2=0.01"``; ``""`` in a plain class grid); ``shape = (rows, cols)``;
    ``chunk`` the images per batch it ran with.
    """

    x: torch.Tensor
    target: torch.Tensor
    scores: torch.Tensor
    settings: tuple[VisSettings, ...]
    labels: tuple[str, ...]
    shape: tuple[int, int]
    chunk: int


def sweep(
    model,
    target,
    vary: Mapping[str, Sequence] | Sequence[Mapping] = (),
    *,
    preset=None,
    init_img: torch.Tensor | None = None,
    seed: int = 0,
    ncols: int | None = None,
    chunk: int | None = None,
    progress: bool | tqdm = True,
    **knobs,
) -> VisGrid:
    """Class visualisations for every target and every setting of ``vary``, as one grid.

    Args:
        model: a :class:`~netviz_tp.models.Classifier`.
        target: a class (index or name) or a list of classes: the grid's outer axis.
        vary: ``{knob: values}``, the Cartesian product of the values (the last knob
            varies fastest, along a row: ``{"lr": [0.1, 1], "l2": [0, 0.01, 0.1]}`` is 2x3),
            or a list of overrides, one per cell (``[{"lr": 0.1}, {"steps": 50}]``). Knobs are
            :class:`~netviz_tp.featviz.VisSettings` fields or the course's names
            (``learning_rate``...). Empty: one cell per target (a class grid).
        preset, knobs: the settings every cell starts from (as in ``class_visualization``).
        init_img: pixels ``[1, C, H, W]`` to start every cell from, or ``[T, C, H, W]`` one
            per target (Q10: each class from one of its photos); default noise from ``seed``.
        seed: the noise and the jitter offsets, the same in every cell: only ``vary`` differs.
        ncols: the grid's columns (default: the last knob's values; a list or a class grid:
            all in one row).
        chunk: images per batch (default :func:`chunk_size`: the whole sweep on a GPU).
        progress: one tqdm bar over the whole sweep (or a bar to advance).

    Shape: -> :class:`VisGrid` with ``len(targets) * cells`` images.

    Example:
        >>> grid = sweep(model, "tarantula", {"lr": [0.1, 0.3, 1], "l2": [0, 0.01, 0.1]})
        >>> plot.plot_vis_grid(grid, class_names=names)

    Used in: solutions/03_class_visualization, widgets.featviz (the gallery's sweeps).
    """
    check_model(model)
    targets = target if is_sequence(target) or isinstance(target, torch.Tensor) else [target]
    targets = as_target(targets, len(targets), model).tolist()
    cells, cols = _cells(vary)
    starts = _starts(init_img, len(targets), model)
    knobs = course_knobs(knobs)
    plan = [vis_settings(preset, **{**knobs, **cell}) for _ in targets for cell in cells]
    batch_settings(plan, len(plan))  # one space for all, before any work
    n = len(plan)
    for name, value in (("chunk", chunk), ("ncols", ncols)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    size = chunk or chunk_size(model, n)
    cell_target = [t for t in targets for _ in cells]
    cell_start = None if starts is None else starts[[i for i in range(len(targets)) for _ in cells]]
    total = sum(s.steps for s in plan)
    bar = tqdm(total=total, desc="sweep", unit="image-step") if progress is True else progress
    try:
        x, scores = _run(model, cell_target, plan, cell_start, seed, size, bar)
    finally:
        if progress is True:
            bar.close()
    width = min(ncols or cols or n, n)
    labels = tuple(_label(cell) for _ in targets for cell in cells)
    return VisGrid(
        x, torch.tensor(cell_target), scores, tuple(plan), labels, (-(-n // width), width), size
    )


def _run(model, targets, plan, starts, seed, size, bar):
    """Every cell, in batches of ``size``: ``(x [N, C, H, W], last scores [N] on the CPU)``.

    Cells are batched by decreasing ``steps`` so that a batch holds runs of similar lengths
    (a run that is done leaves its batch, but a batch lasts as long as its longest run)."""
    n = len(plan)
    order = sorted(range(n), key=lambda i: -plan[i].steps)
    x, scores = [None] * n, torch.full((n,), float("nan"))
    for first in range(0, n, size):
        rows = order[first : first + size]
        res = class_visualization(
            model, [targets[i] for i in rows], preset=[plan[i] for i in rows],
            init_img=None if starts is None else starts[rows], seed=seed, progress=bar,
        )  # fmt: skip
        for j, i in enumerate(rows):
            x[i] = res.x[j]
            if plan[i].steps:
                scores[i] = res.scores[plan[i].steps - 1, j].item()
    return torch.stack(x), scores


def _cells(vary) -> tuple[list[dict], int | None]:
    """The overrides of each cell (package names) and the natural number of columns."""
    if isinstance(vary, Mapping):
        axes = course_knobs(dict(vary))
        for name, values in axes.items():
            if not is_sequence(values) or not len(values):
                raise ValueError(
                    f"vary[{name!r}] must be a non-empty list of values, got {values!r}"
                )
        if not axes:
            return [{}], None
        cells = [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]
        return cells, len(list(axes.values())[-1])
    if not is_sequence(vary) or not all(isinstance(c, Mapping) for c in vary):
        raise TypeError("vary must be {knob: [values]} or a list of {knob: value} overrides")
    cells = [course_knobs(dict(c)) for c in vary] or [{}]
    return cells, len(cells) if len(cells) > 1 else None


def _starts(init_img, n_targets: int, model) -> torch.Tensor | None:
    """``[T, C, H, W]`` starts, one per target (``None``: noise)."""
    if init_img is None:
        return None
    x = check_images(init_img, model)
    if len(x) == 1:
        return x.expand(n_targets, *x.shape[1:])
    if len(x) != n_targets:
        raise ValueError(
            f"init_img holds {len(x)} images for {n_targets} targets; give one start for "
            "all or one per target"
        )
    return x


def _label(cell: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in cell.items())


def chunk_size(model, n: int) -> int:
    """Images per batch for ``n`` visualisations on ``model``'s device.

    On a GPU all ``n`` when its share (:data:`MEMORY_SHARE`) of the free memory holds them
    (the whole sweep in one batch), else as many as it holds; on a CPU at most
    :data:`CPU_BATCH`, and as many as its share of the free memory holds. The memory of one image is
    estimated by :func:`bytes_per_image`.
    """
    device = device_of(model)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        cap = n
    else:
        free, cap = _available_memory(), CPU_BATCH
    fit = int(MEMORY_SHARE.get(device.type, 0.25) * free // bytes_per_image(model))
    return max(1, min(n, cap, fit))


def bytes_per_image(model) -> int:
    """An estimate of the memory one image takes in a visualisation step: three times the
    outputs of every leaf module for one input (kept for the backward pass, their gradients,
    and the input's copies), measured by one forward pass with hooks."""
    total = [0]

    def count(_module, _inputs, output):
        if isinstance(output, torch.Tensor):
            total[0] += output.numel() * output.element_size()

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(count) for m in leaves]
    side = model.input_size
    try:
        with torch.no_grad():
            model(torch.zeros(1, model.in_channels, side, side, device=device_of(model)))
    finally:
        for handle in handles:
            handle.remove()
    return 3 * max(total[0], 1)


def _available_memory() -> int:
    """Bytes of free memory on this machine (POSIX ``sysconf``; else 2 GiB)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows), or not this name
        return 2 << 30
