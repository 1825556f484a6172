"""activations: group means checked against a direct computation, signed differences, ranking by
the norm asked for, dense layers as grids, running means, hooks released, classes mode."""

from __future__ import annotations

import pytest
import torch
from helpers import hook_count
from torch import nn

from netviz_tp.activations import (
    compare_activations,
    compare_classes,
    compared_layers,
    grid_shape,
    group_means,
)
from netviz_tp.models import load_model


def test_grid_shape_is_the_closest_factor_pair():
    assert grid_shape(1000) == (25, 40)
    assert grid_shape(100) == (10, 10)
    assert grid_shape(10) == (2, 5)
    assert grid_shape(97) == (1, 97)
    assert grid_shape(4096) == (64, 64)
    assert grid_shape(1) == (1, 1)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="positive int"):
            grid_shape(bad)


def test_layers_are_convs_and_linears_in_order(tiny):
    assert compared_layers(tiny) == ["0", "3", "7"]
    with pytest.raises(ValueError, match="no Conv2d or Linear"):
        compared_layers(load_model(nn.Sequential(nn.ReLU(), nn.Flatten()), num_classes=10))


def test_identical_groups_give_zero_difference_everywhere(tiny, images):
    comp = compare_activations(tiny, images, images.clone())
    for layer in comp.layers:
        assert torch.equal(layer.delta, torch.zeros_like(layer.delta)), layer.name
        assert torch.equal(layer.norms, torch.zeros_like(layer.norms))
    assert comp.summary()["max"].eq(0).all()


def test_swapping_the_groups_flips_the_sign(tiny, images):
    ab = compare_activations(tiny, images[:2], images[2:], ord=1)
    ba = compare_activations(tiny, images[2:], images[:2], ord=1)
    for one, other in zip(ab.layers, ba.layers, strict=True):
        assert one.delta.abs().sum() > 0
        torch.testing.assert_close(one.delta, -other.delta)
        torch.testing.assert_close(one.norms, other.norms)
        assert torch.equal(one.ranking, other.ranking)


def test_filters_are_ranked_by_the_norm_asked_for(tiny, images):
    rankings = {}
    for ord in (1, 2, float("inf")):
        comp = compare_activations(tiny, images[:1], images[1:2], ord=ord)
        layer = comp["0"]
        norms = torch.linalg.vector_norm(layer.delta.flatten(1), ord=ord, dim=1)
        torch.testing.assert_close(layer.norms, norms)
        assert (layer.norms[layer.ranking].diff() <= 0).all()
        rankings[ord] = layer.ranking
    # the vector norm, not numpy's matrix norm (ord 2 would be the largest singular value)
    delta = comp["0"].delta[comp["0"].ranking[0]]
    assert comp["0"].norms.max() != pytest.approx(torch.linalg.matrix_norm(delta, ord=2).item())
    assert not torch.equal(rankings[1], rankings[float("inf")])  # the orders do disagree here
    assert compare_activations(tiny, images[:1], images[1:2], ord="inf").ord == float("inf")
    for bad in (3, 0, "fro", True):
        with pytest.raises(ValueError, match="1, 2 or inf"):
            compare_activations(tiny, images[:1], images[1:2], ord=bad)


def test_a_layers_mean_map_equals_a_direct_computation(tiny, images):
    means = group_means(tiny, images)
    z = tiny.normalize(images)
    with torch.no_grad():
        conv1 = tiny.net[:2](z)  # conv "0" and the ReLU defined after it
        conv2 = tiny.net[3](tiny.net[:3](z))  # conv "3" then its ReLU "4"
        logits = tiny.net(z)
    torch.testing.assert_close(means["0"], conv1.mean(0))
    torch.testing.assert_close(means["3"], conv2.relu().mean(0))
    torch.testing.assert_close(means["7"], logits.mean(0).reshape(1, 2, 5))
    assert means["0"].min() == 0 and means["0"].shape == (16, 32, 32)


def test_dense_layers_are_shown_as_near_square_grids():
    net = nn.Sequential(nn.Flatten(), nn.Linear(48, 1000), nn.ReLU(), nn.Linear(1000, 97))
    model = load_model(net, input_size=4, mean=(0.5,) * 3, std=(0.5,) * 3)
    x = torch.rand(3, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    comp = compare_activations(model, x[:1], x[1:])
    assert [layer.kind for layer in comp.layers] == ["linear", "linear"]
    assert comp["1"].mean_a.shape == (1, 25, 40) and comp["3"].mean_a.shape == (1, 1, 97)
    with torch.no_grad():
        hidden = net[:3](model.normalize(x[1:])).mean(0)
    torch.testing.assert_close(comp["1"].mean_b, hidden.reshape(1, 25, 40))
    assert comp["1"].mean_b.min() >= 0  # measured after the ReLU defined next to it


def test_batch_size_does_not_change_the_means(tiny, images):
    many = torch.cat([images, images.flip(-1), images.flip(-2)])
    one_by_one = group_means(tiny, many, batch_size=1)
    at_once = group_means(tiny, many, batch_size=64)
    odd = group_means(tiny, many, batch_size=5)
    for name, mean in at_once.items():
        torch.testing.assert_close(one_by_one[name], mean)
        torch.testing.assert_close(odd[name], mean)


def test_hooks_are_released_even_when_the_forward_pass_fails(images):
    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    model = load_model(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), Boom()), num_classes=2)
    with pytest.raises(RuntimeError, match="boom"):
        group_means(model, images)
    assert hook_count(model) == 0


def test_bad_input_is_refused_with_the_fix(tiny, images):
    with pytest.raises(ValueError, match="conv or linear layer names"):
        group_means(tiny, images, layers=["1"])
    with pytest.raises(ValueError, match="at least one image"):
        group_means(tiny, images[:0])
    with pytest.raises(ValueError, match="batch_size"):
        group_means(tiny, images, batch_size=0)
    with pytest.raises(KeyError, match="no compared layer"):
        compare_activations(tiny, images[:1], images[1:])["features.0"]


def test_histogram_bins_both_maps_alike(tiny, images):
    layer = compare_activations(tiny, images[:2], images[2:])["3"]
    counts_a, counts_b, edges = layer.histogram(int(layer.ranking[0]), bins=20)
    assert counts_a.sum() == counts_b.sum() == layer.mean_a[0].numel()
    assert len(edges) == 21
    assert edges[0] <= min(layer.mean_a.min(), layer.mean_b.min())


def colour_classifier():
    """Predicts the dominant colour: 0 red, 1 green, 2 blue (a 1x1 conv, pooling, a linear)."""
    net = nn.Sequential(
        nn.Conv2d(3, 4, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
    )  # fmt: skip
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(4, 3)[:, :, None, None])
        net[0].bias.zero_()
        net[4].weight.copy_(torch.eye(3, 4))
        net[4].bias.zero_()
    return load_model(net, mean=(0.0,) * 3, std=(1.0,) * 3, input_size=8)


def coloured(counts, seed=0):
    """``counts[c]`` noisy 8x8 images dominated by colour ``c``, interleaved."""
    gen = torch.Generator().manual_seed(seed)
    colours = [c for c, n in enumerate(counts) for _ in range(n)]
    x = 0.3 * torch.rand(len(colours), 3, 8, 8, generator=gen)
    for i, c in enumerate(colours):
        x[i, c] += 0.6
    order = torch.randperm(len(x), generator=gen)
    return x[order], torch.tensor(colours)[order]


def test_classes_mode_compares_the_two_most_frequent_predictions():
    model = colour_classifier()
    x, colour = coloured([4, 10, 7])
    comp = compare_classes(model, x, batch_size=3)
    assert comp.classes == (1, 2) and comp.counts == (10, 7)
    direct = group_means(model, x[colour == 1])
    torch.testing.assert_close(comp["0"].mean_a, direct["0"])
    torch.testing.assert_close(comp["0"].mean_b, group_means(model, x[colour == 2])["0"])
    named = compare_classes(model, x, [0, 1], class_names=["red", "green", "blue"])
    assert named.classes == (0, 1) and named.labels == ("red", "green")
    assert named.counts == (4, 10)
    tie = compare_classes(model, coloured([5, 5, 5])[0])
    assert tie.classes == (0, 1)  # ties go to the smaller class index
    with pytest.raises(ValueError, match="most frequent predictions are"):
        compare_classes(model, coloured([4, 0, 3])[0], [0, 1])
    with pytest.raises(ValueError, match="at least two predicted classes"):
        compare_classes(model, coloured([0, 6, 0])[0])


@pytest.mark.assets
def test_squeezenet_layers_after_their_fused_relu(squeezenet, course_data):
    x = course_data.x[:2].to(next(squeezenet.parameters()).device)
    comp = compare_activations(squeezenet, x[:1], x[1:], labels=("first", "second"))
    assert comp.names[0] == "features.0" and comp.names[-1] == "classifier.1"
    assert len(comp) == 26 and comp.labels == ("first", "second")
    with torch.no_grad():
        conv = squeezenet.net.features[0](squeezenet.normalize(x[:1]))
    torch.testing.assert_close(comp["features.0"].mean_a, conv[0].relu().cpu())
    assert all(layer.mean_a.min() >= 0 for layer in comp.layers)  # each conv has its ReLU
    assert hook_count(squeezenet) == 0
