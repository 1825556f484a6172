"""Student self-checks and grading checks: ``check_*(fn, ...)`` prints ✔ or raises AssertionError.

Each check runs the student's function on seeded inputs (a tiny CNN on 32x32 images by
default, or the model and images given) and compares it with the package's reference,
computed *before* the student's code runs. The student's code runs inside
:func:`forbid_reference`, so calling the package's own implementation fails the check. When
the result is wrong, the check recognises the usual mistakes (a variant of the method that
the result matches) and says which. These checks are the public part of every graded test
cell; the hidden part calls them again on other inputs. Printing the verdict is the point of
this module, the one exception to the package's no-print rule.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from . import attacks, featviz, saliency
from .models import tiny_cnn


class ReferenceUsedError(AssertionError):
    """The student's function called the package's reference implementation."""


# What each exercise may not call: whole modules (by file) or single functions.
_FORBIDDEN = {
    "saliency": ([saliency], []),
    "attacks": ([attacks], []),
    "featviz": (
        [],
        [featviz.class_visualization, featviz.create_class_visualization, featviz._ascend],
    ),
}


@contextlib.contextmanager
def forbid_reference(*families: str):
    """Make the package's reference implementations raise :class:`ReferenceUsedError`.

    ``families``: "saliency", "attacks", "featviz" (default: all). Works however the
    function was imported (a Python call is caught by the code it runs, via ``sys.settrace``);
    helpers a student may use (``featviz.jitter``, ``featviz.gaussian_blur``) stay allowed.
    """
    files, codes = set(), set()
    for family in families or tuple(_FORBIDDEN):
        modules, functions = _FORBIDDEN[family]
        files.update(str(Path(m.__file__).resolve()) for m in modules)
        codes.update(f.__code__ for f in functions)
    resolved: dict[str, str] = {}
    used: list = []  # remembered: the code under test may catch the error
    previous = sys.gettrace()

    def refuse(code, file):
        return ReferenceUsedError(
            f"your code called the package's reference {code.co_name}() "
            f"({Path(file).name}): implement the exercise yourself, with torch"
        )

    def tracer(frame, event, arg):
        if event == "call":
            code = frame.f_code
            name = resolved.get(code.co_filename)
            if name is None:
                name = resolved[code.co_filename] = str(Path(code.co_filename).resolve())
            if code in codes or name in files:
                used.append((code, name))
                raise refuse(code, name)
        return previous(frame, event, arg) if previous is not None else None

    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)
    if used:
        raise refuse(*used[0])


# --- verdicts ------------------------------------------------------------------------------


def _passed(name: str, message: str) -> None:
    print(f"✔ {name}: {message}")


def _failed(name: str, message: str):
    raise AssertionError(f"✘ {name}: {message}")


def _close(a: torch.Tensor, b: torch.Tensor, tol: float, allowed: float = 0.0) -> bool:
    """Equal within ``tol`` relative to the scale of ``b`` (plus ``tol`` absolute), except for
    at most a fraction ``allowed`` of the entries (sign steps flip where a gradient is ~0)."""
    if a.shape != b.shape:
        return False
    scale = b.abs().max().item() if b.numel() else 0.0
    wrong = int(((a - b).abs() > tol * (1.0 + scale)).sum())
    return wrong <= allowed * b.numel()


def _run(name: str, family: str, fn, *args, **kwargs) -> torch.Tensor:
    with forbid_reference(family):
        out = fn(*args, **kwargs)
    if not isinstance(out, torch.Tensor):
        _failed(name, f"should return a torch.Tensor, got {type(out).__name__}")
    return out.detach()


def _diagnose(name, out, ref, variants, tol, what, allowed: float = 0.0) -> None:
    """Pass if ``out`` matches ``ref``; else fail with the message of the matching mistake."""
    if _close(out, ref, tol, allowed):
        return
    for message, variant in variants:
        if _close(out, variant(), tol, allowed):
            _failed(name, message)
    diff = (out - ref).abs().max().item()
    _failed(
        name,
        f"{what} differ from the reference: max |difference| = {diff:.3g} "
        f"(the reference's values reach {ref.abs().max().item():.3g})",
    )


def tiny_setup(seed: int = 0, n: int = 4, size: int = 32):
    """A seeded tiny 10-class CNN and ``n`` random ``size``x``size`` images in [0, 1]."""
    model = tiny_cnn(num_classes=10, seed=seed)
    x = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed + 1))
    return model, x


def _input_grad(model, x, objective) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(objective(model(x)).sum(), x)
    return g


def _pick(logits_fn, t):
    return lambda logits: logits_fn(logits).gather(1, t[:, None]).squeeze(1)


# --- saliency ------------------------------------------------------------------------------


def check_saliency(fn, model=None, x=None, y=None, *, seed: int = 0, tol: float = 1e-5) -> None:
    """Check ``fn(X, y, model) -> [N, H, W]`` against :func:`netviz_tp.saliency.saliency`."""
    name = getattr(fn, "__name__", "compute_saliency_maps")
    if model is None:
        model, x = tiny_setup(seed)
    if y is None:
        y = torch.arange(len(x)) % model.num_classes
    y = torch.as_tensor(y).long()
    ref = saliency.saliency(model, x, y)
    x_in = x.clone()
    out = _run(name, "saliency", fn, x_in, y.to(x.device), model)
    n, _, h, w = x.shape
    if tuple(out.shape) == tuple(x.shape):
        _failed(
            name,
            f"expected shape {(n, h, w)}, got {tuple(out.shape)}: did you take the "
            "max over the colour channels (dim=1)?",
        )
    if tuple(out.shape) != (n, h, w):
        _failed(name, f"expected shape {(n, h, w)} (one map per image), got {tuple(out.shape)}")
    if not torch.equal(x_in, x):
        _failed(name, "your function modified the images X in place: work on a copy")
    out = out.to(ref.device)
    t = y.to(ref.device)
    score = _pick(lambda z: z, t)

    def grad(objective=score):
        return _input_grad(model, x, objective)

    mistakes = [
        (
            "you took the mean over the colour channels: take the max of |gradient| over them",
            lambda: grad().abs().mean(dim=1),
        ),
        (
            "you summed over the colour channels: take the max of |gradient| over them",
            lambda: grad().abs().sum(dim=1),
        ),
        (
            "negative or signed values: take the absolute value of the gradient before the max",
            lambda: grad().amax(dim=1),
        ),
        (
            "you took the absolute value after the max: take max over channels of |gradient|",
            lambda: grad().amax(dim=1).abs(),
        ),
        (
            "you differentiated the softmax probability: use the score (logit) of class y, "
            "before the softmax",
            lambda: grad(_pick(lambda z: z.softmax(1), t)).abs().amax(1),
        ),
        (
            "you differentiated the log-probability (a cross-entropy loss): use the score "
            "(logit) of class y",
            lambda: grad(_pick(lambda z: z.log_softmax(1), t)).abs().amax(1),
        ),
        (
            "you differentiated the sum of all the scores: take only the score of each image's "
            "class y[i] (e.g. scores.gather(1, y.view(-1, 1)))",
            lambda: grad(lambda z: z.sum(1)).abs().amax(1),
        ),
        (
            "you differentiated the score of the predicted class: use the true class y",
            lambda: grad(lambda z: z.max(1).values).abs().amax(1),
        ),
        (
            "you differentiated with respect to the normalised image: differentiate with "
            "respect to the pixels X (the model normalises inside)",
            lambda: (grad() * model.std).abs().amax(1),
        ),
    ]
    if (out < 0).any():
        _failed(name, "the map has negative values: take the absolute value of the gradient")
    _diagnose(name, out, ref, mistakes, tol, "saliency values")
    _passed(name, f"shape {tuple(out.shape)}, non-negative, matches the reference within {tol:g}")


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
    pick = {"score": lambda z: z, "softmax": lambda z: z.softmax(1)}[objective]
    for _ in range(max_iter):
        with torch.no_grad():
            going = model(x_adv).argmax(1) != t
        if not going.any():
            break
        g = _input_grad(model, x_adv, _pick(pick, t))
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
    out = _run(name, "attacks", fn, x_in, t.clone(), model, learning_rate=lr, max_iter=max_iter)
    if tuple(out.shape) != tuple(x.shape):
        _failed(
            name, f"expected the fooling images, shape {tuple(x.shape)}, got {tuple(out.shape)}"
        )
    if not torch.equal(x_in, x):
        _failed(name, "your function modified the images X in place: work on a copy")
    out = out.to(ref.x_adv.device)
    if out.min() < 0 or out.max() > 1:
        _failed(
            name,
            f"pixels left [0, 1] (range [{out.min():.3g}, {out.max():.3g}]): clamp "
            "the image to [0, 1] after each step",
        )
    with torch.no_grad():
        pred = model(out).argmax(1)
    reached = pred == t
    variants = [
        (
            "images that reached their target kept moving: stop each image as soon as it is "
            "classified as the target (per-image stopping)",
            dict(per_image=False),
        ),
        ("the step is not normalised: use x + lr * g / ||g||_2", dict(norm=None)),
        (
            "g was normalised over the whole batch: divide each image's gradient by its own "
            "L2 norm",
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
    if not _close(out, ref.x_adv, tol):
        for message, kw in variants:
            if _close(out, fooling_variant(model, x, t, lr=lr, max_iter=max_iter, **kw), tol):
                _failed(name, message)
        for i in ((ref.iterations == 0) & ref.success).nonzero().flatten().tolist():
            if not torch.equal(out[i], x[i].to(out.device)):
                _failed(
                    name,
                    f"image {i} is already classified as its target, so the rule "
                    "leaves it unchanged: check the prediction before each step, image by "
                    "image",
                )
        for i in (ref.success & ~reached).nonzero().flatten().tolist():
            _failed(
                name,
                f"image {i} did not reach its target {int(t[i])} (predicted "
                f"{int(pred[i])}) although the course rule does within {max_iter} steps",
            )
        _diagnose(name, out, ref.x_adv, [], tol, "fooling images")
    done = f"{int(reached.sum())}/{len(t)} images reach their target"
    _passed(
        name,
        f"{done}, each stopping at its own step ({ref.iterations.tolist()}); "
        f"matches the reference within {tol:g}",
    )


# --- FGSM and PGD --------------------------------------------------------------------------


_SIGN_SLACK = 1e-4
"""FGSM / PGD: the fraction of pixels allowed to differ (a sign flips where a gradient is ~0
and two correct formulas round differently)."""


def _attack_targets(model, x) -> torch.Tensor:
    t = fooling_targets(model, x)
    t[0] = (t[0] + 3) % model.num_classes  # a targeted attack needs a target not yet predicted
    return t


def _signed_step(model, x, t, *, eps, sign=-1.0, use_sign=True, objective="ce", clamp=True):
    if objective == "ce":
        g = _input_grad(model, x, lambda z: F.cross_entropy(z, t, reduction="none"))
    else:
        g = -_input_grad(model, x, _pick(lambda z: z, t))
    out = x + sign * eps * (g.sign() if use_sign else g)
    return out.clamp(0, 1) if clamp else out


def check_fgsm(
    fn, model=None, x=None, target=None, *, eps: float = 8 / 255, seed: int = 0, tol: float = 1e-5
) -> None:
    """Check a targeted ``fn(model, x, target, eps=) -> x_adv`` against
    :func:`netviz_tp.attacks.fgsm`."""
    name = getattr(fn, "__name__", "fgsm")
    if model is None:
        model, x = tiny_setup(seed)
    t = (_attack_targets(model, x) if target is None else torch.as_tensor(target)).to(x.device)
    ref = attacks.fgsm(model, x, t, eps=eps).x_adv
    out = _run(name, "attacks", fn, model, x.clone(), t.clone(), eps=eps)
    if tuple(out.shape) != tuple(x.shape):
        _failed(name, f"expected x_adv of shape {tuple(x.shape)}, got {tuple(out.shape)}")
    out = out.to(ref.device)

    def step(**kw):
        return lambda: _signed_step(model, x, t, eps=eps, **kw)

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
    _diagnose(name, out, ref, mistakes, tol, "adversarial images", _SIGN_SLACK)
    linf = (out - x.to(out.device)).abs().max().item() * 255
    _passed(
        name,
        f"targeted one-step attack, L-inf = {linf:.1f}/255 <= {eps * 255:.0f}/255, "
        f"matches the reference within {tol:g}",
    )


def pgd_variant(model, x, t, *, eps, alpha, steps, project=True, clamp=True, sign=-1.0):
    """Targeted L-inf PGD without random start, with one knob changed."""
    x_adv = x.detach().clone()
    for _ in range(steps):
        g = _input_grad(model, x_adv, lambda z: F.cross_entropy(z, t, reduction="none"))
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
    if model is None:
        model, x = tiny_setup(seed)
    t = (_attack_targets(model, x) if target is None else torch.as_tensor(target)).to(x.device)
    ref = attacks.pgd(model, x, t, eps=eps, alpha=alpha, steps=steps, random_start=False).x_adv
    out = _run(name, "attacks", fn, model, x.clone(), t.clone(), eps=eps, alpha=alpha, steps=steps)
    if tuple(out.shape) != tuple(x.shape):
        _failed(name, f"expected x_adv of shape {tuple(x.shape)}, got {tuple(out.shape)}")
    out = out.to(ref.device)
    linf = (out - x.to(out.device)).abs().max().item()
    if linf > eps + 1e-6:
        _failed(
            name,
            f"x_adv left the eps-ball: max |x_adv - x| = {linf * 255:.2f}/255 > "
            f"{eps * 255:.0f}/255; project onto [x - eps, x + eps] after every step",
        )

    def run(**kw):
        return lambda: pgd_variant(model, x, t, eps=eps, alpha=alpha, steps=steps, **kw)

    mistakes = [
        ("you went up the cross-entropy of the target: a targeted attack goes down", run(sign=1.0)),
        ("pixels must stay in [0, 1]: clamp after each projection", run(clamp=False)),
    ]
    _diagnose(name, out, ref, mistakes, tol, "adversarial images", _SIGN_SLACK)
    _passed(
        name,
        f"{steps} projected steps, L-inf = {linf * 255:.1f}/255 <= {eps * 255:.0f}"
        f"/255, matches the reference within {tol:g}",
    )


# --- class visualisation -------------------------------------------------------------------


def step_variant(
    model, img, t, *, l2_reg, learning_rate, sign=1.0, penalty="squared", objective="score"
) -> torch.Tensor:
    """One ascent step ``img + lr * grad(s_t - l2 ||img||^2)`` with one knob changed."""
    pick = {"score": lambda z: z, "log_softmax": lambda z: z.log_softmax(1)}[objective]
    x = img.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        s = pick(model(x)).gather(1, t[:, None]).sum()
        norm2 = (x * x).sum()
        reg = {"squared": norm2, "norm": norm2.sqrt(), "none": 0.0 * norm2}[penalty]
        (g,) = torch.autograd.grad(s - l2_reg * reg, x)
    return (img + sign * learning_rate * g).detach()


def check_class_vis_step(
    fn,
    model=None,
    img=None,
    target=None,
    *,
    l2_reg: float = 0.05,
    learning_rate: float = 0.3,
    seed: int = 0,
    tol: float = 1e-5,
) -> None:
    """Check one step ``fn(img, target_y, model, l2_reg=, learning_rate=) -> img`` of eq. (4)."""
    name = getattr(fn, "__name__", "class_visualization_step")
    if model is None:
        model, img = tiny_setup(seed, n=1)
    t = torch.as_tensor(3 if target is None else target).long().view(-1).to(img.device)
    kw = dict(l2_reg=l2_reg, learning_rate=learning_rate)
    ref = step_variant(model, img, t, **kw)
    out = _run(name, "featviz", fn, img.clone(), int(t[0]), model, **kw)
    if tuple(out.shape) != tuple(img.shape):
        _failed(
            name, f"expected the updated image, shape {tuple(img.shape)}, got {tuple(out.shape)}"
        )
    mistakes = [
        (f"{message}", lambda k=k: step_variant(model, img, t, **kw, **k))
        for message, k in [
            ("you descended: gradient *ascent* is img + lr * grad", dict(sign=-1.0)),
            ("the L2 penalty is missing: maximise s_y - l2_reg * ||img||^2", dict(penalty="none")),
            (
                "you penalised ||img|| instead of ||img||^2 (eq. (3) squares the norm)",
                dict(penalty="norm"),
            ),
            (
                "you used the log-probability: use the class score (logit) s_y",
                dict(objective="log_softmax"),
            ),
        ]
    ]
    _diagnose(name, out.to(ref.device), ref, mistakes, tol, "updated images")
    _passed(name, f"one ascent step on s_y - l2_reg * ||img||^2, matches within {tol:g}")


def check_class_visualization(
    fn, model=None, target=None, *, steps: int = 12, seed: int = 0, tol: float = 1e-4, **knobs
) -> None:
    """Check the loop ``fn(target_y, model, num_iterations=, seed=, ...) -> img`` against
    :func:`netviz_tp.featviz.class_visualization` (preset "pixels", same seed)."""
    name = getattr(fn, "__name__", "create_class_visualization")
    if model is None:
        model = tiny_cnn(num_classes=10, seed=seed)
    t = 3 if target is None else int(target)
    course = dict(l2_reg=0.01, learning_rate=0.3, blur_every=4, blur_width=0.5, max_jitter=3)
    course.update(knobs)
    ref = featviz.class_visualization(
        model,
        t,
        preset="pixels",
        steps=steps,
        seed=seed,
        lr=course["learning_rate"],
        l2=course["l2_reg"],
        blur_every=course["blur_every"],
        blur_sigma=course["blur_width"],
        jitter=course["max_jitter"],
    ).x
    out = _run(name, "featviz", fn, t, model, num_iterations=steps, seed=seed, **course)
    if tuple(out.shape) != tuple(ref.shape):
        _failed(name, f"expected one image of shape {tuple(ref.shape)}, got {tuple(out.shape)}")
    out = out.to(ref.device)
    if out.min() < 0 or out.max() > 1:
        _failed(name, "pixels left [0, 1]: clamp the image after every step")
    _diagnose(name, out, ref, [], tol, "images")
    _passed(
        name, f"{steps} steps of jitter, ascent, clamp and blur match the reference within {tol:g}"
    )
