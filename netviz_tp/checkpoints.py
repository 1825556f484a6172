"""Checkpoints and the one training loop: ``fit(generator, optimizer, loss_fn, ...) -> Trained``.

Checkpoints are cached under :func:`cache_folder` by a hash of everything that determines the
result (:func:`cache_key`): re-running a cell loads instead of retraining. A checkpoint is
written every ``checkpoint_every`` steps, at the end, and when the run is interrupted
(KeyboardInterrupt, the notebook's stop button) between two updates; each file carries its
sha256 and is written to a temporary file then renamed (``os.replace``), so a crash never
leaves a half-written or corrupted checkpoint. Each step's random draws come from
:func:`step_generator`, so a resumed run ends exactly as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from .settings import cache_dir

MAGIC = b"netviz-tp checkpoint sha256="


class CheckpointError(ValueError):
    """A checkpoint file is truncated or corrupted (its sha256 does not match), or its weights
    do not fit the network they are loaded into."""


def cache_folder() -> Path:
    """Where trained generators are cached: ``<cache_dir>/generators``."""
    path = cache_dir() / "generators"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- checkpoints ---------------------------------------------------------------------------


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) atomically with its sha256."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    header = MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n"
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(header + payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, checking its sha256.

    Raises: CheckpointError when the file is truncated, corrupted or not a checkpoint.
    """
    data = Path(path).read_bytes()
    header, _, payload = data.partition(b"\n")
    digest = header.removeprefix(MAGIC).decode(errors="replace")
    if not header.startswith(MAGIC) or hashlib.sha256(payload).hexdigest() != digest:
        raise CheckpointError(
            f"{path} is truncated or corrupted (sha256 mismatch); delete it to retrain"
        )
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)


def _check_fits(module: nn.Module, weights: dict, path: Path) -> None:
    """Raise CheckpointError unless ``weights`` has the names and shapes of ``module``'s own
    (a cache written by another version of the architecture), before anything is loaded."""
    own = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    if own != {k: tuple(v.shape) for k, v in weights.items()}:
        raise CheckpointError(
            f"{path} holds weights of another architecture (written by another version of "
            "netviz-tp?)"
        )


def fingerprint(module: nn.Module) -> str:
    """A sha256 of a network's weights and buffers: a retrained classifier gets a new cache."""
    digest = hashlib.sha256()
    for name, t in module.state_dict().items():
        digest.update(name.encode())
        digest.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cache_key(kind: str, settings, **what) -> str:
    """The cache file stem of a run: ``kind`` and a hash of the settings and ``what``."""
    text = json.dumps({"settings": asdict(settings), **what}, sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


# --- the one loop ----------------------------------------------------------------------------


@dataclass
class Trained:
    """A trained (or loaded) generator.

    ``generator`` (eval mode); ``losses`` one per update; ``path`` of its checkpoint (None
    without cache); ``resumed_from``: the updates found in the cache (0: trained from scratch,
    ``len(losses)``: loaded, nothing trained); ``extra``: what the run kept besides weights
    (the feature generator's ``snapshots`` and final ``image [1, C, S, S]``).
    """

    generator: nn.Module
    losses: list[float]
    path: Path | None
    resumed_from: int
    extra: dict = field(default_factory=dict)


def step_generator(seed: int, step: int) -> torch.Generator:
    """The CPU random generator of update ``step``: the same draws whenever the step runs."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def fit(
    generator,
    optimizer,
    loss_fn,
    *,
    steps,
    key,
    checkpoint_every,
    cache=True,
    progress=True,
    callback=None,
    after_step=None,
    extra=None,
    desc="training",
) -> Trained:
    """Run ``steps`` updates ``loss_fn(step).backward(); optimizer.step()``, resuming from the
    cache; ``after_step(step, extra)`` may record into ``extra`` (saved with the weights);
    ``callback(done, loss)`` after each update (a true value stops the run early)."""
    extra = {} if extra is None else extra
    path = cache_folder() / f"{key}.pt" if cache else None
    losses: list[float] = []
    if path is not None and path.exists():
        try:
            state = load_checkpoint(path)
            _check_fits(generator, state["generator"], path)
        except CheckpointError as err:
            warnings.warn(f"{err}; training again", stacklevel=3)
            path.unlink()
        else:
            generator.load_state_dict(state["generator"])
            optimizer.load_state_dict(state["optimizer"])
            losses, extra = list(state["losses"]), {**extra, **state["extra"]}
    start = len(losses)

    def save() -> None:
        state = dict(generator=generator.state_dict(), optimizer=optimizer.state_dict())
        save_checkpoint(path, dict(state, losses=losses, extra=extra))

    dirty = False  # True while the weights may be ahead of `losses` (mid-update)
    generator.train()
    try:
        bar = tqdm(range(start, steps), initial=start, total=steps, desc=desc, disable=not progress)
        for step in bar:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(step)
            loss.backward()
            dirty = True
            optimizer.step()
            if after_step is not None:
                after_step(step, extra)
            losses.append(loss.item())
            dirty = False
            bar.set_postfix(loss=f"{losses[-1]:.4g}")
            done = step + 1
            if path is not None and (done % checkpoint_every == 0 or done == steps):
                save()
            if callback is not None and callback(done, losses[-1]):
                if path is not None:
                    save()  # stopped early: keep what was done
                break
    except KeyboardInterrupt:
        if path is not None and not dirty:
            save()
        raise
    finally:
        generator.eval()
    return Trained(generator, losses, path, start, extra)
