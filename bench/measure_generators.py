"""Measure practical 5 on the real SqueezeNet (the README's numbers), CPU budget.

Usage: NETVIZ_TP_ASSETS=../shared/assets python bench/measure_generators.py
       [--part 000|004|all] [--steps N] [--out DIR] [--threads T]

000: trains the class-conditional generator for ten classes (preset "imagenet_small"),
and the same generator with the paper's deconvolutions, reports how many of their images
SqueezeNet classifies as their class, then the fooling curves (untargeted fooling rate and
targeted hit rate) on the course's 25 images, which no perturbation was made from, for: both
generators, the generator's signs (its pattern at the full L-inf budget), practical 3's
gradient ascent with and without its regularisers, random sign noise (the floor), the
generator's images with their pixels shuffled (a floor with the same values) and targeted
universal perturbations trained on the assets' photos; then the generator and the two floors
on EfficientNet-Lite0 (transfer, e in 5, 10, 20, 35 to save CPU time). 004:
feature-vector generators without pre-training (one class, two classes at once, one filter)
and with the pre-trained decoder (one class, two classes), in the notebook's CPU budget.
Writes ``results_<part>.json`` and figures into ``--out``; exit 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from netviz_tp import load_imagenet_val, load_model
from netviz_tp.data import imagenet_classes, load_image, sample_images
from netviz_tp.featviz_settings import PRESETS
from netviz_tp.fooling import (
    as_perturbation,
    class_hits,
    fooling_curve,
    gradient_ascent_references,
    shuffled,
    sign_noise,
    universal_references,
)
from netviz_tp.generators import CONDITIONAL_PRESETS, fit_to
from netviz_tp.plot import plot_fooling_curves, plot_images, short_name
from netviz_tp.training import BUDGETS, pretrain_autoencoder, train_conditional, train_feature

CLASSES = [
    "tench",
    "goldfish",
    "tarantula",
    "gorilla",
    "oboe",
    "crib",
    "harmonica",
    "mosque",
    "candle",
    "lawn mower",
]
TRANSFER = ("generator", "sign noise", "shuffled generator")
NAMES = imagenet_classes()
E_GRID = (1, 2, 4, 6, 8, 10, 15, 20, 25, 30, 35)


def part_000(args, out: Path) -> dict:
    model = load_model("squeezenet1_1")
    settings = CONDITIONAL_PRESETS["imagenet_small"]
    if args.steps:
        settings = replace(settings, steps=args.steps)
    t0 = time.perf_counter()
    stop = (lambda done, loss: done >= args.max_steps) if args.max_steps else None
    trained = train_conditional(model, CLASSES, settings, progress=False, callback=stop)
    train_s = time.perf_counter() - t0
    gen = trained.generator
    images = gen.images(size=model.input_size)
    hits = class_hits(model, images, gen.units)
    titles = [short_name(c, NAMES) for c in gen.units]
    plot_images(images, titles).savefig(out / "generator.png")
    t0 = time.perf_counter()
    paper = train_conditional(model, CLASSES, replace(settings, upsample="deconv"), progress=False)
    paper_s = time.perf_counter() - t0
    paper_images = paper.generator.images(size=model.input_size)
    plot_images(paper_images, titles).savefig(out / "generator_deconv.png")
    data = load_imagenet_val()
    photos = torch.cat([load_image(p) for p in sample_images().values()])
    t0 = time.perf_counter()
    unregularised = replace(PRESETS["pixels"], l2=0, blur_sigma=0, jitter=0)
    refs = {
        "generator": as_perturbation(images),
        "generator, deconvolutions": as_perturbation(paper_images),
        "generator, signs": as_perturbation(images).sign(),
        "gradient ascent": gradient_ascent_references(model, gen.units, steps=100),
        "gradient ascent, no regularisers": gradient_ascent_references(
            model, gen.units, steps=100, preset=unregularised
        ),
        "sign noise": sign_noise(images),
        "shuffled generator": shuffled(as_perturbation(images)),
        "universal (photos)": universal_references(model, photos, gen.units),
    }
    refs_s = time.perf_counter() - t0
    result = dict(
        train_seconds=train_s,
        deconv_train_seconds=paper_s,
        references_seconds=refs_s,
        steps=settings.steps,
        resumed_from=trained.resumed_from,
        steps_done=len(trained.losses),
        classes=CLASSES,
        recognised=hits.tolist(),
        recognised_deconv=class_hits(model, paper_images, gen.units).tolist(),
        final_loss=trained.losses[-1],
        final_loss_deconv=paper.losses[-1],
    )
    for name in ("squeezenet1_1", "efficientnet_lite0"):
        net = model if name == "squeezenet1_1" else load_model(name)
        t0 = time.perf_counter()
        # transfer: the generator and the floors only, on fewer coefficients (CPU time)
        kept = refs if net is model else {k: refs[k] for k in TRANSFER}
        grid = E_GRID if net is model else (5, 10, 20, 35)
        curves = [fooling_curve(net, data.x, v, gen.units, e=grid, name=k) for k, v in kept.items()]
        result[name] = {c.name: dict(e=c.e, fooling=c.fooling, hit=c.hit) for c in curves}
        result[name]["seconds"] = time.perf_counter() - t0
        plot_fooling_curves(curves, title=name).savefig(out / f"fooling_{name}.png")
    return result


def part_004(args, out: Path) -> dict:
    model = load_model("squeezenet1_1")
    result: dict = {}
    untrained, pretrained = BUDGETS["cpu"].feature, BUDGETS["cpu"].pretrained
    t0 = time.perf_counter()
    ae = pretrain_autoencoder(settings=pretrained, progress=False)
    result["autoencoder"] = dict(seconds=time.perf_counter() - t0, loss=ae.losses[-1])
    decoder = ae.generator.decoder
    objectives = [
        ("class", ["tench"], None),
        ("two classes", ["goldfish", "candle"], None),
        ("filter", [7], "features.9"),
    ]
    shown, titles = [], []
    for kind, settings in (("untrained", untrained), ("pretrained", pretrained)):
        for label, units, layer in objectives[: 3 if kind == "untrained" else 2]:
            t0 = time.perf_counter()
            frozen = decoder if settings.pretrained else None
            r = train_feature(model, units, settings, layer=layer, decoder=frozen, progress=False)
            img = fit_to(r.extra["image"], model.input_size)
            with torch.no_grad():
                top = model(img).topk(3).indices[0].tolist()
            key = f"{kind} {label} {units}"
            result[key] = dict(
                seconds=time.perf_counter() - t0,
                loss=r.losses[-1],
                top3=[short_name(i, NAMES) for i in top],
            )
            if layer is None:
                result[key]["top1_is_a_target"] = short_name(top[0], NAMES) in units
            shown.append(img)
            titles.append(f"{kind}\n{label} {units}")
    plot_images(torch.cat(shown), titles, ncols=len(objectives)).savefig(out / "feature.png")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["000", "004", "all"], default="all")
    parser.add_argument("--steps", type=int, default=0, help="override the generator's steps")
    parser.add_argument("--max-steps", type=int, default=0, help="stop the generator early")
    parser.add_argument("--out", type=Path, default=Path("outputs/generators"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    ok = True
    for part, run in (("000", part_000), ("004", part_004)):
        if args.part not in (part, "all"):
            continue
        result = run(args, args.out)
        (args.out / f"results_{part}.json").write_text(json.dumps(result, indent=1))
        print(json.dumps(result, indent=1))
        if part == "000":
            sq = result["squeezenet1_1"]
            floor = sq["sign noise"]["fooling"]
            above = {
                name: all(f > n for f, n in zip(c["fooling"], floor, strict=True))
                for name, c in sq.items()
                if name not in ("seconds", "sign noise")
            }
            rising = sq["generator"]["fooling"][-1] > sq["generator"]["fooling"][0]
            share = sum(result["recognised"]) / len(result["recognised"])
            print(f"recognised {share:.0%} (target >= 95%); rising: {rising}")
            print(f"above the noise floor at every e: {above}")
            ok = ok and share >= 0.95 and above["generator"] and rising
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
