"""hooks: capture records layer outputs and their gradients (checked against a network split
by hand), survives in-place ReLU, and always removes its hooks; last_conv."""

from __future__ import annotations

import pytest
import torch
from helpers import hook_count, split_oracle, vgg16_split_oracle
from torch import nn

from netviz_tp.hooks import capture, last_conv
from netviz_tp.validate import device_of


def test_capture_records_each_layer_output(tiny, images):
    net = tiny.net
    with capture(tiny, ["1", net[4]]) as rec:
        tiny(images)
    assert list(rec.activations) == ["1", "4"]
    z = tiny.normalize(images)
    torch.testing.assert_close(rec.activations["1"], net[:2](z))
    torch.testing.assert_close(rec.activations["4"], net[:5](z))
    assert rec.gradients == {}


@pytest.mark.parametrize("input_requires_grad", [False, True])
def test_capture_gradients_match_autograd(tiny, images, input_requires_grad):
    t = torch.tensor([0, 3, 5, 9])
    x = images.clone().requires_grad_(input_requires_grad)
    with capture(tiny, "3", grads=True) as rec:
        tiny(x).gather(1, t[:, None]).sum().backward()
    act, grad = split_oracle(tiny, images, t, tiny.net[:4], tiny.net[4:])
    torch.testing.assert_close(rec.activations["3"], act)
    torch.testing.assert_close(rec.gradients["3"], grad)
    assert grad.abs().sum() > 0


def test_capture_resolves_names_and_modules(tiny):
    with capture(tiny, tiny.net[3]) as rec:
        tiny(torch.rand(1, 3, 32, 32))
    assert list(rec.activations) == ["3"]
    with pytest.raises(KeyError, match="did you mean"), capture(tiny, "33"):
        pass
    with pytest.raises(ValueError, match="not a submodule"), capture(tiny, nn.Conv2d(3, 3, 1)):
        pass
    with pytest.raises(TypeError, match="non-empty"), capture(tiny, []):
        pass
    assert hook_count(tiny) == 0


def test_capture_on_a_plain_module_uses_named_modules():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    x = torch.randn(1, 3, 8, 8)
    with capture(net, "0") as rec:
        net(x)
    torch.testing.assert_close(rec.activations["0"], net[0](x))
    with pytest.raises(KeyError, match="no layer"), capture(net, "features.0"):
        pass


def explode(*args):
    raise RuntimeError("boom")


@pytest.mark.parametrize("where", ["in the block", "in the forward pass", "in the backward pass"])
def test_capture_removes_its_hooks_on_error(tiny, images, where):
    watched = capture(tiny, ["0", "3", tiny.net[6]], grads=True)
    with pytest.raises(RuntimeError, match="boom|too small"), watched as rec:
        assert hook_count(tiny) == 3
        if where == "in the forward pass":
            tiny(images[:, :, :1, :1])  # layer 0 runs, then max-pooling a 1x1 map fails
        out = tiny(images)
        if where == "in the backward pass":
            rec.activations["3"].register_hook(explode)
            out.sum().backward()
        explode()
    assert hook_count(tiny) == 0


def test_capture_keeps_the_output_of_a_conv_followed_by_inplace_relu(squeezenet, course_data):
    """SqueezeNet's ReLUs work in place (pytorch-grad-cam #148): the recording must keep the
    conv's own output (with its negative values) and the gradient w.r.t. it."""
    device = device_of(squeezenet)
    x, t = course_data.x[:1].to(device), course_data.y[:1].to(device)
    features = squeezenet.net.features
    assert features[1].inplace
    with capture(squeezenet, ["features.0", "features.12.expand3x3"], grads=True) as rec:
        squeezenet(x).gather(1, t[:, None]).sum().backward()
    head, rest = features[0], features[1:]

    def tail(a):
        return squeezenet.net.classifier(rest(a)).flatten(1)

    act, grad = split_oracle(squeezenet, x, t, head, tail)
    assert act.min() < 0
    torch.testing.assert_close(rec.activations["features.0"], act, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(rec.gradients["features.0"], grad, rtol=1e-3, atol=1e-7)
    assert rec.activations["features.12.expand3x3"].min() < 0
    assert set(rec.gradients) == {"features.0", "features.12.expand3x3"}
    assert hook_count(squeezenet) == 0


def test_capture_on_vgg16_with_inplace_relu(vgg16):
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([7])
    name = last_conv(vgg16)
    assert name == "features.28" and vgg16.net.features[29].inplace
    with capture(vgg16, name, grads=True) as rec:
        vgg16(x).gather(1, t[:, None]).sum().backward()
    act, grad = vgg16_split_oracle(vgg16, x, t)
    torch.testing.assert_close(rec.activations[name], act, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(rec.gradients[name], grad, rtol=1e-3, atol=1e-8)
    assert act.min() < 0 and grad.abs().sum() > 0
    assert hook_count(vgg16) == 0


def test_last_conv(tiny):
    assert last_conv(tiny) == "3"
    assert last_conv(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 1), nn.ReLU())) == "1"
    with pytest.raises(ValueError, match="no Conv2d"):
        last_conv(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
