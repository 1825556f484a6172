"""Speed of the package's methods against the course's code, measured side by side.

Usage: NETVIZ_TP_ASSETS=../shared/assets python bench/bench_methods.py
       [--model squeezenet1_1|vgg16] [--steps N] [--repeats R] [--threads T]

Prints, for one model (SqueezeNet 1.1 with its real weights from the assets, or VGG16 with
random weights), with the same threads and interleaved repetitions (median and minimum
printed; the ratios use medians):

(a) class visualisation, time per step: the package (``featviz.class_visualization``,
    preset "rdfia") against the course loop restated in ``tests/course_reference.py`` on
    the course's plain network (targets: at least 1.5x faster), and against the model's raw
    forward + backward pass on the same input (target: at most 1.1x);
(b) saliency, time per batch of 25 images: ``saliency.saliency`` against the course's
    ``compute_saliency_maps`` restated there.

The course restatement lives with the tests, which check the package against it; this
script imports it from there so that there is one restatement only. It also checks that
the results agree (maximum absolute differences printed) and exits with status 1 if not.
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import course_reference as course  # noqa: E402

from netviz_tp.featviz import PRESETS, class_visualization  # noqa: E402
from netviz_tp.models import load_model  # noqa: E402
from netviz_tp.saliency import saliency  # noqa: E402

TARGET = 76  # tarantula
AGREE = 1e-5  # pixels (class visualisation) and relative heat (saliency)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(methods: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """``(median, min)`` seconds of each method over ``repeats`` rounds, each round running
    all of them once in turn, so that a change in machine load hits every method alike."""
    for fn in methods.values():  # warm up (allocator, oneDNN kernels)
        fn()
    times = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            times[name].append(timed(fn))
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def report(title: str, times: dict, scale: float, unit: str) -> dict[str, float]:
    """Print each method's median and min time in ``unit``; return the medians."""
    print(f"{title} ({unit}: median, min)")
    for name, (median, best) in times.items():
        print(f"    {name:24s} {scale * median:9.2f} {scale * best:9.2f}")
    return {name: scale * median for name, (median, _) in times.items()}


def course_run(model, net, z0, steps: int, target: int = TARGET, preset=None) -> torch.Tensor:
    """The course loop with the rdfia settings (or ``preset``, a VisSettings in the course's
    space); returns the final pixels."""
    preset = preset or PRESETS["rdfia"]
    z = course.create_class_visualization(
        target,
        net,
        model.mean.flatten().cpu().numpy(),
        model.std.flatten().cpu().numpy(),
        z0,
        random.Random(0),
        l2_reg=preset.l2,
        learning_rate=preset.lr,
        num_iterations=steps,
        blur_every=preset.blur_every,
        blur_width=preset.blur_sigma,
        max_jitter=preset.jitter,
    )
    return model.denormalize(z).clamp(0, 1)


def bench_class_visualization(model, course_net, steps: int, repeats: int) -> bool:
    side = model.input_size
    z0 = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(0))
    x0 = model.denormalize(z0).clamp(0, 1).requires_grad_(True)

    def package():
        return class_visualization(model, TARGET, preset="rdfia", steps=steps).x

    def raw():  # the work a step cannot avoid: one forward and one backward pass
        for _ in range(steps):
            (grad,) = torch.autograd.grad(model(x0)[0, TARGET], x0)

    t = interleaved(
        {
            "package": package,
            "course": lambda: course_run(model, course_net, z0, steps),
            "course, package's net": lambda: course_run(model, model.net, z0, steps),
            "raw forward+backward": raw,
        },
        repeats,
    )
    title = f"(a) class visualisation, rdfia, {steps} steps x {repeats}"
    ms = report(title, t, 1000 / steps, "ms per step")
    speedup = ms["course"] / ms["package"]
    overhead = ms["package"] / ms["raw forward+backward"]
    print(f"    speed-up over the course        {speedup:5.2f}x  (target >= 1.5)")
    print(f"    package / raw forward+backward  {overhead:5.2f}x  (target <= 1.1)")
    same = (package() - course_run(model, model.net, z0, steps)).abs().max().item()
    print(f"    max |package - course| after {steps} steps, same network: {same:.1e} pixels")
    first = class_visualization(model, TARGET, preset="rdfia", steps=1).x - course_run(
        model, course_net, z0, 1
    )
    plain = (package() - course_run(model, course_net, z0, steps)).abs().max().item()
    print(
        f"    ... course's plain network: {first.abs().max().item():.1e} after 1 step, "
        f"{plain:.1e} after {steps} (its conv kernels round differently, and the loop "
        "grows last-bit differences)"
    )
    agree = same <= AGREE
    met = speedup >= 1.5 and overhead <= 1.1
    print(f"    verdict: speed targets {'met' if met else 'MISSED'}, results agree: {agree}")
    return agree


def course_images(model, n: int = 25):
    """The course's 25 images when the assets are there, else seeded random pixels."""
    try:
        from netviz_tp.data import load_imagenet_val

        data = load_imagenet_val()
        return data.x[:n], data.y[:n]
    except (OSError, RuntimeError) as error:  # no assets and no network
        print(f"    (course images unavailable: {error}; random pixels instead)")
        side = model.input_size
        x = torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(0))
        return x, torch.arange(n) % model.num_classes


def bench_saliency(model, course_net, repeats: int) -> bool:
    x, y = course_images(model)
    z = model.normalize(x)
    t = interleaved(
        {
            "package": lambda: saliency(model, x, y),
            "course": lambda: course.compute_saliency_maps(z, y, course_net),
        },
        repeats,
    )
    ms = report(f"(b) saliency, batch of {len(x)}, x {repeats}", t, 1000, "ms per batch")
    print(f"    speed-up over the course        {ms['course'] / ms['package']:5.2f}x")
    # The course differentiates w.r.t. z, the package w.r.t. pixels: d/dz = std * d/dx. The
    # same restated function applied to pixels and the normalising model gives the package's.
    heat = saliency(model, x, y)
    same = course.compute_saliency_maps(x, y, model)
    diff = ((heat - same).abs().max() / same.abs().max()).item()
    print(f"    max |package - course on pixels| / max heat: {diff:.2e}")
    return diff <= AGREE


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="squeezenet1_1", choices=["squeezenet1_1", "vgg16"])
    parser.add_argument("--steps", type=int, default=20, help="class-visualisation steps per run")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: as is)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    weights = "imagenet" if args.model == "squeezenet1_1" else None
    model = load_model(args.model, weights=weights, device="cpu")
    # The course runs a plain torchvision network: weights in the default memory format.
    course_net = copy.deepcopy(model.net).to(memory_format=torch.contiguous_format)
    print(
        f"{model.name} ({'ImageNet' if weights else 'random'} weights), torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads, channels_last="
        f"{model.channels_last}"
    )
    agree = bench_class_visualization(model, course_net, args.steps, args.repeats)
    agree &= bench_saliency(model, course_net, args.repeats)
    if not agree:
        print("FAILED: the package and the course restatement disagree")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
