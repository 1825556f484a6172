"""Student self-checks: correct solutions pass, usual mistakes fail with the right diagnosis,
and a submission that calls the package's reference fails."""

from __future__ import annotations

import random
import sys

import pytest
import torch
import torch.nn.functional as F

from netviz_tp import attacks, checks, featviz, saliency

# --- correct student solutions, written as a student would ---------------------------------


def compute_saliency_maps(X, y, model):
    X = X.clone().requires_grad_(True)
    model(X).gather(1, y.view(-1, 1)).sum().backward()
    return X.grad.abs().amax(dim=1)


def make_fooling_image(X, target_y, model, learning_rate=0.226, max_iter=100):
    X_f = X.clone()
    for _ in range(max_iter):
        with torch.no_grad():
            going = model(X_f).argmax(1) != target_y
        if not going.any():
            break
        x = X_f.clone().requires_grad_(True)
        model(x).gather(1, target_y[:, None]).sum().backward()
        g = x.grad / x.grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        X_f[going] = (X_f[going] + learning_rate * g[going]).clamp(0, 1)
    return X_f


def fgsm(model, x, target, eps=8 / 255):
    x = x.clone().requires_grad_(True)
    F.cross_entropy(model(x), target).backward()
    return (x - eps * x.grad.sign()).clamp(0, 1).detach()


def pgd(model, x, target, eps=8 / 255, alpha=2 / 255, steps=10):
    x_adv = x.clone()
    for _ in range(steps):
        xa = x_adv.clone().requires_grad_(True)
        F.cross_entropy(model(xa), target).backward()
        x_adv = x + (xa.detach() - alpha * xa.grad.sign() - x).clamp(-eps, eps)
        x_adv = x_adv.clamp(0, 1)
    return x_adv


def class_visualization_step(img, target_y, model, l2_reg=0.01, learning_rate=0.3):
    img = img.clone().requires_grad_(True)
    (model(img)[0, target_y] - l2_reg * img.norm() ** 2).backward()
    return (img + learning_rate * img.grad).detach()


def create_class_visualization(
    target_y,
    model,
    *,
    init_img=None,
    l2_reg=0.01,
    learning_rate=0.3,
    num_iterations=200,
    blur_every=10,
    blur_width=0.5,
    max_jitter=16,
    seed=0,
    progress=False,
    unjitter=True,
):
    side = model.input_size
    noise = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(seed))
    img = model.denormalize(noise).clamp(0, 1) if init_img is None else init_img.clone()
    rng = random.Random(seed)
    for t in range(num_iterations):
        ox, oy = rng.randint(0, max_jitter), rng.randint(0, max_jitter)
        img = featviz.jitter(img, ox, oy)
        img = class_visualization_step(img, target_y, model, l2_reg, learning_rate)
        img = (featviz.jitter(img, -ox, -oy) if unjitter else img).clamp(0, 1)
        if blur_every and blur_width > 0 and t % blur_every == 0:
            img = featviz.gaussian_blur(img, blur_width)
    return img


def test_correct_solutions_pass_with_a_readable_verdict(capsys):
    checks.check_saliency(compute_saliency_maps)
    checks.check_fooling(make_fooling_image)
    checks.check_fgsm(fgsm)
    checks.check_pgd(pgd)
    checks.check_class_vis_step(class_visualization_step)
    checks.check_class_visualization(create_class_visualization)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 and all(line.startswith("✔ ") for line in lines)
    assert "compute_saliency_maps: shape (4, 32, 32), non-negative" in lines[0]


def test_variants_restate_the_reference():
    """The mistake catalogues start from the exact references, so a diagnosis is trustworthy."""
    model, x = checks.tiny_setup()
    t = checks.fooling_targets(model, x)
    ref = attacks.fooling_image(model, x, t, lr=0.5, max_iter=50).x_adv
    assert torch.allclose(checks.fooling_variant(model, x, t, lr=0.5, max_iter=50), ref, atol=1e-5)
    t2 = (t + 3) % 10
    ref = attacks.pgd(model, x, t2, eps=0.03, alpha=0.01, steps=4, random_start=False).x_adv
    assert torch.allclose(checks.pgd_variant(model, x, t2, eps=0.03, alpha=0.01, steps=4), ref)


def _fails(check, fn, expected: str, **kwargs):
    with pytest.raises(AssertionError) as err:
        check(fn, **kwargs)
    assert expected in str(err.value), str(err.value)
    assert str(err.value).startswith("✘ ")


def _grad(X, y, model, objective=lambda z, y: z.gather(1, y[:, None])):
    X = X.clone().requires_grad_(True)
    objective(model(X), y).sum().backward()
    return X.grad


@pytest.mark.parametrize(
    "wrong, expected",
    [
        (lambda X, y, m: _grad(X, y, m).abs(), "max over the colour channels"),
        (lambda X, y, m: _grad(X, y, m).abs().mean(1), "mean over the colour channels"),
        (lambda X, y, m: _grad(X, y, m).amax(1), "absolute value"),
        (
            lambda X, y, m: (
                _grad(X, y, m, lambda z, y: z.softmax(1).gather(1, y[:, None])).abs().amax(1)
            ),
            "softmax",
        ),
        (
            lambda X, y, m: (
                _grad(X, y, m, lambda z, y: -F.cross_entropy(z, y, reduction="none")).abs().amax(1)
            ),
            "a cross-entropy loss instead of the class score",
        ),
        (
            lambda X, y, m: _grad(X, y, m, lambda z, y: F.cross_entropy(z, y)).abs().amax(1),
            "a cross-entropy loss (averaged over the batch) instead of the class score",
        ),
        (lambda X, y, m: _grad(X, y, m, lambda z, y: z.sum(1)).abs().amax(1), "sum of all"),
        (lambda X, y, m: _grad(X, y, m).abs().amax(1) * 2 + 1, "differ from the reference"),
    ],
)
def test_saliency_mistakes_are_named(wrong, expected):
    _fails(checks.check_saliency, wrong, expected)


def test_saliency_refuses_in_place_changes():
    def in_place(X, y, model):
        heat = compute_saliency_maps(X, y, model)
        X.mul_(0.5)
        return heat

    _fails(checks.check_saliency, in_place, "modified the images X in place")


def _fooling(**kw):
    def fn(X, target_y, model, learning_rate=0.226, max_iter=100):
        return checks.fooling_variant(model, X, target_y, lr=learning_rate, max_iter=max_iter, **kw)

    return fn


@pytest.mark.parametrize(
    "kw, expected",
    [
        (dict(per_image=False), "per-image stopping"),
        (dict(norm=None), "not normalised"),
        (dict(norm="batch"), "its own"),
        (dict(sign=-1.0), "descended"),
        (dict(clamp=False), "clamp the image to [0, 1]"),
        (dict(objective="softmax"), "softmax"),
    ],
)
def test_fooling_mistakes_are_named(kw, expected):
    _fails(checks.check_fooling, _fooling(**kw), expected)


def test_fooling_must_reach_the_targets():
    def too_short(X, target_y, model, learning_rate=0.226, max_iter=100):
        return make_fooling_image(X, target_y, model, learning_rate, max_iter=3)

    _fails(checks.check_fooling, too_short, "image 1 did not reach its target")


def test_fooling_leaves_images_already_on_target():
    def always_step(X, target_y, model, learning_rate=0.226, max_iter=100):
        x = X + 0.01 * torch.rand_like(X)  # even image 0, already classified as its target
        return make_fooling_image(x.clamp(0, 1), target_y, model, learning_rate, max_iter)

    _fails(checks.check_fooling, always_step, "image 0 is already classified as its target")


@pytest.mark.parametrize(
    "kw, expected",
    [
        (dict(sign=1.0), "untargeted direction"),
        (dict(clamp=False), "clamp x_adv"),
        (dict(use_sign=False), "raw gradient"),
        (dict(objective="score"), "cross-entropy loss"),
    ],
)
def test_fgsm_mistakes_are_named(kw, expected):
    def wrong(model, x, target, eps=8 / 255):
        return checks.fgsm_variant(model, x, target, eps=eps, **kw)

    _fails(checks.check_fgsm, wrong, expected)


@pytest.mark.parametrize(
    "kw, expected",
    [
        (dict(project=False), "left the eps-ball"),
        (dict(sign=1.0), "went up"),
        (dict(clamp=False), "clamp after each projection"),
    ],
)
def test_pgd_mistakes_are_named(kw, expected):
    def wrong(model, x, target, eps=8 / 255, alpha=2 / 255, steps=10):
        return checks.pgd_variant(model, x, target, eps=eps, alpha=alpha, steps=steps, **kw)

    _fails(checks.check_pgd, wrong, expected, eps=4 / 255, alpha=2 / 255, steps=6)


@pytest.mark.parametrize(
    "kw, expected",
    [
        (dict(sign=-1.0), "descended"),
        (dict(penalty="none"), "L2 penalty is missing"),
        (dict(penalty="norm"), "squares the norm"),
        (dict(objective="log_softmax"), "log-prob"),
    ],
)
def test_class_vis_step_mistakes_are_named(kw, expected):
    def wrong(img, target_y, model, l2_reg=0.01, learning_rate=0.3):
        t = torch.tensor([target_y])
        return checks.step_variant(model, img, t, l2_reg=l2_reg, learning_rate=learning_rate, **kw)

    _fails(checks.check_class_vis_step, wrong, expected)


def test_class_visualization_loop_must_undo_the_jitter():
    def no_unjitter(*args, **kwargs):
        return create_class_visualization(*args, unjitter=False, **kwargs)

    _fails(checks.check_class_visualization, no_unjitter, "differ from the reference")


@pytest.mark.parametrize(
    "check, cheat",
    [
        (checks.check_saliency, lambda X, y, model: saliency.compute_saliency_maps(X, y, model)),
        (
            checks.check_fooling,
            lambda X, t, model, learning_rate, max_iter: (
                attacks.fooling_image(model, X, t, lr=learning_rate, max_iter=max_iter).x_adv
            ),
        ),
        (checks.check_fgsm, lambda model, x, t, eps: attacks.fgsm(model, x, t, eps=eps).x_adv),
        (
            checks.check_pgd,
            lambda model, x, t, **kw: attacks.pgd(model, x, t, random_start=False, **kw).x_adv,
        ),
        (
            checks.check_class_vis_step,
            lambda img, t, model, l2_reg, learning_rate: (
                featviz.class_visualization(
                    model, t, init_img=img, steps=1, lr=learning_rate, l2=l2_reg
                ).x
            ),
        ),
        (
            checks.check_class_visualization,
            lambda t, model, **kw: featviz.create_class_visualization(t, model, **kw),
        ),
    ],
)
def test_calling_the_reference_fails(check, cheat):
    with pytest.raises(checks.ReferenceUsedError, match="implement the exercise yourself"):
        check(cheat)


def test_forbid_reference_catches_aliases_and_restores_tracing():
    alias = saliency.saliency  # imported before the block, under another name
    model, x = checks.tiny_setup(n=1)
    before = sys.gettrace()
    with pytest.raises(checks.ReferenceUsedError), checks.forbid_reference("saliency"):
        alias(model, x, 0)
    assert sys.gettrace() is before
    assert alias(model, x, 0).shape == (1, 32, 32)  # allowed again outside the block
    with checks.forbid_reference("featviz"):  # the helpers students are given stay allowed
        assert featviz.jitter(x, 1, 2).shape == x.shape
        assert featviz.gaussian_blur(x, 0.5).shape == x.shape


def test_catching_the_refusal_does_not_help():
    def sly(X, y, model):
        try:
            return saliency.saliency(model, X, y)
        except AssertionError:  # the tracer is gone after an error: the retry would pass
            return saliency.saliency(model, X, y)

    with pytest.raises(checks.ReferenceUsedError):
        checks.check_saliency(sly)


def test_not_implemented_propagates_unchanged():
    def stub(X, y, model):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        checks.check_saliency(stub)


def test_saliency_check_on_the_real_network(squeezenet, course_data):
    x, y = course_data.x[:2], course_data.y[:2]
    checks.check_saliency(compute_saliency_maps, squeezenet, x, y, tol=1e-4)
    with pytest.raises(AssertionError, match="mean over the colour channels"):
        checks.check_saliency(lambda X, y, m: _grad(X, y, m).abs().mean(1), squeezenet, x, y)
