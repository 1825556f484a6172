"""Practical-5 checks: a right answer passes, each usual mistake is named, no reference use."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from netviz_tp.checks.generators import check_fooling_curve, check_generator_step, curve_variant
from netviz_tp.generators import conditional_loss, fit_to


def generator_step(generator, model, optimizer, index, *, mistake=None):
    """A student's update, right unless ``mistake`` names one."""
    if mistake != "no zero_grad":
        optimizer.zero_grad()
    t = generator(index)
    x = t if mistake == "raw" else (t + 1) / 2
    logits = model(fit_to(x, model.input_size))
    target = index if mistake == "index" else generator.units[index]
    if mistake == "softmax":
        logits = logits.softmax(1)
    loss = F.cross_entropy(logits, target)
    if mistake == "ascent":
        loss = -loss
    loss.backward()
    if mistake != "no step":
        optimizer.step()
    return loss.item()


@pytest.mark.parametrize("seed", [0, 1])
def test_a_right_step_passes(capsys, seed):
    check_generator_step(generator_step, seed=seed)
    assert "✔ generator_step" in capsys.readouterr().out


def float64_step(generator, model, optimizer, index):
    """Right, written otherwise: gradients set to None by hand, a float64 log-softmax. Adam's
    first step is about lr * sign(gradient), so where a gradient is ~0 the float noise flips
    whole steps (3.5 % of the parameters here): the check must still see a right answer."""
    for p in generator.parameters():
        p.grad = None
    x = fit_to(generator(index).add(1).mul(0.5), model.input_size)
    log_p = torch.log_softmax(model(x).double(), dim=1)
    loss = -log_p[torch.arange(len(index)), generator.units[index]].mean()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_right_step_written_otherwise_passes(capsys, seed):
    check_generator_step(float64_step, seed=seed)
    assert "✔ float64_step" in capsys.readouterr().out


@pytest.mark.parametrize(
    "mistake,message",
    [
        ("raw", r"\(t \+ 1\) / 2"),
        ("index", "generator.units"),
        ("ascent", "maximised"),
        ("softmax", "softmax first"),
        ("no zero_grad", "zero_grad"),
        ("no step", "did not change"),
    ],
)
def test_step_mistakes_are_named(mistake, message):
    with pytest.raises(AssertionError, match=message):
        check_generator_step(lambda *a: generator_step(*a, mistake=mistake))


def test_a_step_that_trains_the_classifier_fails():
    def greedy(generator, model, optimizer, index):
        loss = generator_step(generator, model, optimizer, index)
        with torch.no_grad():
            next(model.parameters()).add_(1.0)
        return loss

    with pytest.raises(AssertionError, match="classifier's weights changed"):
        check_generator_step(greedy)


def test_the_reference_loss_is_refused():
    def lazy(generator, model, optimizer, index):
        optimizer.zero_grad()
        x = fit_to((generator(index) + 1) / 2, model.input_size)
        loss = conditional_loss(model, x, generator.units[index])
        loss.backward()
        optimizer.step()
        return loss.item()

    with pytest.raises(AssertionError, match="reference conditional_loss"):
        check_generator_step(lazy)


def fooling_curve(model, x, v, target, e):
    return curve_variant(model, x, v, target, e)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_right_curve_passes(capsys, seed):
    check_fooling_curve(fooling_curve, seed=seed)
    assert "✔ fooling_curve" in capsys.readouterr().out


@pytest.mark.parametrize(
    "knobs,message",
    [
        (dict(scale=1.0), "/ 255"),
        (dict(clamp=False), "clamp"),
        (dict(inverted=True), r"\*differs\*"),
        (dict(reference="target"), "not 'differs from the visualised class'"),
    ],
)
def test_curve_mistakes_are_named(knobs, message):
    with pytest.raises(AssertionError, match=message):
        check_fooling_curve(lambda m, x, v, t, e: curve_variant(m, x, v, t, e, **knobs))


def test_a_curve_of_the_wrong_length_fails():
    with pytest.raises(AssertionError, match="one rate per coefficient"):
        check_fooling_curve(lambda m, x, v, t, e: ([0.0], [0.0]))
