"""Adversarial checks: ``check_fooling``, ``check_fgsm``, ``check_pgd`` against netviz_tp.attacks.

Each mistake catalogue is a ``*_variant`` function: the reference rule restated with one knob
changed (tests/test_checks.py checks that the default knobs give the reference exactly).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import attacks
from .common import close, diagnose, failed, input_grad, passed, pick, run_student, tiny_setup

SIGN_SLACK = 1e-4
"""FGSM / PGD: the fraction of pixels allowed to differ (a sign flips where a gradient is ~0
and two correct formulas round differently)."""


# --- fooling images ------------------------------------------------------------------------


def fooling_variant(
    model,
    x,
    t,
    *,
    lr,
    max_iter,
    per_image=True,
    norm="image",
    clamp=True,
    sign=1.0,
    objective="score",
) -> torch.Tensor:
    """The course fooling rule with one knob changed (the catalogue of usual mistakes)."""
    x_adv = x.detach().clone()
    logits_fn = {"score": lambda z: z, "softmax": lambda z: z.softmax(1)}[objective]
    for _ in range(max_iter):
        with torch.no_grad():
            going = model(x_adv).argmax(1) != t
        if not going.any():
            break
        g = input_grad(model, x_adv, pick(logits_fn, t))
        if norm == "image":
            g = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        elif norm == "batch":
            g = g / g.norm().clamp_min(1e-12)
        step = sign * lr * g
        x_adv = x_adv + (step * going.view(-1, 1, 1, 1) if per_image else step)
        if clamp:
            x_adv = x_adv.clamp(0, 1)
    return x_adv


def fooling_targets(model, x) -> torch.Tensor:
    """Targets for a fooling check: image 0 keeps its prediction (the rule must leave it
    untouched); the others aim at a class other than their prediction."""
    with torch.no_grad():
        pred = model(x).argmax(1)
    t = pred + 1 + torch.arange(len(x), device=pred.device) % (model.num_classes - 1)
    t = t % model.num_classes
    t[0] = pred[0]
    return t


_FOOLING_MISTAKES = [
    (
        "images that reached their target kept moving: stop each image as soon as it is "
        "classified as the target (per-image stopping)",
        dict(per_image=False),
    ),
    ("the step is not normalised: use x + lr * g / ||g||_2", dict(norm=None)),
    (
        "g was normalised over the whole batch: divide each image's gradient by its own L2 norm",
        dict(norm="batch"),
    ),
    (
        "you descended the target score: the rule ascends it, x <- x + lr * g / ||g||",
        dict(sign=-1.0),
    ),
    (
        "you differentiated the softmax probability: use the target's score (logit)",
        dict(objective="softmax"),
    ),
]


def check_fooling(
    fn,
    model=None,
    x=None,
    target=None,
    *,
    lr: float = 0.5,
    max_iter: int = 50,
    seed: int = 0,
    tol: float = 1e-4,
) -> None:
    """Check ``fn(X, target_y, model, learning_rate=, max_iter=) -> X_fooling`` against
    :func:`netviz_tp.attacks.fooling_image` (the course rule with per-image stopping)."""
    name = getattr(fn, "__name__", "make_fooling_image")
    if model is None:
        model, x = tiny_setup(seed)
    t = fooling_targets(model, x) if target is None else torch.as_tensor(target).long()
    t = t.to(x.device)
    ref = attacks.fooling_image(model, x, t, lr=lr, max_iter=max_iter)
    x_in = x.clone()
    out = run_student(
        name, "attacks", fn, x_in, t.clone(), model, learning_rate=lr, max_iter=max_iter
    )
    if tuple(out.shape) != tuple(x.shape):
        failed(name, f"expected the fooling images, shape {tuple(x.shape)}, got {tuple(out.shape)}")
    if not torch.equal(x_in, x):
        failed(name, "your function modified the images X in place: work on a copy")
    out = out.to(ref.x_adv.device)
    if out.min() < 0 or out.max() > 1:
        failed(
            name,
            f"pixels left [0, 1] (range [{out.min():.3g}, {out.max():.3g}]): clamp "
            "the image to [0, 1] after each step",
        )
    with torch.no_grad():
        pred = model(out).argmax(1)
    reached = pred == t
    if not close(out, ref.x_adv, tol):
        for message, kw in _FOOLING_MISTAKES:
            if close(out, fooling_variant(model, x, t, lr=lr, max_iter=max_iter, **kw), tol):
                failed(name, message)
        for i in ((ref.iterations == 0) & ref.success).nonzero().flatten().tolist():
            if not torch.equal(out[i], x[i].to(out.device)):
                failed(
                    name,
                    f"image {i} is already classified as its target, so the rule "
                    "leaves it unchanged: check the prediction before each step, image by "
                    "image",
                )
        for i in (ref.success & ~reached).nonzero().flatten().tolist():
            failed(
                name,
                f"image {i} did not reach its target {int(t[i])} (predicted "
                f"{int(pred[i])}) although the course rule does within {max_iter} steps",
            )
        diagnose(name, out, ref.x_adv, [], tol, "fooling images")
    done = f"{int(reached.sum())}/{len(t)} images reach their target"
    passed(
        name,
        f"{done}, each stopping at its own step ({ref.iterations.tolist()}); "
        f"matches the reference within {tol:g}",
    )


# --- FGSM and PGD --------------------------------------------------------------------------


def _attack_setup(model, x, target, seed: int):
    """Model, images and targets of an FGSM / PGD check (the tiny seeded setup by default);
    by default image 0 aims at a class other than its prediction too (a targeted attack needs
    a target not yet predicted)."""
    if model is None:
        model, x = tiny_setup(seed)
    if target is None:
        t = fooling_targets(model, x)
        t[0] = (t[0] + 3) % model.num_classes
    else:
        t = torch.as_tensor(target)
    return model, x, t.to(x.device)


def _x_adv(name: str, out: torch.Tensor, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    if tuple(out.shape) != tuple(x.shape):
        failed(name, f"expected x_adv of shape {tuple(x.shape)}, got {tuple(out.shape)}")
    return out.to(ref.device)


def fgsm_variant(model, x, t, *, eps, sign=-1.0, use_sign=True, objective="ce", clamp=True):
    """Targeted FGSM ``clamp(x - eps * sign(grad CE(model(x), t)))`` with one knob changed."""
    if objective == "ce":
        g = input_grad(model, x, lambda z: F.cross_entropy(z, t, reduction="none"))
    else:
        g = -input_grad(model, x, pick(lambda z: z, t))
    out = x + sign * eps * (g.sign() if use_sign else g)
    return out.clamp(0, 1) if clamp else out


def check_fgsm(
    fn, model=None, x=None, target=None, *, eps: float = 8 / 255, seed: int = 0, tol: float = 1e-5
) -> None:
    """Check a targeted ``fn(model, x, target, eps=) -> x_adv`` against
    :func:`netviz_tp.attacks.fgsm`."""
    name = getattr(fn, "__name__", "fgsm")
    model, x, t = _attack_setup(model, x, target, seed)
    ref = attacks.fgsm(model, x, t, eps=eps).x_adv
    out = _x_adv(
        name, run_student(name, "attacks", fn, model, x.clone(), t.clone(), eps=eps), x, ref
    )

    def step(**kw):
        return lambda: fgsm_variant(model, x, t, eps=eps, **kw)

    mistakes = [
        (
            "you stepped up the cross-entropy of the target (untargeted direction): a targeted "
            "attack goes down, x - eps * sign(grad)",
            step(sign=1.0),
        ),
        ("pixels must stay in [0, 1]: clamp x_adv", step(clamp=False)),
        ("you used the raw gradient: FGSM steps by eps * sign(gradient)", step(use_sign=False)),
        (
            "you used the gradient of the target's score: FGSM uses the cross-entropy loss with "
            "the target (the signs differ where the other classes matter)",
            step(objective="score"),
        ),
    ]
    diagnose(name, out, ref, mistakes, tol, "adversarial images", SIGN_SLACK)
    linf = (out - x.to(out.device)).abs().max().item() * 255
    passed(
        name,
        f"targeted one-step attack, L-inf = {linf:.1f}/255 <= {eps * 255:.0f}/255, "
        f"matches the reference within {tol:g}",
    )


def pgd_variant(model, x, t, *, eps, alpha, steps, project=True, clamp=True, sign=-1.0):
    """Targeted L-inf PGD without random start, with one knob changed."""
    x_adv = x.detach().clone()
    for _ in range(steps):
        g = input_grad(model, x_adv, lambda z: F.cross_entropy(z, t, reduction="none"))
        x_adv = x_adv + sign * alpha * g.sign()
        if project:
            x_adv = x + (x_adv - x).clamp(-eps, eps)
        if clamp:
            x_adv = x_adv.clamp(0, 1)
    return x_adv


def check_pgd(
    fn,
    model=None,
    x=None,
    target=None,
    *,
    eps: float = 8 / 255,
    alpha: float = 2 / 255,
    steps: int = 6,
    seed: int = 0,
    tol: float = 1e-5,
) -> None:
    """Check a targeted L-inf ``fn(model, x, target, eps=, alpha=, steps=) -> x_adv`` (no
    random start) against :func:`netviz_tp.attacks.pgd`."""
    name = getattr(fn, "__name__", "pgd")
    model, x, t = _attack_setup(model, x, target, seed)
    knobs = dict(eps=eps, alpha=alpha, steps=steps)
    ref = attacks.pgd(model, x, t, **knobs, random_start=False).x_adv
    out = _x_adv(
        name, run_student(name, "attacks", fn, model, x.clone(), t.clone(), **knobs), x, ref
    )
    linf = (out - x.to(out.device)).abs().max().item()
    if linf > eps + 1e-6:
        failed(
            name,
            f"x_adv left the eps-ball: max |x_adv - x| = {linf * 255:.2f}/255 > "
            f"{eps * 255:.0f}/255; project onto [x - eps, x + eps] after every step",
        )

    def run(**kw):
        return lambda: pgd_variant(model, x, t, **knobs, **kw)

    mistakes = [
        ("you went up the cross-entropy of the target: a targeted attack goes down", run(sign=1.0)),
        ("pixels must stay in [0, 1]: clamp after each projection", run(clamp=False)),
    ]
    diagnose(name, out, ref, mistakes, tol, "adversarial images", SIGN_SLACK)
    passed(
        name,
        f"{steps} projected steps, L-inf = {linf * 255:.1f}/255 <= {eps * 255:.0f}"
        f"/255, matches the reference within {tol:g}",
    )
