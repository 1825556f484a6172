"""Average activations: ``(model, x_a, x_b) -> ActivationComparison``, layer by layer, per filter.

The visualisation of the thesis "CNN Visualizer" (seed 002, Sec. 3.1 and 4.2): the output maps
of every convolution and linear layer are averaged over two groups of images, A and B (two
images, e.g. an image and its adversarial version; or the images predicted as two classes),
and each filter's signed difference ``delta_k = mean_A,k - mean_B,k`` is ranked by its norm,
to see where in the network two inputs (or two classes) part ways.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from .hooks import capture
from .validate import as_target, check_images, check_model

ACTIVATIONS = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.Softplus,
)  # fmt: skip
"""Modules counted as a layer's fused activation when defined right after it (see
:func:`compared_layers`)."""


@dataclass(frozen=True)
class LayerComparison:
    """One layer's group means and their difference, filter by filter.

    Shape: ``mean_a``, ``mean_b`` ``[K, h, w]`` (a conv layer's ``K`` filters; a linear layer
    is one "filter", its units laid out as the :func:`grid_shape` grid); ``norms [K]`` the
    norm of each filter's flattened difference; ``ranking [K]`` the filter indices by
    decreasing norm (``ranking[0]`` differs most). All on the CPU, float32.
    """

    name: str
    kind: str  # "conv" or "linear"
    mean_a: torch.Tensor
    mean_b: torch.Tensor
    norms: torch.Tensor
    ranking: torch.Tensor

    @property
    def delta(self) -> torch.Tensor:
        """The signed difference ``mean_a - mean_b`` ``[K, h, w]``."""
        return self.mean_a - self.mean_b

    @property
    def mean_delta(self) -> torch.Tensor:
        """The layer's mean difference map: ``delta`` averaged over filters, ``[h, w]``."""
        return self.delta.mean(dim=0)

    @property
    def norm_stats(self) -> tuple[float, float, float]:
        """Mean, min and max of the filter norms: one point of the summary curve."""
        return self.norms.mean().item(), self.norms.min().item(), self.norms.max().item()

    def histogram(self, k: int, *, bins: int = 50) -> tuple[torch.Tensor, ...]:
        """The values of filter ``k``'s two mean maps binned alike: ``(counts_a, counts_b,
        edges)``, counts ``[bins]``, edges ``[bins + 1]`` spanning both maps."""
        a, b = self.mean_a[k].flatten(), self.mean_b[k].flatten()
        lo, hi = min(a.min().item(), b.min().item()), max(a.max().item(), b.max().item())
        hi = hi if hi > lo else lo + 1.0
        edges = torch.linspace(lo, hi, bins + 1)
        return torch.histc(a, bins, lo, hi), torch.histc(b, bins, lo, hi), edges


@dataclass(frozen=True)
class ActivationComparison:
    """The comparison of two groups in every compared layer, in network order.

    ``labels`` name the groups (``"image"``, ``"adversarial"``, or class indices/names),
    ``counts`` their sizes, ``classes`` the two classes in classes mode (else None); ``ord``
    is the norm order used for the ranking.
    """

    layers: tuple[LayerComparison, ...]
    ord: float
    labels: tuple[str, str]
    counts: tuple[int, int]
    classes: tuple[int, int] | None = None

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def __getitem__(self, key: int | str) -> LayerComparison:
        """A layer by position or by name (as in ``model.layers``)."""
        if isinstance(key, str):
            if key not in self.names:
                raise KeyError(f"no compared layer {key!r}; compared layers: {self.names}")
            return self.layers[self.names.index(key)]
        return self.layers[key]

    def __len__(self) -> int:
        return len(self.layers)

    def summary(self) -> dict[str, torch.Tensor]:
        """The thesis's summary curve against depth: ``{"mean", "min", "max"}`` of the filter
        norms, each ``[L]``, one value per layer in network order."""
        stats = torch.tensor([layer.norm_stats for layer in self.layers]).reshape(-1, 3)
        return {"mean": stats[:, 0], "min": stats[:, 1], "max": stats[:, 2]}


def grid_shape(n: int) -> tuple[int, int]:
    """The closest factor pair ``rows x cols = n``, ``rows <= cols``, no padding.

    ``1000 -> (25, 40)``, ``100 -> (10, 10)``, ``10 -> (2, 5)``; a prime ``p -> (1, p)``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    rows = next(r for r in range(math.isqrt(n), 0, -1) if n % r == 0)
    return rows, n // rows


def compared_layers(model: nn.Module) -> list[str]:
    """The names of every ``Conv2d`` and ``Linear`` of the model, in definition order.

    Names are those of ``model.layers``. A layer whose next sibling module (in its parent's
    definition order: ``Sequential`` nets, SqueezeNet's Fire modules) is an activation from
    :data:`ACTIVATIONS` is measured after that activation, as in Keras' fused
    ``Conv2D(activation="relu")`` of the thesis; otherwise its raw output is measured (e.g.
    before ResNet's batch-norm).
    """
    names = [n for n, m in _named(model).items() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not names:
        raise ValueError(f"{type(model).__name__} has no Conv2d or Linear layer to compare")
    return names


def group_means(
    model: nn.Module,
    x: torch.Tensor,
    *,
    layers: list[str] | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """The average output map of each layer over the images ``x``, batch by batch.

    A running sum per layer keeps memory to one batch of activations plus one mean map per
    layer, however many images. Conv outputs ``[N, K, h, w]`` give ``[K, h, w]``; linear
    outputs ``[N, D]`` give ``[1, rows, cols]`` with ``grid_shape(D)`` (any extra axes of a
    linear output are flattened with the units). A layer that does not run is left out.

    Shape: ``x [N, C, H, W]`` in ``[0, 1]``, ``N >= 1`` -> ``{name: Tensor[K, h, w]}`` on the
    CPU, in the order the layers run.
    """
    check_model(model)
    x = check_images(x, model)
    if len(x) == 0:
        raise ValueError("a group needs at least one image, got an empty batch")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    names = _checked_layers(model, layers)
    fused = {name: _fused_activation(model, name) for name in names}
    sums: dict[str, torch.Tensor] = {}
    batches = range(0, len(x), batch_size)
    with torch.no_grad(), capture(model, names) as rec:
        for start in tqdm(batches, disable=not progress, desc="activations", leave=False):
            rec.activations.clear()
            model(x[start : start + batch_size])
            for name, out in rec.activations.items():
                out = fused[name](out) if fused[name] is not None else out
                total = out.float().sum(dim=0)
                sums[name] = sums[name] + total if name in sums else total
    modules = _named(model)
    return {name: _as_maps(sums[name] / len(x), modules[name]).cpu() for name in sums}


def compare_activations(
    model: nn.Module,
    x_a: torch.Tensor,
    x_b: torch.Tensor,
    *,
    ord: float = 2,
    labels: tuple[str, str] = ("A", "B"),
    layers: list[str] | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> ActivationComparison:
    """Images mode: compare the average activations of two groups of images, layer by layer.

    For each layer and filter ``k``: the group means, ``delta_k = mean_A,k - mean_B,k`` and
    ``||vec(delta_k)||_ord``, the *vector* norm of the flattened map (``ord`` 1, 2 or inf;
    not numpy's matrix norm, whose ord 2 on a map would be its largest singular value);
    filters are ranked by it. Each group runs in its own batches, so identical groups give
    exactly ``delta = 0``.

    Reference: "CNN Visualizer" thesis (seed 002), Sec. 3.1 and 4.2 (``vis_aa``).

    Args:
        model: a frozen classifier in eval mode.
        x_a, x_b: the two groups (one image each for the thesis's images mode).
        ord: the norm order of the ranking (1, 2 or ``float("inf")``; also ``"inf"``).
        labels: names of the two groups, for titles.
        layers: some of :func:`compared_layers`' names (default: all of them).
        batch_size: images per forward pass (memory is one batch of activations).
        progress: show a tqdm progress bar.

    Shape: ``x_a [Na, C, H, W]``, ``x_b [Nb, C, H, W]`` in ``[0, 1]`` -> ActivationComparison.

    Example:
        >>> comp = compare_activations(model, x[:1], fgsm(model, x[:1], 3).x_adv)
        >>> comp[0].ranking[:5], comp.summary()["max"]
    """
    p = _norm_order(ord)
    kw = dict(layers=layers, batch_size=batch_size, progress=progress)
    means_a, means_b = group_means(model, x_a, **kw), group_means(model, x_b, **kw)
    compared = tuple(_compare(name, model, means_a[name], means_b[name], p) for name in means_a)
    return ActivationComparison(compared, p, tuple(labels), (len(x_a), len(x_b)))


def compare_classes(
    model: nn.Module,
    x: torch.Tensor,
    classes=None,
    *,
    ord: float = 2,
    class_names=None,
    layers: list[str] | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> ActivationComparison:
    """Classes mode: split ``x`` by the model's top-1 prediction and compare two classes.

    Args:
        classes: two classes (indices, or ImageNet names); default: the two most frequent
            predictions in ``x`` (ties go to the smaller class index).
        class_names: a list indexed by class for the labels (default: the indices).
        ord, layers, batch_size, progress: as :func:`compare_activations`.

    Raises ValueError when a requested class is predicted for no image, or when the images
    are all predicted as one class.

    Shape: ``x [N, C, H, W]`` in ``[0, 1]`` -> ActivationComparison with ``classes`` set.
    """
    check_model(model)
    x = check_images(x, model)
    with torch.no_grad():
        batches = range(0, len(x), batch_size)
        pred = torch.cat([model(x[i : i + batch_size]).argmax(1) for i in batches])
    counts = Counter(pred.tolist())
    if classes is None:
        if len(counts) < 2:
            raise ValueError(
                f"all {len(x)} images are predicted as class {pred[0].item()}; classes mode "
                "needs images of at least two predicted classes (add images, or use "
                "compare_activations for two images)"
            )
        chosen = sorted(counts, key=lambda c: (-counts[c], c))[:2]
    else:
        chosen = as_target(classes, 2, model).tolist()
        missing = [c for c in chosen if c not in counts]
        if missing or chosen[0] == chosen[1]:
            seen = ", ".join(f"{c} ({n})" for c, n in counts.most_common(8))
            raise ValueError(
                f"classes mode needs two different classes predicted for some images; got "
                f"{chosen}; the most frequent predictions are {seen} (class (images))"
            )
    a, b = chosen
    labels = tuple(str(c) if class_names is None else str(class_names[c]) for c in chosen)
    comp = compare_activations(
        model, x[pred == a], x[pred == b], ord=ord, labels=labels, layers=layers,
        batch_size=batch_size, progress=progress,
    )  # fmt: skip
    return ActivationComparison(comp.layers, comp.ord, comp.labels, comp.counts, (a, b))


def _checked_layers(model: nn.Module, layers) -> list[str]:
    allowed = compared_layers(model)
    if layers is None:
        return allowed
    names = [layers] if isinstance(layers, str) else list(layers)
    wrong = [n for n in names if n not in allowed]
    if wrong or not names:
        raise ValueError(
            f"layers must be a non-empty list of conv or linear layer names, got {wrong or names}; "
            f"this model's are {allowed[:6]}{'...' if len(allowed) > 6 else ''} "
            "(see compared_layers(model))"
        )
    return names


def rank_filters(delta: torch.Tensor, ord: float = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Each filter's ``||vec(delta_k)||_ord`` and the filters by decreasing norm (ties keep
    their order). Shape: ``delta [K, h, w]`` -> ``norms [K]``, ``ranking [K]`` (long)."""
    norms = torch.linalg.vector_norm(delta.flatten(1), ord=_norm_order(ord), dim=1)
    return norms, torch.sort(norms, descending=True, stable=True).indices


def _compare(name, model, mean_a, mean_b, p) -> LayerComparison:
    norms, ranking = rank_filters(mean_a - mean_b, p)
    kind = "conv" if isinstance(_named(model)[name], nn.Conv2d) else "linear"
    return LayerComparison(name, kind, mean_a, mean_b, norms, ranking)


def _as_maps(mean: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """A layer's mean output without its batch axis -> maps ``[K, h, w]``: a conv's filters,
    or all the units of any other layer as one near-square grid."""
    if mean.dim() == 3 and not isinstance(module, nn.Linear):
        return mean
    return mean.reshape(1, *grid_shape(mean.numel()))


def _norm_order(ord) -> float:
    value = float("inf") if isinstance(ord, str) and ord.lower() == "inf" else ord
    if isinstance(value, bool) or value not in (1, 2, float("inf")):
        raise ValueError(f"ord must be 1, 2 or inf (a vector norm), got {ord!r}")
    return float(value)


def _named(model: nn.Module) -> dict[str, nn.Module]:
    return dict(model.layers) if hasattr(model, "layers") else dict(model.named_modules())


def _fused_activation(model: nn.Module, name: str) -> nn.Module | None:
    """The activation module defined right after layer ``name`` in its parent, if any."""
    parent_name, _, child = name.rpartition(".")
    root = getattr(model, "net", model) if hasattr(model, "layers") else model
    siblings = list((root.get_submodule(parent_name) if parent_name else root).named_children())
    position = [n for n, _ in siblings].index(child) if child in dict(siblings) else None
    if position is None or position + 1 == len(siblings):
        return None
    following = siblings[position + 1][1]
    return following if isinstance(following, ACTIVATIONS) else None
