"""Class-visualisation checks: one ascent step of eq. (4), then the whole regularised loop."""

from __future__ import annotations

import torch

from .. import featviz
from ..models import tiny_cnn
from .common import diagnose, failed, passed, run_student, tiny_setup


def step_variant(
    model, img, t, *, l2_reg, learning_rate, sign=1.0, penalty="squared", objective="score"
) -> torch.Tensor:
    """One ascent step ``img + lr * grad(s_t - l2 ||img||^2)`` with one knob changed."""
    logits_fn = {"score": lambda z: z, "log_softmax": lambda z: z.log_softmax(1)}[objective]
    x = img.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        s = logits_fn(model(x)).gather(1, t[:, None]).sum()
        norm2 = (x * x).sum()
        reg = {"squared": norm2, "norm": norm2.sqrt(), "none": 0.0 * norm2}[penalty]
        (g,) = torch.autograd.grad(s - l2_reg * reg, x)
    return (img + sign * learning_rate * g).detach()


_STEP_MISTAKES = [
    ("you descended: gradient *ascent* is img + lr * grad", dict(sign=-1.0)),
    ("the L2 penalty is missing: maximise s_y - l2_reg * ||img||^2", dict(penalty="none")),
    ("you penalised ||img|| instead of ||img||^2 (eq. (3) squares the norm)", dict(penalty="norm")),
    (
        "you used the log-probability: use the class score (logit) s_y",
        dict(objective="log_softmax"),
    ),
]


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
    out = run_student(name, "featviz", fn, img.clone(), int(t[0]), model, **kw)
    if tuple(out.shape) != tuple(img.shape):
        failed(
            name, f"expected the updated image, shape {tuple(img.shape)}, got {tuple(out.shape)}"
        )
    mistakes = [
        (message, lambda k=k: step_variant(model, img, t, **kw, **k))
        for message, k in _STEP_MISTAKES
    ]
    diagnose(name, out.to(ref.device), ref, mistakes, tol, "updated images")
    passed(name, f"one ascent step on s_y - l2_reg * ||img||^2, matches within {tol:g}")


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
    course["num_iterations"] = steps
    settings = featviz.vis_settings("pixels", **featviz.course_knobs(course))
    ref = featviz.class_visualization(model, t, preset=settings, seed=seed).x
    out = run_student(name, "featviz", fn, t, model, seed=seed, **course)
    if tuple(out.shape) != tuple(ref.shape):
        failed(name, f"expected one image of shape {tuple(ref.shape)}, got {tuple(out.shape)}")
    out = out.to(ref.device)
    if out.min() < 0 or out.max() > 1:
        failed(name, "pixels left [0, 1]: clamp the image after every step")
    diagnose(name, out, ref, [], tol, "images")
    passed(
        name, f"{steps} steps of jitter, ascent, clamp and blur match the reference within {tol:g}"
    )
