"""Figures: right panels and titles, no pyplot state, savable."""

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from netviz_tp import plot

NAMES = ["tench, Tinca tinca", "goldfish", "shark, man-eater"]


def _images(n=2):
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def _png(fig) -> np.ndarray:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    buf.seek(0)
    return plt.imread(buf)


def test_saliency_figure_shows_classes_probabilities_and_maps():
    x, heat = _images(), torch.rand(2, 8, 8)
    fig = plot.plot_saliency(
        x,
        heat,
        labels=[0, 2],
        preds=[0, 1],
        probs=[0.9, 0.25],
        class_names=NAMES,
        with_overlay=True,
    )
    axes = fig.axes
    assert len(axes) == 6  # image, map, overlay for each of two images
    assert axes[0].get_title() == "true: tench\npred: tench (90%)"
    assert axes[1].get_title() == "true: shark\npred: goldfish (25%)"
    np.testing.assert_allclose(axes[2].get_images()[0].get_array(), heat[0].numpy())
    assert plt.get_fignums() == []  # built without pyplot: nothing left open
    assert _png(fig).shape[2] in (3, 4)
    with pytest.raises(ValueError, match="2 images but 1 saliency maps"):
        plot.plot_saliency(x, heat[:1])


def test_fooling_figure_centres_differences_on_grey():
    x = _images(1)
    x_adv = (x + 2 / 255).clamp(0, 1)
    fig = plot.plot_fooling(x, x_adv, labels=[0], targets=[1], preds=[1], class_names=NAMES)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "original: tench",
        "predicted: goldfish\n(target goldfish)",
        "difference",
        "difference x10",
    ]
    diff = fig.axes[2].get_images()[0].get_array()
    magnified = fig.axes[3].get_images()[0].get_array()
    expected = (x_adv - x)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(diff, 0.5 + expected, atol=1e-6)
    np.testing.assert_allclose(magnified, np.clip(0.5 + 10 * expected, 0, 1), atol=1e-6)
    with pytest.raises(ValueError, match="differ in shape"):
        plot.plot_fooling(x, _images(2))


def test_class_vis_and_progress_grids():
    fig = plot.plot_class_vis(
        _images(3), [2, 0, 1], class_names=NAMES, subtitles=["a", "b", "c"], ncols=2
    )
    titles = [ax.get_title() for ax in fig.axes if ax.get_images()]
    assert titles == ["shark\na", "tench\nb", "goldfish\nc"]
    assert len(fig.axes) == 4  # a 2x2 grid, the last cell empty and hidden
    frames = [_images(1)[0], _images(1)]
    fig = plot.plot_progress(frames, [0, 10])
    assert [ax.get_title() for ax in fig.axes] == ["step 0", "step 10"]
    with pytest.raises(ValueError, match="2 frames for 1 steps"):
        plot.plot_progress(frames, [0])


def test_curve_draws_on_a_given_axes():
    ax = plot.plot_curve(
        [1, 2, 4], [0.1, 0.5, 0.9], xlabel="scale", ylabel="fooling rate", label="ours"
    )
    line = ax.get_lines()[0]
    assert list(line.get_ydata()) == [0.1, 0.5, 0.9]
    again = plot.plot_curve([1], [0.2], xlabel="scale", ylabel="rate", ax=ax)
    assert again is ax and len(ax.get_lines()) == 2
