"""data: checked downloads and cache, the course file, ImageNet class names, load_image."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from netviz_tp import data
from netviz_tp.data import (
    COURSE_DATA_SHA256,
    ChecksumError,
    DownloadError,
    class_index,
    fetch,
    imagenet_classes,
    load_image,
    load_imagenet_val,
    sample_images,
    search_classes,
)
from netviz_tp.models import top_k

NPZ = "imagenet_val_25.npz"


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """An empty cache and no assets folder."""
    monkeypatch.setenv("NETVIZ_TP_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NETVIZ_TP_ASSETS", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def served(assets, tmp_path):
    """Local copies of the course file to serve over file://: good, truncated, corrupted."""
    folder = tmp_path / "served"
    folder.mkdir()
    good = (assets / NPZ).read_bytes()
    corrupted = bytearray(good)
    corrupted[len(good) // 2] ^= 0xFF
    for name, content in [("good", good), ("truncated", good[: len(good) // 2]),
                          ("corrupted", bytes(corrupted))]:  # fmt: skip
        (folder / name).mkdir()
        (folder / name / NPZ).write_bytes(content)
    return folder


def files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---- fetch --------------------------------------------------------------------------------


def test_fetch_downloads_verifies_and_caches(cache, served, assets):
    source = served / "good" / NPZ
    path = fetch(source.as_uri(), COURSE_DATA_SHA256)
    assert path == cache / NPZ and path.read_bytes() == (assets / NPZ).read_bytes()
    assert files(cache) == [NPZ]  # no partial file left beside it
    source.unlink()  # the second call must not download
    assert fetch(source.as_uri(), COURSE_DATA_SHA256) == path
    assert fetch(source.as_uri(), COURSE_DATA_SHA256, filename=NPZ) == path


def test_a_truncated_download_leaves_the_cache_empty(cache, served):
    url = (served / "truncated" / NPZ).as_uri()
    with pytest.raises(ChecksumError, match="corrupted or truncated") as err:
        fetch(url, COURSE_DATA_SHA256)
    actual = hashlib.sha256((served / "truncated" / NPZ).read_bytes()).hexdigest()
    assert url in str(err.value) and COURSE_DATA_SHA256 in str(err.value)
    assert actual in str(err.value)
    assert files(cache) == []


def test_a_corrupted_cached_file_is_fetched_again(cache, served, assets):
    cache.mkdir()
    shutil.copy(served / "corrupted" / NPZ, cache / NPZ)
    path = fetch((served / "good" / NPZ).as_uri(), COURSE_DATA_SHA256)
    assert path.read_bytes() == (assets / NPZ).read_bytes()
    assert files(cache) == [NPZ]


def test_a_corrupted_cached_file_is_removed_even_offline(cache, served):
    cache.mkdir()
    shutil.copy(served / "corrupted" / NPZ, cache / NPZ)
    with pytest.raises(DownloadError):
        fetch((served / "missing" / NPZ).as_uri(), COURSE_DATA_SHA256)
    assert files(cache) == []


@pytest.mark.parametrize("url", ["file:///nonexistent/folder/x.npz", "http://127.0.0.1:9/x.npz"])
def test_network_failure_says_where_to_put_the_file(cache, url):
    with pytest.raises(DownloadError) as err:
        fetch(url, COURSE_DATA_SHA256)
    message = str(err.value)
    assert url in message and str(cache / "x.npz") in message and "NETVIZ_TP_ASSETS" in message
    assert files(cache) == []


def test_the_assets_copy_comes_first(cache, served, monkeypatch):
    monkeypatch.setenv("NETVIZ_TP_ASSETS", str(served / "good"))
    path = fetch("file:///nonexistent/" + NPZ, COURSE_DATA_SHA256)
    assert path == served / "good" / NPZ
    assert files(cache) == []


def test_a_corrupted_assets_copy_is_an_error(cache, served, monkeypatch):
    monkeypatch.setenv("NETVIZ_TP_ASSETS", str(served / "corrupted"))
    actual = hashlib.sha256((served / "corrupted" / NPZ).read_bytes()).hexdigest()
    with pytest.raises(ChecksumError, match="corrupted") as err:
        fetch((served / "good" / NPZ).as_uri(), COURSE_DATA_SHA256)
    message = str(err.value)
    assert str(served / "corrupted" / NPZ) in message
    assert actual in message and COURSE_DATA_SHA256 in message


# ---- the course file ----------------------------------------------------------------------


def test_load_imagenet_val(course_data, assets):
    raw = np.load(assets / NPZ)
    x, y, names = course_data
    assert x.shape == (25, 3, 224, 224) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    assert torch.equal(x[3], torch.from_numpy(raw["X"][3]).permute(2, 0, 1).float() / 255)
    assert y.dtype == torch.long and y.tolist() == raw["y"].tolist()
    assert names == imagenet_classes()
    three = load_imagenet_val(num=3)
    assert torch.equal(three.x, x[:3]) and torch.equal(three.y, y[:3])


@pytest.mark.parametrize("num", [0, 26, 2.5, True, "3"])
def test_load_imagenet_val_refuses_bad_num(assets, num):
    with pytest.raises(ValueError, match=r"num must be an int in 1..25"):
        load_imagenet_val(num=num)


def test_load_imagenet_val_downloads_into_the_cache(cache, served, monkeypatch):
    monkeypatch.setattr(data, "COURSE_DATA_URL", (served / "good" / NPZ).as_uri())
    assert load_imagenet_val(num=2).x.shape == (2, 3, 224, 224)
    assert files(cache) == [NPZ]


# ---- class names --------------------------------------------------------------------------


def test_class_names_agree_with_the_course_label_map(assets):
    label_map = np.load(assets / NPZ, allow_pickle=True)["label_map"].item()
    names = imagenet_classes()
    assert len(names) == 1000 and len(label_map) == 999
    assert all(names[i] == label_map[i] for i in label_map)
    assert names[134] == "crane" and 134 not in label_map  # the bird; 517 is the machine
    names[0] = "changed"
    assert imagenet_classes()[0] == "tench, Tinca tinca"  # callers get a copy


@pytest.mark.parametrize(
    ("query", "index"),
    [("tarantula", 76), ("Yorkshire terrier", 187), ("hourglass", 604), ("TENCH", 0),
     ("Tinca tinca", 0), ("  goldfish ", 1), ("tench, Tinca tinca", 0), ("maillot", 638),
     ("tank suit", 639), ("harp", 594), (5, 5), (np.int64(999), 999), (torch.tensor(7), 7)],
)  # fmt: skip
def test_class_index(query, index):
    assert class_index(query) == index


def test_an_ambiguous_name_lists_the_candidates():
    with pytest.raises(ValueError, match=r"'crane' names several .*134 .*517"):
        class_index("crane")
    with pytest.raises(ValueError, match=r"names several .*387 .*388"):
        class_index("Panda")


def test_an_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match=r"did you mean 'tarantula' \(76\)\?"):
        class_index("tarantla")
    with pytest.raises(ValueError, match="search_classes"):
        class_index("qwxzv")


@pytest.mark.parametrize(("bad", "error"), [(-1, ValueError), (1000, ValueError), (True, TypeError),
                                            (1.5, TypeError), (None, TypeError)])  # fmt: skip
def test_class_index_refuses(bad, error):
    with pytest.raises(error):
        class_index(bad)


def test_class_search():
    found = search_classes("Terrier", limit=50)
    assert 187 in dict(found) and all("terrier" in name.lower() for _, name in found)
    assert len(found) == len([n for n in imagenet_classes() if "terrier" in n.lower()])
    assert len(search_classes("terrier", limit=3)) == 3
    assert search_classes("no such thing") == []


# ---- load_image ---------------------------------------------------------------------------


def stripes(width: int, height: int) -> Image.Image:
    """Red, green and blue vertical thirds."""
    img = Image.new("RGB", (width, height), "red")
    img.paste("lime", (width // 3, 0, 2 * width // 3, height))
    img.paste("blue", (2 * width // 3, 0, width, height))
    return img


def test_load_image_resizes_the_shorter_side_and_crops_the_centre(tmp_path):
    stripes(300, 100).save(tmp_path / "s.png")
    x = load_image(tmp_path / "s.png", size=100)
    assert x.shape == (1, 3, 100, 100) and x.dtype == torch.float32
    assert torch.equal(
        x[0, :, :, :], torch.tensor([0.0, 1.0, 0.0])[:, None, None].expand(3, 100, 100)
    )
    big = load_image(str(tmp_path / "s.png"))  # upscaled to 672 x 224: the green third is kept
    assert big.shape == (1, 3, 224, 224)
    inside = big[0, :, :, 2:-2]  # bilinear blends the edge columns with red and blue
    assert torch.equal(inside, torch.tensor([0.0, 1.0, 0.0])[:, None, None].expand_as(inside))


@pytest.mark.parametrize("size", [(640, 480), (480, 640), (37, 23), (1, 1), (224, 224)])
def test_load_image_of_any_size(tmp_path, size):
    Image.new("RGB", size, (10, 20, 30)).save(tmp_path / "a.png")
    x = load_image(tmp_path / "a.png", size=64)
    assert x.shape == (1, 3, 64, 64)
    assert torch.allclose(x[0, :, 32, 32], torch.tensor([10, 20, 30]) / 255)


@pytest.mark.parametrize(
    ("mode", "colour", "rgb"),
    [("L", 128, (128, 128, 128)), ("1", 1, (255, 255, 255)), ("RGBA", (255, 0, 0, 0), (255,) * 3),
     ("RGBA", (255, 0, 0, 255), (255, 0, 0)), ("LA", (0, 0), (255,) * 3),
     ("LA", (0, 255), (0, 0, 0)), ("CMYK", (0, 255, 255, 0), (255, 0, 0))],
)  # fmt: skip
def test_load_image_modes(tmp_path, mode, colour, rgb):
    img = Image.new(mode, (40, 30), colour)
    for source in (img, _saved(img, tmp_path)):
        x = load_image(source, size=16)
        assert x.shape == (1, 3, 16, 16)
        assert torch.allclose(x[0], torch.tensor(rgb)[:, None, None] / 255, atol=1 / 255)


def _saved(img: Image.Image, folder):
    path = folder / ("a.jpg" if img.mode == "CMYK" else "a.png")
    img.save(path)
    return path


def test_half_transparent_red_is_pink_over_white():
    x = load_image(Image.new("RGBA", (8, 8), (255, 0, 0, 128)), size=8)
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([1.0, 127 / 255, 127 / 255]), atol=1 / 255)


def test_palette_images_with_and_without_transparency(tmp_path):
    img = Image.new("P", (20, 20), 1)
    img.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    assert torch.allclose(load_image(img, size=4)[0, :, 0, 0], torch.tensor([0.0, 0.0, 1.0]))
    img.save(tmp_path / "p.png", transparency=1)
    assert torch.equal(load_image(tmp_path / "p.png", size=4), torch.ones(1, 3, 4, 4))


def test_grey_output_for_one_channel_models(tmp_path):
    img = Image.new("RGB", (28, 28), (200, 100, 50))
    x = load_image(img, size=28, channels=1)
    grey = np.array(img.convert("L"))[0, 0] / 255
    assert x.shape == (1, 1, 28, 28) and torch.allclose(x, torch.full_like(x, float(grey)))


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("L", (40, 20), 0)
    img.paste(255, (20, 0, 40, 20))  # black left half, white right half
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: black on top, white below
    img.save(tmp_path / "r.jpg", exif=exif, quality=95)
    x = load_image(tmp_path / "r.jpg", size=20)
    assert x[0, :, :5].mean() < 0.1 and x[0, :, -5:].mean() > 0.9


@pytest.mark.parametrize("shape", [(30, 40), (30, 40, 1), (30, 40, 3), (30, 40, 4)])
def test_load_image_from_uint8_arrays(shape):
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    if len(shape) == 3 and shape[2] == 4:
        pixels[..., 3] = 255
    x = load_image(pixels, size=30)
    expected = load_image(
        Image.fromarray(pixels.squeeze(-1) if shape[-1] == 1 else pixels), size=30
    )
    assert x.shape == (1, 3, 30, 30) and torch.equal(x, expected)


def test_load_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="notes.txt' is not an image"):
        load_image(tmp_path / "notes.txt")
    with pytest.raises(TypeError, match="uint8"):
        load_image(np.zeros((8, 8, 3), dtype=np.float32))
    for shape in [(3, 8, 8), (8, 8, 2), (8,), (1, 8, 8, 3)]:
        with pytest.raises(ValueError, match="channels last"):
            load_image(np.zeros(shape, dtype=np.uint8))
    with pytest.raises(TypeError, match="path, a PIL image or a uint8 array"):
        load_image([[0, 1], [2, 3]])
    with pytest.raises(ValueError, match="channels must be 1"):
        load_image(Image.new("RGB", (8, 8)), channels=2)
    for size in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="size must be a positive int"):
            load_image(Image.new("RGB", (8, 8)), size=size)


# ---- the real photos ----------------------------------------------------------------------


def test_sample_images(assets, monkeypatch):
    photos = sample_images()
    assert {"chelsea_cat", "coffee", "astronaut", "rocket", "cat", "parrot", "hot_dog",
            "dragonfly"} <= set(photos)  # fmt: skip
    for path in photos.values():
        for size in (224, 97):
            x = load_image(path, size=size)
            assert x.shape == (1, 3, size, size) and x.min() >= 0 and x.max() <= 1
    monkeypatch.delenv("NETVIZ_TP_ASSETS")
    assert sample_images() == {}


@pytest.mark.parametrize(
    ("photo", "label"),
    [("chelsea_cat", "Egyptian cat"), ("cat", "tabby"), ("coffee", "espresso"),
     ("dragonfly", "dragonfly"), ("hot_dog", "hotdog"), ("parrot", "macaw")],
)  # fmt: skip
def test_squeezenet_recognises_the_photos(squeezenet, photo, label):
    _, idx = top_k(squeezenet, load_image(sample_images()[photo]))
    assert class_index(label) in idx[0].tolist()
