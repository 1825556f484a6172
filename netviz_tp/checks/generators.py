"""Generator checks: one training step of the class-conditional generator, the fooling curve."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from ..attacks import fooling_and_hit_rates
from ..generators import ConditionalGenerator, ConditionalSettings, fit_to
from ..models import tiny_cnn
from .common import close, failed, forbid_reference, passed

TINY = ConditionalSettings(embed_dim=8, base=4, widths=(8, 8), lr=0.01)


def step_variant(
    generator,
    model,
    optimizer,
    index,
    *,
    pixels="tanh01",
    labels="units",
    sign=1.0,
    probs=False,
    zero_grad=True,
) -> float:
    """One update ``CE(model(resize((G(index) + 1) / 2)), units[index])`` with one mistake."""
    if zero_grad:
        optimizer.zero_grad(set_to_none=True)
    t = generator(index)
    x = {"tanh01": (t + 1) / 2, "raw": t, "clamp": t.clamp(0, 1)}[pixels]
    logits = model(fit_to(x, model.input_size))
    target = generator.units[index] if labels == "units" else index
    scores = logits.softmax(1) if probs else logits
    loss = sign * F.cross_entropy(scores, target)
    loss.backward()
    optimizer.step()
    return loss.item()


_STEP_MISTAKES = [
    (
        "the images must be pixels in [0, 1]: map the tanh output t with (t + 1) / 2",
        dict(pixels="raw"),
    ),
    (
        "clamping t to [0, 1] kills half the gradient: map the tanh output with (t + 1) / 2",
        dict(pixels="clamp"),
    ),
    (
        "the cross-entropy's target is the class id generator.units[index], not the position index",
        dict(labels="index"),
    ),
    ("you maximised the cross-entropy: minimise it (loss.backward() on +CE)", dict(sign=-1.0)),
    ("F.cross_entropy takes logits: you applied a softmax first", dict(probs=True)),
    (
        "the gradients of the previous step were kept: call optimizer.zero_grad() first",
        dict(zero_grad=False),
    ),
]


def _tiny_problem(seed: int):
    model = tiny_cnn(num_classes=10, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = ConditionalGenerator([2, 5, 7], TINY, channels=3)
    index = torch.tensor([0, 2, 1, 2])
    return model, generator, index


def _stale_grads(generator, seed: int) -> None:
    """Fill the gradients with garbage, as a previous step would leave them."""
    gen = torch.Generator().manual_seed(seed + 7)
    for p in generator.parameters():
        p.grad = torch.randn(p.shape, generator=gen)


def _same_step(mine, ref_g, fresh, out, ref, tol: float) -> bool:
    """Did ``mine`` take one optimizer step from the reference's gradients? Adam's first step
    is about ``lr * sign(gradient)``: where a gradient is ~0, float noise (a float64 loss, a
    log-softmax written by hand) flips whole steps, so a correct answer is recognised by its
    loss and gradients (left in ``.grad``) within ``tol``, and by its parameters being one
    step of the same optimizer from those gradients."""
    grads = [p.grad for p in mine.parameters()]
    want = [p.grad for p in ref_g.parameters()]
    if any(g is None or g.shape != w.shape for g, w in zip(grads, want, strict=True)):
        return False
    if abs(out[0] - ref[0]) > tol * (1 + abs(ref[0])):
        return False
    if not close(
        torch.cat([g.flatten() for g in grads]), torch.cat([w.flatten() for w in want]), tol
    ):
        return False
    replay, optimizer = fresh()
    for p, g in zip(replay.parameters(), grads, strict=True):
        p.grad = g.detach().clone().to(p.dtype)
    optimizer.step()
    stepped = torch.cat([p.detach().flatten() for p in replay.parameters()])
    return close(out[1:], stepped, tol)


def check_generator_step(fn, *, seed: int = 0, tol: float = 1e-5) -> None:
    """Check ``fn(generator, model, optimizer, index) -> loss`` (a float): one update of the
    class-conditional generator (seed 000) on a tiny CNN, against the reference update."""
    name = getattr(fn, "__name__", "generator_step")
    model, generator, index = _tiny_problem(seed)
    frozen = copy.deepcopy(model.state_dict())

    def fresh():
        g = copy.deepcopy(generator)
        _stale_grads(g, seed)
        return g, torch.optim.Adam(g.parameters(), lr=TINY.lr)

    def outcome(g, loss):
        return torch.cat(
            [torch.tensor([float(loss)]), *[p.detach().flatten() for p in g.parameters()]]
        )

    ref_g, ref_opt = fresh()
    ref = outcome(ref_g, step_variant(ref_g, model, ref_opt, index))
    mine, opt = fresh()
    with forbid_reference("generators"):
        loss = fn(mine, model, opt, index.clone())
    if isinstance(loss, torch.Tensor) and loss.numel() == 1:
        loss = loss.item()
    if not isinstance(loss, (int, float)):
        failed(name, f"should return the loss as a float (loss.item()), got {type(loss).__name__}")
    if any(not torch.equal(v, frozen[k]) for k, v in model.state_dict().items()):
        failed(name, "the classifier's weights changed: only the generator may be trained")
    out = outcome(mine, loss)
    if close(out, ref, tol) or _same_step(mine, ref_g, fresh, out, ref, tol):
        passed(name, f"one update of the generator matches the reference within {tol:g}")
        return
    if torch.equal(out[1:], outcome(generator, 0.0)[1:]):
        failed(name, "the generator did not change: call loss.backward() and optimizer.step()")
    for message, knobs in _STEP_MISTAKES:
        g, o = fresh()
        if close(out, outcome(g, step_variant(g, model, o, index, **knobs)), tol):
            failed(name, message)
    if abs(out[0] - ref[0]) > tol * (1 + abs(ref[0])):
        failed(name, f"the loss is {out[0]:.4g}, expected {ref[0]:.4g}")
    failed(name, "the loss is right but the update is not: step the optimizer once")


def curve_variant(
    model, x, v, target, e, *, scale=1 / 255, clamp=True, reference="clean", inverted=False
) -> tuple[list[float], list[float]]:
    """The two rates of ``clamp(x + e * scale * v)``, with one mistake."""
    with torch.no_grad():
        clean = model(x).argmax(1)
        fooled, hit = [], []
        for c in e:
            z = x + c * scale * v
            pred = model(z.clamp(0, 1) if clamp else z).argmax(1)
            base = clean if reference == "clean" else torch.full_like(clean, target)
            changed = (pred == base) if inverted else (pred != base)
            fooled.append(changed.float().mean().item())
            hit.append((pred == target).float().mean().item())
    return fooled, hit


_CURVE_MISTAKES = [
    ("e is in grey levels: add e * V / 255, not e * V", dict(scale=1.0)),
    ("clamp the perturbed images to valid pixels [0, 1] before classifying", dict(clamp=False)),
    ("an image is fooled when its prediction *differs* from the clean one", dict(inverted=True)),
    (
        "fooled means 'differs from the clean prediction', not 'differs from the visualised class'",
        dict(reference="target"),
    ),
]


def check_fooling_curve(fn, *, seed: int = 0, e=(2, 40, 120, 255), tol: float = 1e-6) -> None:
    """Check ``fn(model, x, V, target, e) -> (fooling rates, hit rates)`` (seed 000, Fig. 3)
    on a tiny CNN, against :func:`netviz_tp.attacks.fooling_and_hit_rates`."""
    name = getattr(fn, "__name__", "fooling_curve")
    model = tiny_cnn(num_classes=10, seed=seed)
    gen = torch.Generator().manual_seed(seed + 3)
    tint = torch.rand(16, 3, 1, 1, generator=gen)  # varied images: varied predictions
    x = (tint + 0.5 * torch.rand(16, 3, 32, 32, generator=gen)).clamp(0, 1)
    v = torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1
    v = v / v.abs().max()
    with torch.no_grad():
        counts = torch.bincount(model(x).argmax(1), minlength=10)
    target = int(counts.argsort()[-2])  # the second most predicted class: some hits
    ref = fooling_and_hit_rates(model, x, v / 255, e, target)
    with forbid_reference("generators"):
        out = fn(model, x.clone(), v.clone(), target, list(e))
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        failed(name, "should return two lists: (fooling rates, targeted hit rates)")
    mine = [torch.tensor([float(r) for r in rates]) for rates in out]
    if any(len(r) != len(e) for r in mine):
        failed(name, f"should return one rate per coefficient: {len(e)} each")
    want = [torch.tensor(r) for r in ref]
    if close(mine[0], want[0], tol) and close(mine[1], want[1], tol):
        passed(name, f"fooling and hit rates match at e = {list(e)}")
        return
    for message, knobs in _CURVE_MISTAKES:
        variant = [torch.tensor(r) for r in curve_variant(model, x, v, target, e, **knobs)]
        if close(mine[0], variant[0], tol) and close(mine[1], variant[1], tol):
            failed(name, message)
    which = "fooling rates" if not close(mine[0], want[0], tol) else "targeted hit rates"
    failed(
        name,
        f"the {which} differ: got {mine[0 if which[0] == 'f' else 1].tolist()}, "
        f"expected {want[0 if which[0] == 'f' else 1].tolist()}",
    )
