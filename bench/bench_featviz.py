"""Speed of batched class visualisation (``sweep``) against the course loop, side by side.

Usage: NETVIZ_TP_ASSETS=../shared/assets python bench/bench_featviz.py
       [--models squeezenet1_1 vgg16] [--steps N] [--vgg-steps N] [--repeats R]

For SqueezeNet 1.1 (its real weights, from the assets) and VGG16 (random weights), and two
workloads in the course's space (settings of the preset "rdfia"):

- a 5-class grid: 5 classes from the same noise;
- a 3x3 sweep: learning rate x L2 weight for one class;

it times, interleaved with the same threads (median and minimum of the repetitions):

- batched: ``sweep.sweep`` (the whole workload as its chunks, one batch here);
- course: the same work, one image at a time, by the course loop restated in
  ``tests/course_reference.py`` on the course's plain network;
- bare: the network's batched forward + backward pass on the same batch, ``steps`` times
  (the work a step cannot avoid);
- bare, one at a time: the course network's forward + backward at batch 1, ``steps`` times
  per image (the work the course loop cannot avoid).

Printed per image-step, with the ratios course / batched (target: at least 2x) and batched
/ bare (target: at most 1.1x), and the ceiling: bare one at a time / bare batched, the most
any batched loop can gain over the course loop's unavoidable work on this machine. It also
checks that each cell of the batch agrees with the course loop on the same network after one
step (exit status 1 if not).
"""

from __future__ import annotations

import argparse
import copy
import sys

import torch
from bench_methods import course_run, interleaved, report

from netviz_tp.featviz import vis_settings
from netviz_tp.models import load_model
from netviz_tp.sweep import sweep

CLASSES = [76, 366, 683, 604, 187]  # tarantula, gorilla, oboe, hourglass, Yorkshire terrier
SWEEP = {"lr": [2.0, 5.0, 10.0], "l2": [1e-4, 1e-3, 1e-2]}
AGREE = 1e-4  # pixels, after one step, batch against one image at a time


def workloads() -> dict[str, tuple[list[int], dict]]:
    """``{name: (targets, vary)}`` of the two workloads."""
    return {
        "5-class grid": (CLASSES, {}),
        "3x3 sweep lr x l2": ([CLASSES[0]], SWEEP),
    }


def bench(model, course_net, name: str, targets, vary, steps: int, repeats: int) -> bool:
    common = dict(preset="rdfia", steps=steps, progress=False)
    plan = sweep(model, targets, vary, **{**common, "steps": 0})  # no steps: the cells
    n, chunk = len(plan.x), plan.chunk
    side = model.input_size
    z0 = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(0))
    cell_targets = [t for t in targets for _ in range(n // len(targets))]
    course_cells = [vis_settings(s, steps=steps) for s in plan.settings]
    layout = torch.channels_last if model.channels_last else torch.contiguous_format
    z = z0.expand(chunk, -1, -1, -1).contiguous(memory_format=layout).requires_grad_(True)
    goal = torch.tensor(cell_targets)

    def batched():
        return sweep(model, targets, vary, **common).x

    def course_loop(net=course_net, steps=steps):
        return [
            course_run(model, net, z0, steps, t, s)
            for t, s in zip(cell_targets, course_cells, strict=True)
        ]

    def bare():  # the same chunks
        for first in range(0, n, chunk):
            part = goal[first : first + chunk]
            for _ in range(steps):
                logits = model.net(z[: len(part)])
                torch.autograd.grad(logits.gather(1, part[:, None]).sum(), z)

    one_image = z0.clone().requires_grad_(True)

    def bare_one_at_a_time():
        for target in cell_targets:
            for _ in range(steps):
                torch.autograd.grad(course_net(one_image)[0, target], one_image)

    methods = {"batched": batched, "course": course_loop, "bare fwd+bwd": bare,
               "bare, one at a time": bare_one_at_a_time}  # fmt: skip
    t = interleaved(methods, repeats)
    title = f"{model.name}, {name}: {n} images x {steps} steps, chunk {chunk}, x {repeats}"
    ms = report(title, t, 1000 / (n * steps), "ms per image-step")
    speedup, overhead = ms["course"] / ms["batched"], ms["batched"] / ms["bare fwd+bwd"]
    print(f"    course / batched        {speedup:5.2f}x  (target >= 2)")
    print(f"    batched / bare fwd+bwd  {overhead:5.2f}x  (target <= 1.1)")
    ceiling = ms["bare, one at a time"] / ms["bare fwd+bwd"]
    print(f"    ceiling: bare one at a time / bare batched {ceiling:5.2f}x")
    one = sweep(model, targets, vary, **{**common, "steps": 1}).x
    ref = torch.cat(course_loop(model.net, 1))
    diff = (one - ref).abs().max().item()
    print(f"    max |batched - course loop, same network| after 1 step: {diff:.1e} pixels")
    met = speedup >= 2 and overhead <= 1.1
    print(f"    verdict: speed targets {'met' if met else 'MISSED'}, agree: {diff <= AGREE}")
    return diff <= AGREE


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["squeezenet1_1", "vgg16"])
    parser.add_argument("--steps", type=int, default=20, help="steps per image (SqueezeNet)")
    parser.add_argument("--vgg-steps", type=int, default=5, help="steps per image (VGG16)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; rdfia settings")
    agree = True
    for name in args.models:
        weights = "imagenet" if name == "squeezenet1_1" else None
        model = load_model(name, weights=weights, device="cpu")
        course_net = copy.deepcopy(model.net).to(memory_format=torch.contiguous_format)
        steps = args.vgg_steps if name == "vgg16" else args.steps
        kind = "ImageNet" if weights else "random"
        print(f"{model.name} ({kind} weights), channels_last={model.channels_last}")
        for work, (targets, vary) in workloads().items():
            agree &= bench(model, course_net, work, targets, vary, steps, args.repeats)
    if not agree:
        print("FAILED: the batch and the course loop disagree")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
