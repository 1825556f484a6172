"""Plots for the three practicals: ``plot_*(tensors, ...) -> matplotlib Figure``, no pyplot.

Figures are built without pyplot (no global figure state, nothing to close); Jupyter
displays a returned Figure, and ``fig.savefig`` writes it. Images are pixels
``[N, 3, H, W]`` in ``[0, 1]`` and maps ``[N, H, W]``, as everywhere in the package;
``class_names`` (a list indexed by class, e.g. ``imagenet_classes()``) turns class indices
into titles, and only the first synonym of a name is shown.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.figure import Figure

from .image import overlay, to_numpy


def short_name(index: int, class_names: Sequence[str] | None) -> str:
    """``"tench"`` for ``"tench, Tinca tinca"``; the bare index without names."""
    if class_names is None:
        return str(int(index))
    return class_names[int(index)].split(",")[0]


def _grid(rows: int, cols: int, *, size: float = 2.2) -> tuple[Figure, list[list]]:
    fig = Figure(figsize=(size * cols, size * rows + 0.3), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes


def plot_images(
    x: torch.Tensor, titles: Sequence[str] | None = None, *, ncols: int = 5, title: str = ""
) -> Figure:
    """A grid of images ``x [N, 3, H, W]`` with optional per-image titles."""
    n = len(x)
    ncols = max(1, min(ncols, n))
    fig, axes = _grid((n + ncols - 1) // ncols, ncols)
    for i, img in enumerate(to_numpy(x)):
        ax = axes[i // ncols][i % ncols]
        ax.imshow(img)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_saliency(
    x: torch.Tensor,
    heat: torch.Tensor,
    *,
    labels: Sequence[int] | None = None,
    preds: Sequence[int] | None = None,
    probs: Sequence[float] | None = None,
    class_names: Sequence[str] | None = None,
    with_overlay: bool = False,
    title: str = "",
) -> Figure:
    """Images over their saliency maps (Simonyan et al. 2014, fig. 2 layout).

    Shape: ``x [N, 3, H, W]`` in ``[0, 1]``, ``heat [N, H, W] >= 0``. Each image's title
    shows the true class, the predicted class and its probability when given; a third row
    shows the map blended over the image when ``with_overlay``.
    """
    if len(heat) != len(x):
        raise ValueError(f"got {len(x)} images but {len(heat)} saliency maps")
    rows = 3 if with_overlay else 2
    fig, axes = _grid(rows, len(x))
    blended = overlay(x, heat) if with_overlay else None
    for i, img in enumerate(to_numpy(x)):
        axes[0][i].imshow(img)
        axes[0][i].set_title(_caption(i, labels, preds, probs, class_names), fontsize=8)
        axes[1][i].imshow(heat[i].detach().float().cpu().numpy(), cmap="hot")
        if blended is not None:
            axes[2][i].imshow(blended[i])
    if title:
        fig.suptitle(title)
    return fig


def _caption(i, labels, preds, probs, class_names) -> str:
    lines = []
    if labels is not None:
        lines.append(f"true: {short_name(labels[i], class_names)}")
    if preds is not None:
        p = f" ({float(probs[i]):.0%})" if probs is not None else ""
        lines.append(f"pred: {short_name(preds[i], class_names)}{p}")
    return "\n".join(lines)


def plot_fooling(
    x: torch.Tensor,
    x_adv: torch.Tensor,
    *,
    labels: Sequence[int] | None = None,
    targets: Sequence[int] | None = None,
    preds: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    magnify: float = 10.0,
    title: str = "",
) -> Figure:
    """Original / adversarial / difference / magnified difference, one row per image.

    Shape: ``x, x_adv [N, 3, H, W]`` in ``[0, 1]``. Differences are shown around mid-grey
    (0.5 + d), so a zero perturbation is flat grey and the magnified one makes budgets of a
    few /255 visible.
    """
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv differ in shape: {tuple(x.shape)} vs {tuple(x_adv.shape)}")
    diff = (x_adv - x).detach().float().cpu()
    columns = [
        ("original", x.detach().cpu()),
        ("adversarial", x_adv.detach().cpu()),
        ("difference", 0.5 + diff),
        (f"difference x{magnify:g}", 0.5 + magnify * diff),
    ]
    fig, axes = _grid(len(x), len(columns))
    for col, (name, images) in enumerate(columns):
        for i, img in enumerate(to_numpy(images)):
            axes[i][col].imshow(img)
            axes[i][col].set_title(
                _fooling_caption(name, i, labels, targets, preds, class_names), fontsize=8
            )
    if title:
        fig.suptitle(title)
    return fig


def _fooling_caption(column, i, labels, targets, preds, class_names) -> str:
    if column == "original" and labels is not None:
        return f"original: {short_name(labels[i], class_names)}"
    if column == "adversarial" and preds is not None:
        goal = f"\n(target {short_name(targets[i], class_names)})" if targets is not None else ""
        return f"predicted: {short_name(preds[i], class_names)}{goal}"
    return column


def plot_class_vis(
    x: torch.Tensor,
    targets: Sequence[int],
    *,
    class_names: Sequence[str] | None = None,
    subtitles: Sequence[str] | None = None,
    ncols: int = 5,
    title: str = "",
) -> Figure:
    """Class visualisations ``x [N, 3, H, W]`` titled by their target class (and a subtitle,
    e.g. the settings of a sweep or the network's confidence)."""
    titles = [
        short_name(t, class_names) + (f"\n{subtitles[i]}" if subtitles and subtitles[i] else "")
        for i, t in enumerate(targets)
    ]
    return plot_images(x, titles, ncols=ncols, title=title)


def plot_vis_grid(
    grid,
    *,
    class_names: Sequence[str] | None = None,
    subtitles: Sequence[str] | None = None,
    title: str = "",
) -> Figure:
    """A :class:`~netviz_tp.sweep.VisGrid` as its grid, each image titled by its class and
    the settings that set it apart (and a subtitle, e.g. the network's confidence)."""
    if subtitles is not None and len(subtitles) != len(grid.x):
        raise ValueError(f"got {len(subtitles)} subtitles for {len(grid.x)} images")
    lines = [
        "\n".join(part for part in parts if part)
        for parts in zip(grid.labels, subtitles or [""] * len(grid.x), strict=True)
    ]
    return plot_class_vis(
        grid.x, grid.target.tolist(), class_names=class_names, subtitles=lines,
        ncols=grid.shape[1], title=title,
    )  # fmt: skip


def plot_progress(
    frames: Sequence[torch.Tensor], steps: Sequence[int], *, title: str = ""
) -> Figure:
    """Snapshots of one optimisation: ``frames`` of ``[3, H, W]`` (or ``[1, 3, H, W]``) taken
    at ``steps``."""
    if len(frames) != len(steps):
        raise ValueError(f"got {len(frames)} frames for {len(steps)} steps")
    x = torch.stack([f.reshape(f.shape[-3:]) for f in frames])
    return plot_images(x, [f"step {s}" for s in steps], ncols=len(frames), title=title)


def plot_curve(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    xlabel: str,
    ylabel: str,
    label: str | None = None,
    ax=None,
):
    """One line of ``ys`` against ``xs`` (e.g. fooling rate vs perturbation scale); draws on
    ``ax`` when given, else on a new figure, and returns the Axes."""
    if ax is None:
        ax = Figure(figsize=(4.5, 3.2), layout="constrained").subplots()
    ax.plot(list(xs), list(ys), marker="o", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if label is not None:
        ax.legend()
    return ax


def plot_occlusion(
    x: torch.Tensor, result, *, class_names: Sequence[str] | None = None, title: str = ""
) -> Figure:
    """One row per image: the image with its Grad-CAM region, the region covered, and a
    random region of the same area covered, each titled with its prediction and the
    target's probability (``result``: an :class:`~netviz_tp.occlusion.OcclusionResult`;
    for the random regions, the probability is their average, the picture the first one)."""
    if len(x) != len(result.mask):
        raise ValueError(f"got {len(x)} images for {len(result.mask)} occlusion results")
    heat = result.mask.float()
    columns = [
        ("Grad-CAM region", overlay(x, heat), result.pred, result.prob),
        ("region covered", to_numpy(result.x_occluded), result.pred_occluded,
         result.prob_occluded),
        ("random region covered", to_numpy(result.x_control), result.pred_control,
         result.prob_control),
    ]  # fmt: skip
    average = {2: " (mean)"}
    fig, axes = _grid(len(x), len(columns))
    for col, (name, images, preds, probs) in enumerate(columns):
        for i, img in enumerate(images):
            axes[i][col].imshow(img)
            axes[i][col].set_title(
                f"{name}\n{short_name(preds[i], class_names)}, "
                f"target {float(probs[i]):.0%}{average.get(col, '')}",
                fontsize=8,
            )
    if title:
        fig.suptitle(title)
    return fig


def plot_fooling_curves(curves: Sequence, *, title: str = "") -> Figure:
    """Untargeted fooling rate and targeted hit rate against the coefficient ``e`` (seed 000,
    Fig. 3), one line per :class:`~netviz_tp.fooling.FoolingCurve` (generator, gradient
    ascent, noise floor, universal perturbation...)."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    for curve in curves:
        label = f"{curve.name} ({curve.model})"
        plot_curve(
            curve.e,
            curve.fooling,
            xlabel="e (grey levels)",
            ylabel="fooling rate",
            label=label,
            ax=left,
        )
        plot_curve(
            curve.e,
            curve.hit,
            xlabel="e (grey levels)",
            ylabel="targeted hit rate",
            label=label,
            ax=right,
        )
    for ax in (left, right):
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig
