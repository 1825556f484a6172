"""The fooling-rate measure of seed 000: curves, references, errors."""

from __future__ import annotations

import pytest
import torch

from netviz_tp.attacks import fooling_and_hit_rates, fooling_rate
from netviz_tp.fooling import (
    as_perturbation,
    check_coefficients,
    class_hits,
    fooling_curve,
    gradient_ascent_references,
    shuffled,
    sign_noise,
    universal_references,
)
from netviz_tp.plot import plot_fooling_curves


def test_zero_perturbation_fools_nothing(tiny, images):
    zero = torch.zeros(2, 3, 32, 32)
    curve = fooling_curve(tiny, images, zero, [1, 7], e=[1, 35])
    assert curve.fooling == (0.0, 0.0)
    clean = tiny(images).argmax(1)
    expected = ((clean == 1).float().mean() + (clean == 7).float().mean()).item() / 2
    assert curve.hit == pytest.approx((expected, expected))  # already predicted: a hit


def test_curve_averages_the_per_class_rates_of_attacks(tiny, images):
    v = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    e = [5, 60, 200]
    curve = fooling_curve(tiny, images, v, [0, 3, 8], e=e, name="random")
    for k, c in enumerate([0, 3, 8]):
        for j, scale in enumerate(e):
            delta = scale / 255 * v[k : k + 1]
            assert curve.per_class_fooling[k, j] == fooling_rate(tiny, images, delta)
            assert curve.per_class_hit[k, j] == fooling_rate(tiny, images, delta, c)
    assert curve.fooling == pytest.approx(tuple(curve.per_class_fooling.mean(0).tolist()))
    assert curve.at(60) == (curve.fooling[1], curve.hit[1])
    with pytest.raises(ValueError, match="not measured"):
        curve.at(10)


def test_fooling_and_hit_rates_accept_known_clean_predictions(tiny, images):
    delta = torch.full((1, 3, 32, 32), 0.3)
    clean = tiny(images).argmax(1)
    assert fooling_and_hit_rates(tiny, images, delta, [1.0], 2, clean=clean) == (
        fooling_and_hit_rates(tiny, images, delta, [1.0], 2)
    )


def test_perturbations_have_unit_linf():
    x = torch.rand(3, 3, 8, 8) * 0.5 + 0.2
    v = as_perturbation(x)
    assert torch.allclose(v.abs().flatten(1).amax(1), torch.ones(3))
    assert torch.equal(as_perturbation(torch.full((1, 3, 4, 4), 0.5)), torch.zeros(1, 3, 4, 4))
    noise = sign_noise(v, seed=1)
    assert set(noise.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(noise, sign_noise(v, seed=1)) and not torch.equal(noise, sign_noise(v))
    mixed = shuffled(v, seed=1)
    assert not torch.equal(mixed, v)
    for a, b in zip(mixed.flatten(2), v.flatten(2), strict=True):  # same values per channel
        assert torch.equal(a.sort(1).values, b.sort(1).values)
    grey = shuffled(v[:, :1].expand(-1, 3, -1, -1), seed=2)  # one permutation for all channels
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 0], grey[:, 2])


@pytest.mark.parametrize("e", [[0], [-1, 5], [256], [], [float("nan")], ["10"]])
def test_coefficients_out_of_range_are_refused(e):
    with pytest.raises(ValueError, match=r"\(0, 255\]"):
        check_coefficients(e)


def test_bad_perturbations_are_refused(tiny, images):
    with pytest.raises(ValueError, match="as_perturbation"):
        fooling_curve(tiny, images, torch.full((1, 3, 32, 32), 2.0), [0])
    with pytest.raises(ValueError, match="2 targets for 1 images"):
        fooling_curve(tiny, images, torch.zeros(1, 3, 32, 32), [0, 1])
    with pytest.raises(ValueError, match=r"0\.\.9"):
        fooling_curve(tiny, images, torch.zeros(1, 3, 32, 32), [12])
    with pytest.raises(ValueError, match="shape"):
        fooling_curve(tiny, images, torch.zeros(1, 3, 16, 16), [0])


def test_references_are_unit_perturbations_of_the_images_size(tiny, images):
    ga = gradient_ascent_references(tiny, [1, 2], steps=3)
    uap = universal_references(tiny, images, [1, 2], steps=3)
    for v in (ga, uap):
        assert v.shape == (2, 3, 32, 32) and v.abs().max() <= 1
    assert class_hits(tiny, images[:2], [0, 0]).dtype == torch.bool


def test_curves_plot(tiny, images):
    a = fooling_curve(tiny, images, sign_noise(torch.zeros(1, 3, 32, 32)), [0], e=[1, 2], name="n")
    fig = plot_fooling_curves([a, a], title="t")
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
