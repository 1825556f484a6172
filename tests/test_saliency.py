"""saliency: the contract of every registered attribution method, the gradient methods against
autograd and captum, SmoothGrad and IG properties, and the Adebayo sanity check on SqueezeNet."""

from __future__ import annotations

import pytest
import torch
from helpers import hook_count
from scipy.stats import spearmanr

from netviz_tp.models import load_model
from netviz_tp.saliency import (
    ATTRIBUTIONS,
    compute_saliency_maps,
    ig_attributions,
    integrated_gradients,
    saliency,
    smoothgrad,
)
from netviz_tp.validate import device_of

METHODS = list(ATTRIBUTIONS.items())
IDS = list(ATTRIBUTIONS)
TARGET = torch.tensor([1, 4, 7, 9])


def logit(model, x, t):
    with torch.no_grad():
        return model(x).gather(1, t[:, None])[:, 0]


# --- the contract, for every method of the table ----------------------------------------


@pytest.mark.parametrize(("name", "method"), METHODS, ids=IDS)
def test_contract_shape_range_and_batching(name, method, tiny, images):
    heat = method(tiny, images, TARGET)
    assert heat.shape == (4, 32, 32) and heat.dtype == torch.float32
    assert torch.isfinite(heat).all() and (heat >= 0).all() and (heat > 0).any()
    one_by_one = torch.cat([method(tiny, images[i : i + 1], TARGET[i]) for i in range(4)])
    torch.testing.assert_close(heat, one_by_one, rtol=1e-4, atol=1e-6 * heat.max().item())


@pytest.mark.parametrize(("name", "method"), METHODS, ids=IDS)
def test_contract_target_forms(name, method, tiny, images):
    reference = method(tiny, images, torch.tensor([1, 1, 1, 1]))
    for target in (1, [1, 1, 1, 1], torch.tensor(1), "goldfish"):  # goldfish is class 1
        torch.testing.assert_close(method(tiny, images, target), reference, msg=repr(target))
    per_image = method(tiny, images, TARGET.tolist())
    torch.testing.assert_close(per_image, method(tiny, images, TARGET))
    assert not torch.allclose(per_image, reference)


def _trainable(model):
    for p in model.parameters():
        p.requires_grad_(True)
    return model


BAD_INPUTS = {
    "one image without batch axis": (lambda m, x: (m, x[0], 1), ValueError, "batch"),
    "uint8 pixels": (lambda m, x: (m, (x * 255).to(torch.uint8), 1), TypeError, "floating"),
    "values above 1": (lambda m, x: (m, x * 255, 1), ValueError, r"\[0, 1\]"),
    "wrong channels": (lambda m, x: (m, x[:, :1], 1), ValueError, "channels"),
    "target out of range": (lambda m, x: (m, x, 10), ValueError, "0..9"),
    "too many targets": (lambda m, x: (m, x, [1, 2]), ValueError, "2 targets for 4"),
    "float target": (lambda m, x: (m, x, torch.ones(4)), TypeError, "integer"),
    "train-mode model": (lambda m, x: (m.train(), x, 1), ValueError, "train mode"),
    "trainable model": (lambda m, x: (_trainable(m), x, 1), ValueError, "trainable"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
@pytest.mark.parametrize(("name", "method"), METHODS, ids=IDS)
def test_contract_rejects_bad_input(name, method, case, tiny, images):
    make, error, message = BAD_INPUTS[case]
    with pytest.raises(error, match=message):
        method(*make(tiny, images))


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize(("name", "method"), METHODS, ids=IDS)
def test_contract_leaves_input_and_model_untouched(name, method, requires_grad, tiny, images):
    x = images.clone().requires_grad_(requires_grad)
    state = {k: v.clone() for k, v in tiny.state_dict().items()}
    method(tiny, x, TARGET)
    assert x.requires_grad is requires_grad and x.grad is None
    torch.testing.assert_close(x.detach(), images, rtol=0, atol=0)
    assert not tiny.training and hook_count(tiny) == 0
    assert all(not p.requires_grad and p.grad is None for p in tiny.parameters())
    for key, value in tiny.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)


# --- vanilla saliency -------------------------------------------------------------------


def test_saliency_matches_the_jacobian(tiny, images):
    heat = saliency(tiny, images, TARGET)
    for i in range(4):
        jac = torch.autograd.functional.jacobian(lambda z: tiny(z[None])[0], images[i])
        torch.testing.assert_close(heat[i], jac[TARGET[i]].abs().amax(dim=0))


def test_saliency_matches_captum(tiny, images):
    attr = pytest.importorskip("captum.attr", reason="captum is the peer oracle")
    expected = (
        attr.Saliency(tiny)
        .attribute(images.clone().requires_grad_(), target=TARGET, abs=True)
        .amax(1)
    )
    torch.testing.assert_close(saliency(tiny, images, TARGET), expected)


def test_course_alias_takes_x_y_model(tiny, images):
    torch.testing.assert_close(
        compute_saliency_maps(images, TARGET, tiny), saliency(tiny, images, TARGET)
    )


def test_gradient_wrt_normalised_input_is_rescaled_by_std(squeezenet, course_data):
    """The course differentiates w.r.t. z = (x - mean) / std: |d/dz| = std_c * |d/dx|."""
    device = device_of(squeezenet)
    x, t = course_data.x[:1].to(device), course_data.y[:1].to(device)
    z = squeezenet.normalize(x).requires_grad_(True)
    (grad_z,) = torch.autograd.grad(squeezenet.net(z)[0, t[0]], z)
    std = squeezenet.std
    heat = saliency(squeezenet, x, t)
    torch.testing.assert_close((grad_z.abs() / std).amax(dim=1), heat, rtol=1e-4, atol=1e-9)
    course = grad_z.abs().amax(dim=1)
    assert (course >= std.min() * heat * (1 - 1e-5)).all()
    assert (course <= std.max() * heat * (1 + 1e-5)).all()


# --- SmoothGrad -------------------------------------------------------------------------


def test_smoothgrad_is_the_saliency_of_the_mean_noisy_gradient(tiny, images):
    """Oracle: the definition written out, with sigma = noise * (max - min) per image."""
    gen = torch.Generator().manual_seed(3)
    eps = [torch.randn(3, 32, 32, generator=gen) for _ in range(5)]
    sigma = 0.2 * (images.amax(dim=(1, 2, 3)) - images.amin(dim=(1, 2, 3)))
    total = torch.zeros_like(images)
    for e in eps:
        noisy = (images + sigma[:, None, None, None] * e).requires_grad_(True)
        score = tiny(noisy).gather(1, TARGET[:, None]).sum()
        total += torch.autograd.grad(score, noisy)[0]
    expected = (total / 5).abs().amax(dim=1)
    got = smoothgrad(tiny, images, TARGET, n_samples=5, noise=0.2, seed=3, batch_size=8)
    torch.testing.assert_close(got, expected)


def test_smoothgrad_seed_batch_size_and_zero_noise(tiny, images):
    heat = smoothgrad(tiny, images, TARGET, n_samples=6)
    torch.testing.assert_close(smoothgrad(tiny, images, TARGET, n_samples=6, batch_size=1), heat)
    torch.testing.assert_close(smoothgrad(tiny, images, TARGET, n_samples=6, batch_size=99), heat)
    assert not torch.allclose(smoothgrad(tiny, images, TARGET, n_samples=6, seed=1), heat)
    zero = smoothgrad(tiny, images, TARGET, n_samples=3, noise=0.0)
    torch.testing.assert_close(zero, saliency(tiny, images, TARGET))
    with pytest.raises(ValueError, match="n_samples"):
        smoothgrad(tiny, images, TARGET, n_samples=0)


# --- Integrated Gradients ---------------------------------------------------------------


def test_ig_matches_captum_midpoint_rule(tiny, images):
    attr = pytest.importorskip("captum.attr", reason="captum is the peer oracle")
    ig = attr.IntegratedGradients(tiny)
    expected = ig.attribute(images, target=TARGET, n_steps=16, method="riemann_middle")
    torch.testing.assert_close(ig_attributions(tiny, images, TARGET, steps=16), expected)
    heat = integrated_gradients(tiny, images, TARGET, steps=16)
    torch.testing.assert_close(heat, expected.abs().sum(dim=1))


@pytest.mark.parametrize("baseline", ["black", "grey", "per-image"])
def test_ig_completeness(tiny, images, baseline):
    """Prop. 1: attributions add up to score(x) - score(baseline)."""
    base = {
        "black": torch.zeros(1, 3, 32, 32),
        "grey": torch.full((1, 3, 32, 32), 0.5),
        "per-image": images.flip(0),
    }[baseline]
    attributions = ig_attributions(tiny, images, TARGET, baseline=base, steps=256, batch_size=1024)
    gap = logit(tiny, images, TARGET) - logit(tiny, base.expand_as(images), TARGET)
    assert gap.abs().min() > 0.01  # the check has something to measure
    torch.testing.assert_close(attributions.sum(dim=(1, 2, 3)), gap, rtol=1e-2, atol=5e-3)
    coarse = ig_attributions(tiny, images, TARGET, baseline=base, steps=2).sum(dim=(1, 2, 3))
    assert (coarse - gap).abs().max() > 5e-3  # and 2 steps are not enough to pass it


def test_ig_rejects_a_baseline_of_the_wrong_shape(tiny, images):
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(tiny, images, TARGET, baseline=torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="steps"):
        integrated_gradients(tiny, images, TARGET, steps=0)


# --- real SqueezeNet: the model-randomisation sanity check -------------------------------


def rank_correlations(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's rho between paired maps; a constant map ranks nothing and counts as 0."""
    rhos = []
    for u, v in zip(a, b, strict=True):
        u, v = u.flatten().cpu().numpy(), v.flatten().cpu().numpy()
        rhos.append(0.0 if u.min() == u.max() or v.min() == v.max() else spearmanr(u, v)[0])
    return torch.tensor(rhos)


def test_saliency_depends_on_the_learned_weights(squeezenet, recognised):
    """Adebayo et al. 2018 (arXiv:1810.03292): maps of the trained SqueezeNet and of the same
    architecture with random weights must differ far more than maps of the trained model under
    2/255 pixel noise. Measured on the 13 correctly classified course images, mean rho: 0.21
    trained vs random (0.15 to 0.26 over random seeds 0 to 3; not 0, since a gradient map
    also follows the image's edges), 0.68 trained vs noisy input, 0.64 trained, true vs
    another class. The bounds leave a margin of about 0.2 on each side."""
    x, y = recognised
    device = device_of(squeezenet)
    random = load_model("squeezenet1_1", weights=None, seed=0, device=device)
    gen = torch.Generator().manual_seed(1)
    noisy = (x + 2 / 255 * torch.randn(x.shape, generator=gen).to(device)).clamp(0, 1)
    heat = saliency(squeezenet, x, y)
    to_random = rank_correlations(heat, saliency(random, x, y)).mean()
    to_noisy = rank_correlations(heat, saliency(squeezenet, noisy, y)).mean()
    assert to_random < 0.4
    assert to_noisy > to_random + 0.25
