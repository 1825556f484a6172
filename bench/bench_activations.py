"""Average-activation comparison and occlusion with the real SqueezeNet on a 2-core CPU.

Usage: NETVIZ_TP_ASSETS=../shared/assets python bench/bench_activations.py [--repeats N]
       [--threads T]

Prints, measured against its target (issue 11): a full comparison of two images (every conv
layer, every filter, ranked) under 1 s; 25 course images in classes mode (predictions, then
the two groups) under 5 s; beside them, as a reference, one bare forward pass of the same
images, and the occlusion experiment on 25 images (reported, no target); then the
explorer's updates (control change -> new picture, target < 1 s). Exits 1 when a target is
missed.
"""

from __future__ import annotations

import statistics
import sys
import time

import torch
from common import squeezenet_run, update_times


def _seconds(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _row(name: str, times: list[float], target: float | None, forward: float) -> bool:
    median = statistics.median(times)
    ratio = f"{median / target:>8.2f}" if target else f"{'-':>8}"
    verdict = "" if target is None else "ok" if median < target else "SLOW"
    goal = f"{target:g} s" if target else "-"
    print(f"  {name:<38}{median:>9.3f}{goal:>9}{ratio}{median / forward:>12.1f}  {verdict}")
    return target is None or median < target


def bench_explorer(model, data, repeats: int, forward: float) -> bool:
    """Seconds from a control change to the explorer's new picture, per control."""
    from netviz_tp.widgets import activations_explorer

    ex = activations_explorer(models=[model], images=data)
    ex.wait(300)
    changes = {
        "layer slider": (ex.layer_slider, [(k * 5) % 26 for k in range(1, repeats + 1)]),
        "filter slider": (ex.filter_slider, list(range(1, repeats + 1))),
        "view: histogram": (ex.view, ["histogram", "difference"] * repeats),
        "Grad-CAM class": (ex.cam_class, [k % 5 for k in range(1, repeats + 1)]),
        "image (vs its FGSM version)": (ex.image_dd, list(range(1, repeats + 1))),
    }
    ok = True
    for name, (control, values) in changes.items():
        times = update_times(ex, control, values)
        ok &= _row(f"explorer: {name}", times, 1.0, forward)
    return ok


def main() -> int:
    run = squeezenet_run(__doc__)
    if run is None:
        return 2
    args, model, data = run
    from netviz_tp.activations import compare_activations, compare_classes
    from netviz_tp.occlusion import occlusion_experiment

    x = data.x.to(next(model.parameters()).device)

    def forward(images):
        with torch.no_grad():
            model(images)

    fwd2 = statistics.median(_seconds(lambda: forward(x[:2]), args.repeats))
    fwd25 = statistics.median(_seconds(lambda: forward(x), args.repeats))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, SqueezeNet 1.1")
    print(f"  {'seconds':<38}{'median':>9}{'target':>9}{'ratio':>8}{'/ forward':>12}")
    ok = _row(
        "2 images, images mode",
        _seconds(lambda: compare_activations(model, x[:1], x[1:2]), args.repeats),
        1.0,
        fwd2,
    )
    ok &= _row(
        "25 images, classes mode",
        _seconds(lambda: compare_classes(model, x), args.repeats),
        5.0,
        fwd25,
    )
    ok &= _row(
        "occlusion, 25 images, 8 random",
        _seconds(lambda: occlusion_experiment(model, x, data.y), 1),
        None,
        fwd25,
    )
    ok &= bench_explorer(model, data, args.repeats, fwd2)
    print("all targets met" if ok else "some targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
