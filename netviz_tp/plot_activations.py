"""Figures of the average-activation comparison: ``plot_*(ActivationComparison, ...) -> Figure``.

The thesis's views (seed 002, Sec. 5.3, Fig. 5.4): the two mean maps of a filter beside their
difference, the layer's mean difference, the summary curve of the filter norms against depth,
and the histogram of the two mean maps. No pyplot, as in :mod:`netviz_tp.plot`.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from .activations import ActivationComparison

NORM_NAMES = {1.0: "L1", 2.0: "L2", float("inf"): "L-inf"}


def plot_filter_comparison(
    comp: ActivationComparison, layer: int | str, rank: int = 0, *, title: str = ""
) -> Figure:
    """Mean map of A | signed difference A - B | mean map of B, for the filter ranked
    ``rank`` (0: the largest difference) of ``layer``; A and B share one colour scale, the
    difference is centred on zero (blue: B higher, red: A higher)."""
    lc = comp[layer]
    k = int(lc.ranking[_rank(lc, rank)])
    a, b, d = lc.mean_a[k], lc.mean_b[k], lc.delta[k]
    lo, hi = min(a.min(), b.min()).item(), max(a.max(), b.max()).item()
    span = d.abs().max().item() or 1.0
    fig = Figure(figsize=(9, 3.3), layout="constrained")
    axes = fig.subplots(1, 3)
    name_a, name_b = comp.labels
    panels = [
        (a, f"{name_a} (n={comp.counts[0]})", dict(cmap="viridis", vmin=lo, vmax=hi)),
        (d, f"{name_a} - {name_b}", dict(cmap="RdBu_r", vmin=-span, vmax=span)),
        (b, f"{name_b} (n={comp.counts[1]})", dict(cmap="viridis", vmin=lo, vmax=hi)),
    ]
    for ax, (values, caption, style) in zip(axes, panels, strict=True):
        shown = ax.imshow(values.numpy(), **style)
        ax.set_title(caption, fontsize=9)
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, shrink=0.75)
    norm = NORM_NAMES[comp.ord]
    fig.suptitle(
        title
        or f"{lc.name}: filter {k} (rank {_rank(lc, rank)} of {len(lc.norms)}, "
        f"{norm} norm of the difference {lc.norms[k]:.3g})",
        fontsize=10,
    )
    return fig


def plot_layer_difference(comp: ActivationComparison, layer: int | str) -> Figure:
    """The layer's mean difference map (the signed difference averaged over its filters)."""
    lc = comp[layer]
    d = lc.mean_delta
    span = d.abs().max().item() or 1.0
    fig = Figure(figsize=(3.6, 3.3), layout="constrained")
    ax = fig.subplots()
    fig.colorbar(ax.imshow(d.numpy(), cmap="RdBu_r", vmin=-span, vmax=span), ax=ax, shrink=0.8)
    ax.set_axis_off()
    ax.set_title(f"{lc.name}: mean of {comp.labels[0]} - {comp.labels[1]}", fontsize=9)
    return fig


def plot_norm_summary(
    comp: ActivationComparison, *, log: bool = False, title: str = "", ax=None
) -> Figure:
    """Mean, min and max of the filter norms of each layer against depth (the thesis's
    difference graph); draws on ``ax`` when given; returns the Figure."""
    if ax is None:
        ax = Figure(figsize=(max(5.0, 0.28 * len(comp)), 3.4), layout="constrained").subplots()
    curve, depth = comp.summary(), range(len(comp))
    ax.fill_between(depth, curve["min"], curve["max"], alpha=0.2, label="min - max")
    ax.plot(depth, curve["mean"], marker="o", markersize=3, label="mean")
    ax.set_xticks(list(depth), comp.names, rotation=90, fontsize=7)
    ax.set_ylabel(f"{NORM_NAMES[comp.ord]} norm of the filter difference")
    ax.set_yscale("log" if log else "linear")
    ax.set_title(title or f"{comp.labels[0]} vs {comp.labels[1]}, layer by layer", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax.figure


def plot_activation_histogram(
    comp: ActivationComparison, layer: int | str, rank: int = 0, *, bins: int = 50, log=False
) -> Figure:
    """Histogram of the values of the two mean maps of a filter (ranked ``rank``), binned
    alike; ``log`` puts the counts on a log scale (the thesis's option)."""
    lc = comp[layer]
    k = int(lc.ranking[_rank(lc, rank)])
    counts_a, counts_b, edges = lc.histogram(k, bins=bins)
    fig = Figure(figsize=(4.8, 3.2), layout="constrained")
    ax = fig.subplots()
    for counts, label in ((counts_a, comp.labels[0]), (counts_b, comp.labels[1])):
        ax.stairs(counts.numpy(), edges.numpy(), label=label, fill=True, alpha=0.45)
    ax.set_yscale("log" if log else "linear")
    ax.set_xlabel("mean activation")
    ax.set_ylabel("positions")
    ax.set_title(f"{lc.name}, filter {k}", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def _rank(lc, rank: int) -> int:
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < len(lc.ranking):
        raise ValueError(f"rank must be an int in 0..{len(lc.ranking) - 1}, got {rank!r}")
    return rank
