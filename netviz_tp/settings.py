"""Settings: every environment variable of the kit, parsed here and nowhere else.

Contract: ``fast() -> bool``; ``assets_dir() -> Path | None``; ``cache_dir() -> Path`` (created);
``flag(name) -> bool`` for any yes/no variable; ``in_colab() -> bool``.

| variable | meaning | parsed by |
|---|---|---|
| ``NETVIZ_TP_FAST`` | tiny budgets (CI, grading, ``make run`` smoke runs) | :func:`fast` |
| ``NETVIZ_TP_ASSETS`` | offline assets folder, used before any download | :func:`assets_dir` |
| ``NETVIZ_TP_CACHE`` | download cache folder | :func:`cache_dir` |

A yes/no variable is true for ``1, true, yes, on`` and false for ``0, false, no, off`` or
empty/unset (any case); anything else raises ValueError naming the variable. Variables are read
at each call (not at import), so a notebook or a test may change them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

FAST = "NETVIZ_TP_FAST"
ASSETS = "NETVIZ_TP_ASSETS"
CACHE = "NETVIZ_TP_CACHE"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")
COLAB_DRIVE = Path("/content/drive/MyDrive")
"""Where Colab mounts Google Drive (``google.colab.drive.mount("/content/drive")``)."""


def flag(name: str) -> bool:
    """The yes/no environment variable ``name`` (see the module docstring for the values)."""
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{name}={os.environ[name]!r} is not a yes/no value; use 1 (or true, yes, on) to turn "
        "it on, 0 (or false, no, off, empty) to turn it off"
    )


def fast() -> bool:
    """``NETVIZ_TP_FAST``: run with tiny budgets (CI, grading)."""
    return flag(FAST)


def in_colab() -> bool:
    """True inside a Google Colab kernel (``google.colab`` is imported there at start)."""
    return "google.colab" in sys.modules


def assets_dir() -> Path | None:
    """The offline assets folder named by ``$NETVIZ_TP_ASSETS``, or None when it is unset."""
    root = os.environ.get(ASSETS)
    if not root:
        return None
    path = Path(root).expanduser()
    if not path.is_dir():
        raise NotADirectoryError(
            f"{ASSETS}={root} is not a directory; point it at the assets folder "
            "(holding imagenet_val_25.npz, weights/, images/) or unset it"
        )
    return path


def cache_dir() -> Path:
    """The download cache, created on demand. The one rule:

    1. ``$NETVIZ_TP_CACHE`` when set;
    2. on Colab, ``MyDrive/netviz_tp_cache`` when Google Drive is mounted (it survives the
       session), else ``/content/netviz_tp_cache``;
    3. elsewhere ``~/.cache/netviz_tp``.
    """
    if os.environ.get(CACHE):
        path = Path(os.environ[CACHE]).expanduser()
    elif in_colab():
        drive = COLAB_DRIVE
        path = drive / "netviz_tp_cache" if drive.is_dir() else Path("/content/netviz_tp_cache")
    else:
        path = Path.home() / ".cache" / "netviz_tp"
    path.mkdir(parents=True, exist_ok=True)
    return path
