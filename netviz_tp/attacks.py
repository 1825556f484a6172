"""Adversarial attacks: ``(model, x [N,C,H,W] in [0,1], target [N]) -> AttackResult``.

Every attack works on pixels (the model normalises its input, see :mod:`netviz_tp.image`),
is batched, runs on the model's device and never modifies ``x``. Budgets are stated in pixel
units: ``eps=8/255`` lets each pixel move by 8 grey levels. Also here: the fooling rate of
a perturbation and a universal targeted perturbation shared by a whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .gradients import input_gradient
from .image import IMAGENET_STD
from .methods import Knob, Method
from .validate import as_target, check_images, check_model, checked

COURSE_LR = sum(IMAGENET_STD) / len(IMAGENET_STD)
"""The course's step (``learning_rate=1`` in normalised units) in pixel units: about 0.226."""


@dataclass(frozen=True)
class AttackResult:
    """What an attack returns, one entry per image.

    Shape: ``x_adv [N, C, H, W]`` in ``[0, 1]`` (detached); ``success`` bool ``[N]`` (the
    target was reached, or for an untargeted attack the label was left); ``iterations``
    long ``[N]`` (gradient steps used); ``pred`` long ``[N]`` (the prediction on ``x_adv``);
    ``linf_255`` and ``l2_255`` float ``[N]``: ``max|x_adv - x|`` and ``||x_adv - x||_2``
    in /255 units (``linf_255 = 8`` means 8 grey levels).
    """

    x_adv: torch.Tensor
    success: torch.Tensor
    iterations: torch.Tensor
    pred: torch.Tensor
    linf_255: torch.Tensor
    l2_255: torch.Tensor


def _result(model, x, x_adv, target, iterations, *, targeted=True) -> AttackResult:
    """The one place where predictions, success and perturbation sizes are measured."""
    x_adv = x_adv.detach()
    with torch.no_grad():
        pred = model(x_adv).argmax(dim=1)
    success = pred == target if targeted else pred != target
    delta = (x_adv - x).flatten(1) * 255
    return AttackResult(x_adv, success, iterations, pred, delta.abs().amax(1), delta.norm(dim=1))


def _refuse_reached_targets(model, x, target) -> None:
    """Guard against advertorch #55: a targeted attack whose target is already predicted."""
    with torch.no_grad():
        pred = model(x).argmax(dim=1)
    reached = (pred == target).nonzero().flatten().tolist()
    if reached:
        raise ValueError(
            f"the target is already the model's prediction for image(s) {reached}, so a "
            "targeted attack would 'succeed' without doing anything; pass targeted=False "
            "with the true label for an untargeted attack, or choose another target"
        )


def _per_image_norm(t: torch.Tensor) -> torch.Tensor:
    """L2 norm of each image of ``t [N, ...]``, shaped ``[N, 1, 1, 1]``, never 0."""
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.dim() - 1)))


def fooling_image(model, x, target, *, lr: float = COURSE_LR, max_iter: int = 100) -> AttackResult:
    """Course fooling image: normalised gradient ascent on the target score until it is predicted.

    Reference: Szegedy et al., "Intriguing properties of neural networks", ICLR 2014,
    arXiv:1312.6199; RDFIA 3-b eq. (2): ``g = d score_target / dx``, ``x <- x + lr g/||g||_2``.

    Each image stops at its first step whose prediction is the target; ``iterations`` counts
    its steps (0 and ``success=True`` when the target is already predicted: the course rule
    then does nothing, so no error is raised). After each step the pixels are clamped to
    ``[0, 1]`` (the course does not clamp its normalised image; we keep valid pixels).
    Images are independent, but over many steps the rule can amplify float rounding that
    differs between batch sizes: a batched run may differ slightly from one image at a time.

    Args:
        lr: step length in pixel L2 norm. The default ``COURSE_LR`` (0.226) is the course's
            ``learning_rate=1`` in normalised units times the mean ImageNet std, so the
            default follows the course's budget.
        max_iter: at most this many steps per image (100 as in the course).

    Shape: ``x [N, C, H, W]`` in ``[0, 1]``, ``target [N]`` -> ``AttackResult``.
    Example: ``r = fooling_image(model, x, "stingray"); r.success.all()``.
    Used in: solutions/02_adversarial.
    """
    x, target = checked(model, x, target)
    x_adv = x.clone()
    iterations = torch.zeros(len(x), dtype=torch.long, device=x.device)
    active = torch.arange(len(x), device=x.device)

    def score(logits):
        return logits.gather(1, target[active, None]).squeeze(1)

    for step in range(max_iter + 1):
        g, logits = input_gradient(model, x_adv[active], score)
        going = logits.argmax(dim=1) != target[active]
        if step == max_iter or not going.any():
            break
        active, g = active[going], g[going]  # frozen images keep their iterations
        x_adv[active] = (x_adv[active] + lr * g / _per_image_norm(g)).clamp(0, 1)  # eq. (2)
        iterations[active] += 1
    return _result(model, x, x_adv, target, iterations)


def make_fooling_image(X, target_y, model) -> torch.Tensor:
    """Course alias (argument order of RDFIA/CS231n): the fooling images only.

    Shape: ``X [N, 3, H, W]`` pixels in ``[0, 1]``, ``target_y`` int or ``[N]`` ->
    ``X_fooling [N, 3, H, W]`` in ``[0, 1]``. See :func:`fooling_image`.
    """
    return fooling_image(model, X, target_y).x_adv


def fgsm(model, x, target, *, eps: float = 8 / 255, targeted: bool = True) -> AttackResult:
    """Fast Gradient Sign Method: one signed-gradient step of size ``eps``.

    Reference: Goodfellow et al., "Explaining and Harnessing Adversarial Examples", ICLR
    2015, arXiv:1412.6572. Targeted: ``x - eps sign(grad CE(f(x), target))``; untargeted
    (``target`` = the true label): ``x + eps sign(grad CE(f(x), label))``; clamped to [0, 1].

    Args:
        eps: L-inf budget in pixel units (8/255).
        targeted: aim at ``target`` (success: prediction == target); if False, ``target`` is
            the true label to leave (success: prediction != label). A targeted attack whose
            target is already predicted raises ValueError (advertorch #55).

    Shape: ``x [N, C, H, W]`` in ``[0, 1]``, ``target [N]`` -> ``AttackResult``.
    Example: ``r = fgsm(model, x, y, targeted=False); r.success.float().mean()``.
    """
    return pgd(model, x, target, eps=eps, alpha=eps, steps=1, targeted=targeted, random_start=False)


def pgd(
    model,
    x,
    target,
    *,
    eps: float | None = None,
    alpha: float | None = None,
    steps: int = 10,
    norm: str = "linf",
    targeted: bool = True,
    random_start: bool = True,
    seed: int = 0,
    early_stop: bool = False,
) -> AttackResult:
    """Projected Gradient Descent in an L-inf or L2 ball around ``x``, intersected with [0, 1].

    Reference: Madry et al., "Towards Deep Learning Models Resistant to Adversarial
    Attacks", ICLR 2018, arXiv:1706.06083. Each step moves by ``alpha sign(g)`` (L-inf) or
    ``alpha g/||g||_2`` (L2, per image), with ``g`` the gradient of ``-CE(target)``
    (targeted) or ``+CE(label)``, then projects back onto the ball and clamps to [0, 1].

    Args:
        eps: ball radius in pixel units; None gives 8/255 for "linf" and 2.0 for "l2" (510
            in ``l2_255`` units: 1.3/255 per pixel RMS on 224x224 RGB; with the default
            steps it reaches a target from each of the 25 course images on SqueezeNet,
            where 1.0 misses about one in five).
        alpha: step length; None gives 2/255 ("linf") or eps/5 ("l2").
        steps: number of steps (10).
        norm: "linf" or "l2".
        targeted: as in :func:`fgsm` (a target already predicted raises ValueError).
        random_start: start from a uniform point of the box ("linf") or a random direction
            at a uniform radius in the ball ("l2"), drawn with ``seed`` on the model's device.
        early_stop: freeze each image at its first success (``iterations`` then counts its
            steps); otherwise every image takes ``steps`` steps.

    Shape: ``x [N, C, H, W]`` in ``[0, 1]``, ``target [N]`` -> ``AttackResult``.
    Example: ``r = pgd(model, x, "goldfish", steps=20); r.linf_255.max()  # <= 8``.
    """
    if norm not in ("linf", "l2"):
        raise ValueError(f'norm must be "linf" or "l2", got {norm!r}')
    eps = (8 / 255 if norm == "linf" else 2.0) if eps is None else eps
    alpha = (2 / 255 if norm == "linf" else eps / 5) if alpha is None else alpha
    if eps < 0 or alpha < 0 or steps < 0:
        raise ValueError(f"eps, alpha and steps must be >= 0, got {eps}, {alpha}, {steps}")
    x, target = checked(model, x, target)
    if targeted:
        _refuse_reached_targets(model, x, target)
    project = _project_linf if norm == "linf" else _project_l2
    x_adv = x.clone()
    if random_start:
        x_adv = project(x, x + _random_delta(x, eps, norm, seed), eps)
    sign = -1.0 if targeted else 1.0
    iterations = torch.zeros(len(x), dtype=torch.long, device=x.device)
    active = torch.arange(len(x), device=x.device)

    def loss(logits):
        return sign * F.cross_entropy(logits, target[active], reduction="none")

    for _ in range(steps):
        g, logits = input_gradient(model, x_adv[active], loss)
        if early_stop:
            hit = logits.argmax(dim=1) == target[active]
            going = ~hit if targeted else hit
            active, g = active[going], g[going]
            if not len(active):
                break
        step = g.sign() if norm == "linf" else g / _per_image_norm(g)
        x_adv[active] = project(x[active], x_adv[active] + alpha * step, eps)
        iterations[active] += 1
    return _result(model, x, x_adv, target, iterations, targeted=targeted)


def _project_linf(x, x_adv, eps):
    return (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)


def _project_l2(x, x_adv, eps):
    delta = x_adv - x
    delta = delta * (eps / _per_image_norm(delta)).clamp(max=1.0)
    return (x + delta).clamp(0, 1)  # clamping only moves pixels towards x: still in the ball


def _random_delta(x, eps, norm, seed):
    gen = torch.Generator(device=x.device).manual_seed(seed)
    if norm == "linf":
        return (torch.rand(x.shape, generator=gen, device=x.device) * 2 - 1) * eps
    direction = torch.randn(x.shape, generator=gen, device=x.device)
    radius = torch.rand((len(x), 1, 1, 1), generator=gen, device=x.device) * eps
    return direction / _per_image_norm(direction) * radius


_EPS = Knob(0.5 / 255, 32 / 255, step=0.5 / 255, scale=255, default=8 / 255)
_STEPS = dict(integer=True, control="steps")
ATTACKS: dict[str, Method] = {
    # lr=1 keeps the fooling rule's runs short: long runs amplify float noise between batch
    # sizes (a ReLU or max-pool switch flips), which the batching contract is not about.
    "fooling": Method(
        fooling_image,
        knobs={"lr": Knob(0.01, 10.0, log=True), "max_iter": Knob(1, 200, **_STEPS)},
        deterministic={"lr": 1.0},
    ),
    "fgsm": Method(fgsm, knobs={"eps": _EPS}),
    "pgd": Method(
        pgd,
        knobs={"eps": _EPS, "steps": Knob(1, 200, **_STEPS)},
        deterministic={"random_start": False},
    ),
}
"""Every attack by name (a :class:`~netviz_tp.methods.Method`, called like its function); the
contract tests, the explorer's method menu and its sliders read this table."""


def fooling_rate(model, x, delta, target=None) -> float:
    """Fraction of images fooled by adding the perturbation ``delta`` (then clamping to [0, 1]).

    Reference: Moosavi-Dezfooli et al., "Universal adversarial perturbations", CVPR 2017,
    arXiv:1610.08401. Untargeted (``target=None``): the prediction on ``x + delta``
    differs from the prediction on ``x``. Targeted: the prediction on ``x + delta`` is the
    target (images already predicted as the target count as fooled).

    Shape: ``x [N, C, H, W]`` in ``[0, 1]``, ``delta [1 or N, C, H, W]`` (signed pixels),
    ``target`` None, int, name or ``[N]`` -> a float in ``[0, 1]``.
    """
    return fooling_rate_curve(model, x, delta, [1.0], target)[0]


def fooling_rate_curve(model, x, delta, scales: Sequence[float], target=None) -> list[float]:
    """Fooling rate of ``scale * delta`` for each scale: a quality measure of a perturbation.

    Reference: Karagounis, "Efficient Visualization of Neural Networks with Generative Models
    and Adversarial Perturbations" (fooling rate vs perturbation coefficient as a measure of
    visualisation quality). With ``delta`` scaled to ``max|delta| = 1/255``, the scales are the
    paper's coefficients (the largest pixel change in grey levels).

    Shape: as :func:`fooling_rate`; returns one rate per scale.
    """
    if target is None:
        return fooling_and_hit_rates(model, x, delta, scales)[0]
    return fooling_and_hit_rates(model, x, delta, scales, target)[1]


def fooling_and_hit_rates(
    model, x, delta, scales: Sequence[float], target=None, *, clean=None
) -> tuple[list[float], list[float]]:
    """Both rates of ``scale * delta`` for each scale, from one forward pass per scale.

    Untargeted fooling rate: the prediction on ``clamp(x + scale * delta)`` differs from the
    clean prediction; targeted hit rate: it equals ``target`` (all zeros without a target).
    ``clean``: the clean predictions ``[N]`` when already known (saves a forward pass).

    Shape: ``x [N, C, H, W]`` in ``[0, 1]``, ``delta [1 or N, C, H, W]`` -> two lists, one
    rate per scale.
    """
    check_model(model)
    x = check_images(x, model)
    goal = None if target is None else as_target(target, len(x), model)
    if not isinstance(delta, torch.Tensor) or not delta.is_floating_point():
        raise TypeError("delta must be a float tensor [1 or N, C, H, W] of signed pixel changes")
    if delta.dim() != 4 or delta.shape[0] not in (1, len(x)) or delta.shape[1:] != x.shape[1:]:
        raise ValueError(
            f"delta must have shape [1 or {len(x)}, {', '.join(map(str, x.shape[1:]))}] to "
            f"match the images, got {tuple(delta.shape)}"
        )
    delta = delta.detach().to(x.device)
    fooled, hit = [], []
    with torch.no_grad():
        clean = model(x).argmax(dim=1) if clean is None else clean.to(x.device)
        for scale in scales:
            pred = model((x + scale * delta).clamp(0, 1)).argmax(dim=1)
            fooled.append((pred != clean).float().mean().item())
            hit.append(0.0 if goal is None else (pred == goal).float().mean().item())
    return fooled, hit


def universal_perturbation(
    model, x, target, *, eps: float = 10 / 255, steps: int = 100, lr: float = 1 / 255
) -> torch.Tensor:
    """One perturbation shared by every image that pushes them all towards ``target``.

    Reference: universal perturbations, Moosavi-Dezfooli et al., arXiv:1610.08401, here found
    by gradient descent on the batch loss as in Shafahi et al., "Universal Adversarial
    Training", AAAI 2020, arXiv:1811.11304. Each step (signed, projected):
    ``delta <- clip_eps(delta - lr sign(grad_delta mean CE(f(clamp(x + delta)), target)))``.

    Args:
        eps: L-inf radius in pixel units (10/255: "a change of 10 grey levels").
        steps: number of full-batch steps (100).
        lr: step length in pixel units (1/255).

    Shape: ``x [N, C, H, W]`` in ``[0, 1]``, ``target`` one class or ``[N]`` ->
    ``delta [1, C, H, W]`` with ``|delta| <= eps``; measure it with :func:`fooling_rate`.
    """
    x, target = checked(model, x, target)
    delta = torch.zeros_like(x[:1])

    def perturbed(d):
        return model((x + d).clamp(0, 1))

    def loss(logits):
        return F.cross_entropy(logits, target)

    for _ in range(steps):
        g, _ = input_gradient(perturbed, delta, loss)
        delta = (delta - lr * g.sign()).clamp(-eps, eps)
    return delta
