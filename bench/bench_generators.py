"""Speed of practical 5: a generator's training step and the fooling curve, side by side with
the classifier's bare passes they cannot avoid.

Usage: NETVIZ_TP_ASSETS=../shared/assets python bench/bench_generators.py
       [--model squeezenet1_1] [--repeats R] [--threads T]

Prints, with the same threads and interleaved repetitions (median of R):

(a) one update of the class-conditional generator (preset "imagenet_small", batch 10) and of
    the feature-vector generator (preset "untrained", batch 1), against the
    classifier's bare forward + backward pass on a batch of the same size: the ratio is what
    the generator adds;
(b) the fooling curve of one perturbation at one coefficient on the 25 course images, against
    the bare forward pass on them (target: at most 1.1x), and the projected time of the
    paper's full measure (35 coefficients) for 10 classes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch

from netviz_tp import load_imagenet_val, load_model
from netviz_tp.featgen import FEATURE_PRESETS
from netviz_tp.fooling import fooling_curve, sign_noise
from netviz_tp.generators import CONDITIONAL_PRESETS
from netviz_tp.training import train_conditional, train_feature


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bare_pass(model, n: int):
    x = torch.rand(n, 3, model.input_size, model.input_size, requires_grad=True)
    return lambda: model(x).sum().backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="squeezenet1_1")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    steps = 3  # updates per timed call (the first call builds the generator too)
    runs = {
        "conditional (batch 10)": (
            10,
            lambda: train_conditional(
                model,
                list(range(10)),
                replace(CONDITIONAL_PRESETS["imagenet_small"], steps=steps),
                cache=False,
                progress=False,
            ),
        ),
        "feature, untrained (batch 1)": (
            1,
            lambda: train_feature(
                model,
                1,
                replace(FEATURE_PRESETS["untrained"], steps=steps),
                cache=False,
                progress=False,
            ),
        ),
    }
    print(f"{args.model}, {args.threads} threads, median of {args.repeats}")
    for name, (batch, run) in runs.items():
        generator = median_time(run, args.repeats) / steps
        bare = median_time(bare_pass(model, batch), args.repeats)
        print(
            f"(a) {name}: {generator * 1e3:.0f} ms/update, bare fwd+bwd {bare * 1e3:.0f} ms "
            f"({generator / bare:.2f}x)"
        )
    x = load_imagenet_val().x
    v = sign_noise(torch.zeros(1, *x.shape[1:]))
    curve = median_time(lambda: fooling_curve(model, x, v, [0], e=[10]), args.repeats)
    with torch.no_grad():
        bare = median_time(lambda: model(x), args.repeats)
    print(
        f"(b) fooling curve, 1 class x 1 e x 25 images: {curve:.2f} s, bare forward "
        f"{bare:.2f} s ({curve / bare:.2f}x; one clean pass included: 2x expected); full "
        f"measure 10 classes x 35 e: {bare * 350:.0f} s"
    )


if __name__ == "__main__":
    main()
