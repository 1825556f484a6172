"""Transport: Python values <-> (JSON spec, tensors) across the sandbox wall, never pickle.

A value is a tensor, a :class:`~netviz_tp.models.Classifier` (sent as its recipe and its
``state_dict``), a number, a string, ``None``, a bool, or a list / tuple / str-keyed dict of
those. Tensors travel in a safetensors file, whose loading runs no code; everything else is
JSON. A value of any other type is sent as ``{"t": "opaque", "type": name}``: the grader sees
its type name, never the object. Files read back from the sandbox are bounded in size and
read without following symlinks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

MAX_BYTES = 512 * 2**20
"""Largest file accepted from the sandbox (outputs of one test cell)."""


class TransportError(ValueError):
    """A value that cannot cross the sandbox wall, or a malformed file from the sandbox."""


class Encoder:
    """Collects the tensors of encoded values; ``save(stem)`` writes ``stem.json`` + ``.st``."""

    def __init__(self):
        self.tensors: dict[str, torch.Tensor] = {}

    def _tensor(self, value: torch.Tensor) -> dict:
        key = f"t{len(self.tensors)}"
        self.tensors[key] = value.detach().cpu().contiguous().clone()
        return {"t": "tensor", "key": key}

    def encode(self, value, *, strict: bool = True):
        """The JSON spec of ``value``; ``strict=False`` turns unknown types into opaque specs."""
        from netviz_tp.models import Classifier

        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, torch.Tensor):
            return self._tensor(value)
        if isinstance(value, Classifier):
            state = {k: self._tensor(v)["key"] for k, v in value.state_dict().items()}
            recipe = {
                "name": value.name,
                "num_classes": value.num_classes,
                "in_channels": value.in_channels,
                "input_size": value.input_size,
                "mean": value.mean.flatten().tolist(),
                "std": value.std.flatten().tolist(),
            }
            return {"t": "model", "recipe": recipe, "state": state}
        if isinstance(value, (list, tuple)):
            kind = "list" if isinstance(value, list) else "tuple"
            return {"t": kind, "items": [self.encode(v, strict=strict) for v in value]}
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {
                "t": "dict",
                "items": {k: self.encode(v, strict=strict) for k, v in value.items()},
            }
        if isinstance(value, torch.device):
            return {"t": "device", "name": str(value)}
        if strict:
            raise TransportError(
                f"a test passes a {type(value).__name__} to the student's function: only tensors, "
                "models, numbers, strings and lists/dicts of them can be sent to the sandbox"
            )
        return {"t": "opaque", "type": type(value).__name__[:80]}

    def save(self, stem: Path, spec) -> None:
        """Write ``stem.json`` (the spec) and ``stem.st`` (the tensors), each atomically."""
        from safetensors.torch import save_file

        tmp = stem.with_suffix(".st.tmp")
        save_file(self.tensors, str(tmp))
        os.replace(tmp, stem.with_suffix(".st"))
        tmp = stem.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(spec, allow_nan=True))
        os.replace(tmp, stem.with_suffix(".json"))


def read_bounded(path: Path, inside: Path | None = None) -> bytes:
    """The bytes of a regular file, refusing symlinks, files outside ``inside`` and big files."""
    path = Path(path)
    if inside is not None:
        real = Path(os.path.realpath(path.parent))
        if (
            real != Path(os.path.realpath(inside))
            and Path(os.path.realpath(inside)) not in real.parents
        ):
            raise TransportError(f"{path} leads outside {inside}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise TransportError(f"cannot read {path.name}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not os.path.stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise TransportError(f"{path.name} is not a regular file")
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise TransportError(f"{path.name} is larger than {MAX_BYTES // 2**20} MB")
    return data


def load(stem: Path, inside: Path | None = None):
    """(spec, tensors) from ``stem.json`` and ``stem.st``, as written by :meth:`Encoder.save`."""
    from safetensors.torch import load as load_tensors

    try:
        spec = json.loads(read_bounded(stem.with_suffix(".json"), inside))
        tensors = load_tensors(read_bounded(stem.with_suffix(".st"), inside))
    except (ValueError, OSError) as exc:
        if isinstance(exc, TransportError):
            raise
        raise TransportError(f"malformed {stem.name}: {exc}") from None
    return spec, tensors


class Opaque:
    """Stands for a value the sandbox returned that is not data: only its type name crossed."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} object>"


def decode(spec, tensors: dict[str, torch.Tensor], models: dict | None = None):
    """The value of a spec (``models``: a cache of models already rebuilt, by recipe)."""
    if spec is None or isinstance(spec, (bool, int, float, str)):
        return spec
    if not isinstance(spec, dict) or not isinstance(spec.get("t"), str):
        raise TransportError(f"malformed value spec: {str(spec)[:80]}")
    kind = spec["t"]
    if kind == "tensor":
        if spec.get("key") not in tensors:
            raise TransportError(f"missing tensor {str(spec.get('key'))[:40]}")
        return tensors[spec["key"]]
    if kind in ("list", "tuple"):
        items = [decode(v, tensors, models) for v in _field(spec, "items", list)]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {str(k): decode(v, tensors, models) for k, v in _field(spec, "items", dict).items()}
    if kind == "device":
        return torch.device(str(spec.get("name")))
    if kind == "opaque":
        return Opaque(str(spec.get("type"))[:80])
    if kind == "model":
        return _model(spec, tensors, models)
    raise TransportError(f"unknown value kind {kind[:40]!r}")


def _field(spec: dict, name: str, kind: type):
    value = spec.get(name)
    if not isinstance(value, kind):
        raise TransportError(f"malformed value spec: {name} should be a {kind.__name__}")
    return value


def _model(spec: dict, tensors: dict, models: dict | None):
    """Rebuild a Classifier from its recipe (architecture by name) and its state_dict."""
    from netviz_tp.models import Classifier, load_model, tiny_cnn

    recipe = _field(spec, "recipe", dict)
    key = json.dumps([recipe, spec.get("state")], sort_keys=True)
    if models is not None and key in models:
        return models[key]
    if recipe["name"] == "tiny_cnn":
        model = tiny_cnn(num_classes=recipe["num_classes"], in_channels=recipe["in_channels"])
    else:
        model = load_model(recipe["name"], weights=None, num_classes=recipe["num_classes"])
    assert isinstance(model, Classifier)
    state = {k: tensors[v] for k, v in _field(spec, "state", dict).items()}
    model.load_state_dict(state, strict=True)
    model.input_size = recipe["input_size"]
    if models is not None:
        models[key] = model
    return model
