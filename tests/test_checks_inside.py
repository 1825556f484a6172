"""Self-checks of practical 4: a correct Grad-CAM and a correct ranking pass, each usual
mistake fails with its diagnosis, and calling the package's reference fails."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from netviz_tp import checks
from netviz_tp.cam import grad_cam as reference_grad_cam
from netviz_tp.hooks import capture
from netviz_tp.models import load_model


def make_grad_cam(*, relu=True, weights="mean", softmax=False, layer_override=None):
    """A student's Grad-CAM, optionally with one of the usual mistakes."""

    def grad_cam(model, x, target, layer):
        with capture(model, layer_override or layer, grads=True) as rec:
            scores = model(x)
            scores = scores.softmax(1) if softmax else scores
            scores.gather(1, target[:, None]).sum().backward()
        act = rec.activations[layer_override or layer].detach()
        grad = rec.gradients[layer_override or layer]
        if weights == "pixel":
            heat = (grad * act).sum(1)
        else:
            alpha = grad.mean((2, 3)) if weights == "mean" else grad.sum((2, 3))
            heat = (alpha[:, :, None, None] * act).sum(1)
        heat = heat.relu() if relu else heat
        return F.interpolate(heat[:, None], size=x.shape[-2:], mode="bilinear")[:, 0]

    return grad_cam


def test_a_correct_grad_cam_passes(capsys):
    checks.check_grad_cam(make_grad_cam())
    checks.check_grad_cam(make_grad_cam(), seed=1)
    assert capsys.readouterr().out.count("✔ grad_cam") == 2


@pytest.mark.parametrize(
    "mistake, words",
    [
        (dict(relu=False), "apply a ReLU"),
        (dict(weights="pixel"), "position by position"),
        (dict(weights="sum"), "summed the gradients over space"),
        (dict(softmax=True), "softmax probability"),
        (dict(layer_override="0"), "map of layer '0'"),
    ],
)
def test_grad_cam_mistakes_are_diagnosed(mistake, words):
    with pytest.raises(AssertionError, match=words):
        checks.check_grad_cam(make_grad_cam(**mistake))


def test_grad_cam_shape_and_reference_use_are_caught():
    def low_res(model, x, target, layer):
        return make_grad_cam()(model, x, target, layer)[:, ::2, ::2]

    with pytest.raises(AssertionError, match="upsample"):
        checks.check_grad_cam(low_res)

    def cheat(model, x, target, layer):
        return reference_grad_cam(model, x, target, layer=layer)

    with pytest.raises(AssertionError, match="reference grad_cam"):
        checks.check_grad_cam(cheat)


def test_cam_variant_defaults_are_the_reference(tiny, images):
    t = torch.tensor([1, 2, 3, 4])
    torch.testing.assert_close(
        checks.cam_variant(tiny, images, t, "3"), reference_grad_cam(tiny, images, t, layer="3")
    )


def ranked_differences(acts_a, acts_b, ord=2):
    delta = acts_a.mean(0) - acts_b.mean(0)
    norms = torch.linalg.vector_norm(delta.flatten(1), ord=ord, dim=1)
    return delta, norms, norms.argsort(descending=True)


def test_a_correct_ranking_passes(capsys):
    for ord in (1, 2, float("inf")):
        checks.check_ranked_differences(ranked_differences, ord=ord)
    assert capsys.readouterr().out.count("✔ ranked_differences") == 3


def _swapped(a, b, ord=2):
    return ranked_differences(b, a, ord)


def _absolute(a, b, ord=2):
    delta, _, _ = ranked_differences(a, b, ord)
    norms = torch.linalg.vector_norm(delta.flatten(1), ord=ord, dim=1)
    return delta.abs(), norms, norms.argsort(descending=True)


def _matrix_norm(a, b, ord=2):
    delta = a.mean(0) - b.mean(0)
    norms = torch.linalg.norm(delta, ord=ord, dim=(1, 2))
    return delta, norms, norms.argsort(descending=True)


def _ascending(a, b, ord=2):
    delta, norms, ranking = ranked_differences(a, b, ord)
    return delta, norms, ranking.flip(0)


def _cheat(a, b, ord=2):
    from netviz_tp.activations import rank_filters

    delta = a.mean(0) - b.mean(0)
    return (delta, *rank_filters(delta, ord))


@pytest.mark.parametrize(
    "fn, words",
    [
        (_swapped, "B - A"),
        (_absolute, "absolute difference"),
        (_matrix_norm, "matrix norm"),
        (_ascending, "increasing order"),
        (_cheat, "reference rank_filters"),
    ],
)
def test_ranking_mistakes_are_diagnosed(fn, words):
    with pytest.raises(AssertionError, match=words):
        checks.check_ranked_differences(fn)


def test_checks_run_on_the_mnist_network_shapes():
    model = load_model("mnist_cnn", weights=None, device="cpu")
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    checks.check_grad_cam(make_grad_cam(), model, x, torch.tensor([0, 1, 2]), layer="relu3")
