"""Explorer responsiveness with the real SqueezeNet on a 2-core CPU.

Usage: NETVIZ_TP_ASSETS=../shared/assets python bench/bench_widgets.py [--repeats N]
       [--threads T]

Prints the time from a control change to the new rendered result, as a browser would see
it (the observer runs, the worker computes, the PNG lands in the widget), for the saliency
explorer (each method) and the adversarial explorer (each attack), and the interval between
live frames of the class-visualisation explorer. Targets (issue 5): a saliency or attack
update in under 1 s, a class-visualisation frame at least every second. Exits 1 when the
course's defaults (vanilla saliency, the course fooling rule, class-vis frames) miss them.
"""

from __future__ import annotations

import statistics
import sys
import time

import torch
from common import squeezenet_run, update_times

TARGET_UPDATE, TARGET_FRAME = 1.0, 1.0


def _row(name: str, times: list[float], target: float) -> bool:
    median, worst = statistics.median(times), max(times)
    ok = median < target
    verdict = "ok" if ok else "SLOW"
    print(f"  {name:<28}{median:>9.3f}{worst:>9.3f}{median / target:>8.2f}  {verdict}")
    return ok


def bench_explorer(explorer, table: dict, course_method: str, title: str, model, data, repeats):
    """Time an image change -> new result for every method of ``table``; only the course's
    method must meet the target (the others are reported)."""
    ex = explorer({"squeezenet1_1": model}, data)
    ex.wait(300)
    print(f"{title}: image change -> new result (seconds)")
    ok = True
    for method in table:
        ex.method_dd.value = method
        ex.wait(300)
        images = [(ex.image_dd.value + k + 1) % len(data.y) for k in range(repeats)]
        fine = _row(method, update_times(ex, ex.image_dd, images), TARGET_UPDATE)
        ok &= fine or method != course_method
    return ok


def bench_saliency(model, data, repeats: int) -> bool:
    from netviz_tp.saliency import ATTRIBUTIONS
    from netviz_tp.widgets import saliency_explorer

    title = "saliency explorer (map, overlay and top-5)"
    return bench_explorer(saliency_explorer, ATTRIBUTIONS, "vanilla", title, model, data, repeats)


def bench_attacks(model, data, repeats: int) -> bool:
    from netviz_tp.attacks import ATTACKS
    from netviz_tp.widgets import adversarial_explorer

    title = "adversarial explorer (attack result)"
    return bench_explorer(adversarial_explorer, ATTACKS, "fooling", title, model, data, repeats)


def bench_class_vis(model, steps: int = 60) -> bool:
    from netviz_tp.widgets import class_vis_explorer

    ok = True
    print(f"class-vis explorer: interval between live frames over {steps} steps (seconds)")
    for preset in ("rdfia", "cs231n"):
        ex = class_vis_explorer({"squeezenet1_1": model}, images={}, preset=preset)
        ex.steps_slider.value = steps
        stamps: list[float] = []
        ex.output_image.observe(lambda _, seen=stamps: seen.append(time.perf_counter()), "value")
        start = time.perf_counter()
        ex.run()
        ex.wait(600)
        gaps = [b - a for a, b in zip([start, *stamps], stamps, strict=False)]
        ok &= _row(f"{preset} ({len(stamps)} frames)", gaps, TARGET_FRAME)
        ok &= max(gaps) <= TARGET_FRAME
    return ok


def main() -> int:
    run = squeezenet_run(__doc__)
    if run is None:
        return 2
    args, model, data = run
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; targets: update "
          f"< {TARGET_UPDATE} s, frame every <= {TARGET_FRAME} s")  # fmt: skip
    print(f"  {'':<28}{'median':>9}{'max':>9}{'ratio':>8}")
    ok = bench_saliency(model, data, args.repeats)
    ok &= bench_attacks(model, data, args.repeats)
    ok &= bench_class_vis(model)
    print("all course targets met" if ok else "some course targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
