"""Data: the course file (checked download, local assets), ImageNet class names, photos -> x.

Contract: ``fetch(url, sha256) -> Path`` of a verified file; ``load_imagenet_val() -> CourseData``
with ``x [N, 3, 224, 224]`` in ``[0, 1]``; ``load_image(source) -> [1, 3, S, S]`` in ``[0, 1]``;
``class_index(name | int) -> int`` over the 1000 ImageNet classes.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .image import from_uint8
from .settings import assets_dir, cache_dir

COURSE_DATA_URL = "https://rdfia.github.io/data/3-b/imagenet_val_25.npz"
COURSE_DATA_SHA256 = "35141609d22457c791e8fbe10c2d3b09ed0d6a04b669173e9fbebb0b4915cd3c"
DOWNLOAD_TIMEOUT = 60  # seconds without data before a download gives up
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


class ChecksumError(ValueError):
    """A file's sha256 is not the expected one (corrupted or truncated)."""


class DownloadError(RuntimeError):
    """A file could not be downloaded (no network, server error)."""


def fetch(url: str, sha256: str, filename: str | None = None) -> Path:
    """A local copy of ``url`` whose sha256 is ``sha256``.

    Looks in the assets folder, then in the cache, then downloads into the cache. A download
    streams into a temporary file beside its destination and is renamed into place
    (``os.replace``, atomic) only once its hash matches, so the cache never holds a partial or
    corrupted file; a cached file with the wrong hash is deleted and downloaded again.

    Args:
        url: where to download from (``https://`` or ``file://``).
        sha256: the expected hex digest.
        filename: the name in the assets folder and the cache (default: the URL's last part).

    Raises:
        ChecksumError: the assets' copy or the download has another hash.
        DownloadError: the download failed; the message says where to put the file by hand.
    """
    filename = filename or Path(urllib.parse.urlparse(url).path).name
    assets = assets_dir()
    if assets is not None and (assets / filename).is_file():
        return _verified(
            assets / filename, sha256, f"the assets folder (NETVIZ_TP_ASSETS={assets})"
        )
    cached = cache_dir() / filename
    if cached.is_file():
        if _sha256(cached) == sha256:
            return cached
        cached.unlink()
    _download(url, sha256, cached)
    return cached


def _verified(path: Path, sha256: str, where: str) -> Path:
    actual = _sha256(path)
    if actual != sha256:
        raise ChecksumError(
            f"{path} in {where} is corrupted: sha256 {actual}, expected {sha256}; "
            "replace it with a fresh copy"
        )
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, sha256: str, dest: Path) -> None:
    partial = dest.with_name(f"{dest.name}.{uuid.uuid4().hex}.partial")
    digest = hashlib.sha256()
    try:
        with (
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response,
            open(partial, "xb") as out,
        ):
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha256:
            raise ChecksumError(
                f"the download from {url} is corrupted or truncated: sha256 "
                f"{digest.hexdigest()}, expected {sha256}; try again"
            )
        os.replace(partial, dest)
    except (OSError, http.client.HTTPException) as err:
        raise DownloadError(
            f"could not download {url} ({err}); download it by hand to {dest}, "
            "or set NETVIZ_TP_ASSETS to a folder that holds it"
        ) from err
    finally:
        partial.unlink(missing_ok=True)


class CourseData(NamedTuple):
    """The course images ``x [N, 3, 224, 224]`` in ``[0, 1]``, labels ``y [N]``, 1000 names."""

    x: torch.Tensor
    y: torch.Tensor
    class_names: list[str]


def load_imagenet_val(num: int | None = None) -> CourseData:
    """The course's 25 ImageNet validation images (``imagenet_val_25.npz``), the first ``num``.

    Downloaded once into :func:`cache_dir` (or read from ``$NETVIZ_TP_ASSETS``), sha256-checked.

    Shape: ``x [num, 3, 224, 224]`` float in ``[0, 1]``, ``y [num]`` long in ``0..999``.
    Used in: every practical.
    """
    path = fetch(COURSE_DATA_URL, COURSE_DATA_SHA256, "imagenet_val_25.npz")
    with np.load(path) as data:  # X and y only: no pickle needed (the label_map is in the package)
        x, y = data["X"], data["y"]
    if num is not None:
        if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= len(y):
            raise ValueError(f"num must be an int in 1..{len(y)} (or None for all), got {num!r}")
        x, y = x[:num], y[:num]
    return CourseData(from_uint8(x), torch.from_numpy(y).long(), imagenet_classes())


@functools.cache
def _names() -> tuple[str, ...]:
    text = resources.files(__package__).joinpath("imagenet_classes.txt").read_text("utf-8")
    return tuple(text.splitlines())


@functools.cache
def _index() -> dict[str, tuple[int, ...]]:
    """Lower-case full names and synonyms -> the classes they name."""
    table: dict[str, list[int]] = {}
    for i, name in enumerate(_names()):
        for key in {name.lower(), *(s.strip().lower() for s in name.split(","))}:
            table.setdefault(key, []).append(i)
    return {key: tuple(found) for key, found in table.items()}


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names (``"tench, Tinca tinca"``: comma-separated synonyms).

    Those of the course's label map; class 134, missing there, is the bird ``"crane"``
    (517 is the machine ``"crane"``).
    """
    return list(_names())


def class_index(name_or_int: int | str) -> int:
    """The index of an ImageNet class given by index or by name (any synonym, any case).

    Raises ValueError for an unknown name (with the closest names) or one naming several
    classes (with their indices, e.g. ``"crane"``: 134 the bird, 517 the machine).
    """
    if isinstance(name_or_int, str):
        return _lookup(name_or_int)
    if isinstance(name_or_int, bool) or not hasattr(name_or_int, "__index__"):
        raise TypeError(f"a class is an int in 0..999 or a name, got {name_or_int!r}")
    i = int(name_or_int)
    if not 0 <= i < len(_names()):
        raise ValueError(f"ImageNet classes are 0..{len(_names()) - 1}, got {i}")
    return i


def _lookup(query: str) -> int:
    key = query.strip().lower()
    found = _index().get(key, ())
    exact = [i for i in found if _names()[i].lower() == key]  # "maillot": 638, not 639
    if len(exact) == 1:
        return exact[0]
    if len(found) == 1:
        return found[0]
    if found:
        listed = ", ".join(f"{i} ({_names()[i]!r})" for i in found)
        raise ValueError(f"{query!r} names several ImageNet classes: {listed}; pass the index")
    close = difflib.get_close_matches(key, _index(), n=3, cutoff=0.75)
    hint = ", ".join(f"{c!r} ({_index()[c][0]})" for c in close)
    raise ValueError(
        f"no ImageNet class is called {query!r}; "
        + (f"did you mean {hint}?" if close else "see netviz_tp.search_classes(...)")
    )


def search_classes(query: str, limit: int = 10) -> list[tuple[int, str]]:
    """Classes whose name contains ``query`` (any case), as ``(index, full name)``."""
    key = query.strip().lower()
    return [(i, n) for i, n in enumerate(_names()) if key in n.lower()][:limit]


def load_image(source, size: int = 224, *, channels: int = 3) -> torch.Tensor:
    """Load a photo as a model input: shorter side resized to ``size``, then centre-cropped.

    Args:
        source: a file path, a PIL image, or a uint8 array ``[H, W]`` / ``[H, W, 1|3|4]``.
        size: the side of the square output (224).
        channels: 3 for RGB, 1 for grey (MNIST-style models).

    Transparent pixels are composited over white; EXIF orientation is applied.

    Shape: any image -> ``[1, channels, size, size]`` float in ``[0, 1]``.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    img = _flatten_alpha(_open(source)).convert("L" if channels == 1 else "RGB")
    scale = size / min(img.size)
    w, h = max(size, round(img.width * scale)), max(size, round(img.height * scale))
    img = img.resize((w, h), Image.Resampling.BILINEAR)  # PIL filters antialias when shrinking
    left, top = (w - size) // 2, (h - size) // 2
    pixels = np.array(img.crop((left, top, left + size, top + size)))
    x = from_uint8(pixels[..., None] if channels == 1 else pixels)
    return x[:, :channels].contiguous()


def _open(source) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8:
            raise TypeError(f"image arrays must be uint8 in 0..255, got dtype {source.dtype}")
        if source.ndim == 3 and source.shape[-1] == 1:
            source = source[..., 0]
        if not (source.ndim == 2 or source.ndim == 3 and source.shape[-1] in (3, 4)):
            raise ValueError(
                f"image arrays must be [H, W] or [H, W, 1|3|4] (channels last), "
                f"got shape {source.shape}"
            )
        return Image.fromarray(np.ascontiguousarray(source))
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"source must be a path, a PIL image or a uint8 array, got {type(source).__name__}"
        )
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no image file {str(path)!r}")
    try:
        with Image.open(path) as img:
            return ImageOps.exif_transpose(img).copy()
    except UnidentifiedImageError as err:
        raise ValueError(f"{str(path)!r} is not an image PIL can read") from err


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite transparent images over white (RGBA, LA, PA, P with transparency)."""
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return img


def sample_images() -> dict[str, Path]:
    """The photos of ``$NETVIZ_TP_ASSETS/images`` by file stem (empty without assets)."""
    root = assets_dir()
    folder = root / "images" if root is not None else None
    if folder is None or not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
