"""Average-activation check: ``check_ranked_differences(fn)`` against
:func:`netviz_tp.activations.rank_filters` on the group means.

The mistakes it recognises: numpy's / torch's matrix norm on each map instead of the vector
norm of the flattened map, B - A instead of A - B, the absolute difference, filters ranked
in increasing order, the images' mean difference taken after the norm.
"""

from __future__ import annotations

import torch

from ..activations import rank_filters
from .common import close, failed, forbid_reference, passed


def check_ranked_differences(fn, acts_a=None, acts_b=None, *, ord=2, seed: int = 0) -> None:
    """Check ``fn(acts_a, acts_b, ord) -> (delta, norms, ranking)`` for one layer's outputs
    ``acts [N, K, h, w]`` of groups A and B: ``delta = mean_A - mean_B`` ``[K, h, w]``, the
    vector norm of each flattened ``delta_k`` ``[K]``, the filters by decreasing norm ``[K]``."""
    name = getattr(fn, "__name__", "ranked_differences")
    if acts_a is None:
        gen = torch.Generator().manual_seed(seed)
        acts_a = torch.randn(3, 6, 5, 7, generator=gen).relu()
        acts_b = torch.randn(2, 6, 5, 7, generator=gen).relu()
    delta = acts_a.mean(0) - acts_b.mean(0)
    norms, _ = rank_filters(delta, ord)
    with forbid_reference("activations"):
        out = fn(acts_a.clone(), acts_b.clone(), ord)
    if not (isinstance(out, tuple) and len(out) == 3):
        failed(name, f"should return a tuple (delta, norms, ranking), got {type(out).__name__}")
    got = [torch.as_tensor(v).detach().cpu() for v in out]
    k = delta.shape[0]
    for what, value, shape in zip(
        ("delta", "norms", "ranking"), got, (delta.shape, (k,), (k,)), strict=True
    ):
        if tuple(value.shape) != tuple(shape):
            failed(name, f"{what} should have shape {tuple(shape)}, got {tuple(value.shape)}")
    out_delta, out_norms, out_ranking = got
    _check_delta(name, out_delta, delta)
    _check_norms(name, out_norms, delta, norms, ord)
    _check_ranking(name, out_ranking, norms)
    passed(name, f"A - B, {ord} norm of each flattened map, {k} filters ranked")


def _check_delta(name, out, delta) -> None:
    if close(out, delta, 1e-5):
        return
    for message, wrong in (
        ("you computed B - A: the difference is mean_A - mean_B", -delta),
        ("you took the absolute difference: keep its sign (mean_A - mean_B)", delta.abs()),
    ):
        if close(out, wrong, 1e-5):
            failed(name, message)
    failed(name, "delta differs from mean_A - mean_B (average each group over its images, dim=0)")


def _check_norms(name, out, delta, norms, ord) -> None:
    if close(out, norms, 1e-4):
        return
    p = float("inf") if ord == "inf" else float(ord)
    matrix = torch.linalg.matrix_norm(delta, ord=p)
    if close(out, matrix, 1e-4):
        failed(
            name,
            "this is the matrix norm of each map (for ord 2 its largest singular value): take "
            "the vector norm of the flattened map, torch.linalg.vector_norm(d.flatten(1), ord, 1)",
        )
    failed(name, f"norms differ from ||vec(delta_k)||_{ord} (max |difference| "
                 f"{(out - norms).abs().max().item():.3g})")  # fmt: skip


def _check_ranking(name, out, norms) -> None:
    k = len(norms)
    if sorted(out.long().tolist()) != list(range(k)):
        failed(name, f"ranking should be a permutation of the filter indices 0..{k - 1}")
    ranked = norms[out.long()]
    if (ranked.diff() > 1e-6).all():
        failed(name, "the filters are ranked in increasing order: the largest difference first")
    if (ranked.diff() > 1e-6).any():
        failed(name, "ranking does not sort the filters by decreasing norm")
