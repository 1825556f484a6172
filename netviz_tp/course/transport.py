"""Transport: Python values <-> (JSON spec, tensors) across the sandbox wall, never pickle.

A value is a tensor, a :class:`~netviz_tp.models.Classifier` or a module of :data:`MODULES`
(sent as its recipe, its ``state_dict`` and its parameters' gradients), an optimizer of
:data:`OPTIMIZERS` over the parameters of a module sent in the same call (its class and
``state_dict``), a number, a string, ``None``, a bool, or a list / tuple / str-keyed dict of
those. Tensors travel in a safetensors file, whose loading runs no code; everything else is
JSON. A value of any other type is sent as ``{"t": "opaque", "type": name}``: the grader sees
its type name, never the object. Files read back from the sandbox are bounded in size and
read without following symlinks.

Side effects cross back too: :func:`after_call` notes the state of a call's top-level
arguments once the student's function returned (modules, optimizers, and tensors it changed
in place), and :func:`apply_after` puts that state into the grader's own arguments, so a
check that inspects a generator after one training step sees the step the student made.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

MAX_BYTES = 512 * 2**20
"""Largest file accepted from the sandbox (outputs of one test cell)."""


MODULES = {"ConditionalGenerator": "netviz_tp.generators"}
"""Modules other than classifiers that tests pass to students: class name -> the module that
defines it. Each has ``recipe() -> dict`` (JSON) and ``from_recipe(recipe)``."""
OPTIMIZERS = ("SGD", "Adam", "AdamW", "Adamax", "RMSprop")
"""The ``torch.optim`` classes a test may pass to a student."""


class TransportError(ValueError):
    """A value that cannot cross the sandbox wall, or a malformed file from the sandbox."""


class Encoder:
    """Collects the tensors of encoded values; ``save(stem)`` writes ``stem.json`` + ``.st``."""

    def __init__(self):
        self.tensors: dict[str, torch.Tensor] = {}
        self._modules: list[torch.nn.Module] = []  # modules of this call, by reference number

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
            return {"t": "model", "recipe": recipe, "state": state, **self._ref(value, False)}
        if type(value).__name__ in MODULES and isinstance(value, torch.nn.Module):
            kind = type(value).__name__
            return {"t": "module", "class": kind, "recipe": value.recipe(), **self._ref(value)}
        if isinstance(value, torch.optim.Optimizer) and type(value).__name__ in OPTIMIZERS:
            return self._optimizer(value)
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

    def _ref(self, module: torch.nn.Module, weights: bool = True) -> dict:
        """The module's reference number in this call, its parameters' gradients and (unless
        sent otherwise) its ``state_dict``."""
        self._modules.append(module)
        grads = {n: p.grad for n, p in module.named_parameters() if p.grad is not None}
        spec = {"ref": len(self._modules) - 1, "grads": self.encode(grads)}
        if weights:
            spec["weights"] = self.encode(dict(module.state_dict()))
        return spec

    def _optimizer(self, opt: torch.optim.Optimizer) -> dict:
        params = [p for group in opt.param_groups for p in group["params"]]
        for ref, module in enumerate(self._modules):
            names = {id(p): n for n, p in module.named_parameters()}
            if all(id(p) in names for p in params):
                groups = [[names[id(p)] for p in g["params"]] for g in opt.param_groups]
                return {
                    "t": "optimizer",
                    "class": type(opt).__name__,
                    "owner": ref,
                    "groups": groups,
                    "state": self.encode(_optimizer_state(opt)),
                }
        raise TransportError(
            "a test passes an optimizer whose parameters are not those of a module passed "
            "before it in the same call"
        )

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


def decode(spec, tensors: dict[str, torch.Tensor], models: dict | None = None, *, build=True):
    """The value of a spec (``models``: a cache of models already rebuilt, by recipe, and of
    this call's modules by reference). ``build=False`` (what came back from the sandbox):
    models, modules and optimizers become :class:`Opaque`, nothing is built from their recipe.
    """
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
        items = [decode(v, tensors, models, build=build) for v in _field(spec, "items", list)]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        items = _field(spec, "items", dict).items()
        return {str(k): decode(v, tensors, models, build=build) for k, v in items}
    if kind == "device":
        return torch.device(str(spec.get("name")))
    if kind == "opaque":
        return Opaque(str(spec.get("type"))[:80])
    if kind in ("model", "module", "optimizer") and not build:
        return Opaque(str(spec.get("class", kind))[:80])
    if kind in ("model", "module"):
        module = _model(spec, tensors, models) if kind == "model" else _module(spec, tensors)
        _load_weights(module, spec, tensors)
        if models is not None:
            models[("ref", spec.get("ref"))] = module
        return module
    if kind == "optimizer":
        return _rebuilt_optimizer(spec, tensors, models)
    raise TransportError(f"unknown value kind {kind[:40]!r}")


def snapshot(args: list, kwargs: dict) -> dict:
    """Copies of a call's top-level tensors and modules (state and gradients), by position,
    taken before the call: :func:`after_call` compares with them."""
    return {w: _state_of(v) for w, v in _top_level(args, kwargs) if _state_of(v) is not None}


def after_call(args: list, kwargs: dict, before: dict) -> dict:
    """The state of a call's top-level arguments after it (see :func:`apply_after`): every
    optimizer, and the modules and tensors that differ from their :func:`snapshot`."""
    after = {}
    for where, value in _top_level(args, kwargs):
        if isinstance(value, torch.optim.Optimizer):
            after[where] = {"optimizer": _optimizer_state(value)}
            continue
        now = _state_of(value)
        if now is not None and (where not in before or not _same(now, before[where])):
            after[where] = now
    return after


def _state_of(value) -> dict | None:
    if isinstance(value, torch.Tensor):
        return {"tensor": value.detach().clone()}
    if isinstance(value, torch.nn.Module):
        weights = {k: v.detach().clone() for k, v in value.state_dict().items()}
        grads = {n: p.grad.clone() for n, p in value.named_parameters() if p.grad is not None}
        return {"weights": weights, "grads": grads}
    return None


def _same(a: dict, b: dict) -> bool:
    """Equal states (same keys, shapes, dtypes and values, NaN equal to NaN)."""
    if a.keys() != b.keys():
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, dict):
            if not (isinstance(y, dict) and _same(x, y)):
                return False
        elif (
            x.shape != y.shape
            or x.dtype != y.dtype
            or not torch.equal(x.nan_to_num(), y.nan_to_num())
        ):
            return False
    return True


def apply_after(args: list, kwargs: dict, after: dict) -> None:
    """Put the state the student's function left in its arguments (decoded :func:`after_call`)
    into the grader's arguments; a state that does not fit raises :class:`TransportError`, and
    so does a classifier whose weights changed (the checks compare with the network as it
    was; its gradients are not carried back)."""
    from netviz_tp.models import Classifier

    if not isinstance(after, dict):
        raise TransportError("malformed state of the arguments after the call")
    targets = dict(_top_level(args, kwargs))
    for where, state in after.items():
        target = targets.get(where)
        try:
            if isinstance(target, Classifier):  # frozen: a changed network would move the goal
                if not _same(dict(target.state_dict()), state["weights"]):
                    raise TransportError(
                        "your function changed the weights of the network it was given: "
                        "leave the classifier as it is"
                    )
            elif isinstance(target, torch.nn.Module):
                target.load_state_dict(state["weights"], strict=True)
                _set_grads(target, state["grads"])
            elif isinstance(target, torch.optim.Optimizer):
                target.load_state_dict(_optimizer_state_back(state["optimizer"]))
            elif isinstance(target, torch.Tensor):
                if state["tensor"].shape != target.shape:
                    raise TransportError("your function changed the shape of an input in place")
                target.copy_(state["tensor"])
            else:
                raise TransportError(f"no argument {where!r} to put a state into")
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            if isinstance(exc, TransportError):
                raise
            raise TransportError(f"the state of argument {where!r} does not fit: {exc}") from None


def _top_level(args: list, kwargs: dict):
    yield from ((str(i), v) for i, v in enumerate(args))
    yield from ((f"kw:{k}", v) for k, v in kwargs.items())


def _optimizer_state(opt: torch.optim.Optimizer) -> dict:
    """``opt.state_dict()`` with str keys (JSON)."""
    sd = opt.state_dict()
    return {
        "state": {str(k): dict(v) for k, v in sd["state"].items()},
        "param_groups": [dict(g) for g in sd["param_groups"]],
    }


def _optimizer_state_back(state: dict) -> dict:
    """The inverse of :func:`_optimizer_state` (int keys)."""
    return {
        "state": {int(k): v for k, v in state["state"].items()},
        "param_groups": state["param_groups"],
    }


def _set_grads(module: torch.nn.Module, grads: dict) -> None:
    for name, p in module.named_parameters():
        p.grad = grads[name].clone() if name in grads else None


def _load_weights(module: torch.nn.Module, spec: dict, tensors: dict) -> None:
    if "weights" in spec:
        module.load_state_dict(decode(spec["weights"], tensors), strict=True)
    _set_grads(module, decode(spec.get("grads", {"t": "dict", "items": {}}), tensors))


def _module(spec: dict, tensors: dict) -> torch.nn.Module:
    """A module of :data:`MODULES`, built from its recipe."""
    import importlib

    kind = spec.get("class")
    if kind not in MODULES:
        raise TransportError(f"cannot rebuild a module of type {str(kind)[:40]!r}")
    cls = getattr(importlib.import_module(MODULES[kind]), kind)
    return cls.from_recipe(_field(spec, "recipe", dict))


def _rebuilt_optimizer(spec: dict, tensors: dict, models: dict | None) -> torch.optim.Optimizer:
    owner = (models or {}).get(("ref", spec.get("owner")))
    if owner is None or spec.get("class") not in OPTIMIZERS:
        raise TransportError("malformed optimizer spec")
    groups = [{"params": [owner.get_parameter(n) for n in g]} for g in spec["groups"]]
    opt = getattr(torch.optim, spec["class"])(groups)
    opt.load_state_dict(_optimizer_state_back(decode(spec["state"], tensors)))
    return opt


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
