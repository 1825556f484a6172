"""Figures of practical 4: the filter comparison, the layer difference, the summary curve, the
histogram and the occlusion rows show the right values, without pyplot state."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from netviz_tp import plot
from netviz_tp.activations import compare_activations
from netviz_tp.occlusion import occlusion_experiment
from netviz_tp.plot_activations import (
    plot_activation_histogram,
    plot_filter_comparison,
    plot_layer_difference,
    plot_norm_summary,
)


@pytest.fixture
def comp(tiny, images):
    return compare_activations(tiny, images[:2], images[2:], labels=("cat", "dog"))


def test_filter_comparison_shows_both_means_and_the_centred_difference(comp):
    layer = comp["3"]
    fig = plot_filter_comparison(comp, "3", rank=1)
    k = int(layer.ranking[1])
    maps = [ax.get_images()[0] for ax in fig.axes if ax.get_images()]
    assert len(maps) == 3
    np.testing.assert_array_equal(maps[0].get_array(), layer.mean_a[k].numpy())
    np.testing.assert_array_equal(maps[1].get_array(), layer.delta[k].numpy())
    np.testing.assert_array_equal(maps[2].get_array(), layer.mean_b[k].numpy())
    assert maps[0].get_clim() == maps[2].get_clim()
    low, high = maps[1].get_clim()
    assert low == -high == pytest.approx(-layer.delta[k].abs().max().item())
    assert f"filter {k} (rank 1 of 32" in fig.get_suptitle()
    assert [maps[i].axes.get_title() for i in (0, 2)] == ["cat (n=2)", "dog (n=2)"]
    assert plt.get_fignums() == []
    with pytest.raises(ValueError, match="rank must be an int in 0..31"):
        plot_filter_comparison(comp, "3", rank=32)


def test_layer_difference_summary_and_histogram(comp):
    fig = plot_layer_difference(comp, 0)
    shown = fig.axes[0].get_images()[0].get_array()
    np.testing.assert_allclose(shown, comp[0].mean_delta.numpy())
    ax = plot_norm_summary(comp, log=True).axes[0]
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), comp.summary()["mean"].numpy())
    assert ax.get_yscale() == "log" and [t.get_text() for t in ax.get_xticklabels()] == comp.names
    fig = plot_activation_histogram(comp, "0", rank=0, bins=12, log=True)
    counts_a, _, edges = comp["0"].histogram(int(comp["0"].ranking[0]), bins=12)
    first = fig.axes[0].patches[0]
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[0].patches) == 2
    np.testing.assert_allclose(first.get_data().values, counts_a.numpy())
    np.testing.assert_allclose(first.get_data().edges, edges.numpy())


def test_occlusion_figure_has_three_columns_with_probabilities(tiny, images):
    result = occlusion_experiment(tiny, images[:2], [1, 2], n_random=2)
    fig = plot.plot_occlusion(images[:2], result, class_names=[f"c{i}" for i in range(10)])
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 6
    assert titles[1].startswith("region covered\nc") and titles[1].endswith(
        f"target {float(result.prob_occluded[0]):.0%}"
    )
    np.testing.assert_allclose(
        fig.axes[1].get_images()[0].get_array(), result.x_occluded[0].permute(1, 2, 0).numpy()
    )
    with pytest.raises(ValueError, match="3 images for 2"):
        plot.plot_occlusion(torch.cat([images[:2], images[:1]]), result)
