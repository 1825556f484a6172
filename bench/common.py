"""What the benchmarks share: the SqueezeNet command line, model and images, timing a control
change of an explorer, and the class-scale projection of grading. Imported by the scripts of
this folder (run as scripts)."""

from __future__ import annotations

import argparse
import os
import time

import torch


def squeezenet_run(doc: str):
    """Parse ``--repeats`` and ``--threads``, set the threads, load the real SqueezeNet and
    the course images: ``(args, model, data)``, or None (with the fix printed) without assets."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not os.environ.get("NETVIZ_TP_ASSETS"):
        print("set NETVIZ_TP_ASSETS to the offline assets folder (the real SqueezeNet)")
        return None
    torch.set_num_threads(args.threads)
    from netviz_tp.data import load_imagenet_val
    from netviz_tp.models import load_model

    return args, load_model("squeezenet1_1"), load_imagenet_val()


def update_times(ex, control, values) -> list[float]:
    """Seconds from setting ``control.value`` to the end of the work it started."""
    times = []
    for value in values:
        start = time.perf_counter()
        control.value = value
        if not ex.wait(300):
            raise TimeoutError("the explorer did not finish within 300 s")
        if ex.error.value:
            raise RuntimeError(f"the explorer reported an error: {ex.error.value}")
        times.append(time.perf_counter() - start)
    return times


def class_seconds(batch: float, submissions: int, runs: float, jobs: int, students: int) -> float:
    """Seconds to grade ``students`` from one measured batch: its fixed part (release,
    referee, canary: the ``batch`` wall seconds less its ``submissions`` runs of ``runs``
    seconds each, spread over the ``jobs``) once, plus ``students`` runs over the jobs."""
    return batch - submissions * runs / jobs + students * runs / jobs
