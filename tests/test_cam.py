"""cam: Grad-CAM against captum and against its formula on a network split by hand (VGG16 with
in-place ReLU), Grad-CAM++'s weighting, and Grad-CAM's behaviour on the real SqueezeNet."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import split_oracle, vgg16_split_oracle

from netviz_tp.cam import grad_cam, grad_cam_pp
from netviz_tp.hooks import last_conv
from netviz_tp.image import rescale_heat

TARGET = torch.tensor([1, 4, 7, 9])


def cam_from(weights, act, size):
    """Eq. 2 and the upsampling, written out."""
    cam = F.relu((weights[:, :, None, None] * act).sum(dim=1, keepdim=True))
    return F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[:, 0]


@pytest.mark.parametrize("layer", [None, "0", "3"])
def test_grad_cam_matches_captum(tiny, images, layer):
    attr = pytest.importorskip("captum.attr", reason="captum is the peer oracle")
    module = tiny.layer(layer or last_conv(tiny))
    cam = attr.LayerGradCam(tiny, module).attribute(images, target=TARGET, relu_attributions=True)
    expected = attr.LayerAttribution.interpolate(cam, (32, 32), "bilinear")[:, 0]
    torch.testing.assert_close(grad_cam(tiny, images, TARGET, layer=layer), expected)


def test_layer_as_module_name_or_default(tiny, images):
    heat = grad_cam(tiny, images, TARGET)
    torch.testing.assert_close(grad_cam(tiny, images, TARGET, layer="3"), heat)
    torch.testing.assert_close(grad_cam(tiny, images, TARGET, layer=tiny.net[3]), heat)
    assert not torch.allclose(grad_cam(tiny, images, TARGET, layer="0"), heat)


def test_bad_layers_are_refused(tiny, images):
    with pytest.raises(ValueError, match="spatial maps"):
        grad_cam(tiny, images, TARGET, layer="7")  # the Linear head: no spatial map
    with pytest.raises(KeyError, match="no layer"):
        grad_cam(tiny, images, TARGET, layer="conv5")


def test_grad_cam_pp_matches_its_closed_form(tiny, images):
    """The closed form: a = g^2 / (2 g^2 + sum(A) g^3), weights = sum a * ReLU(g)."""
    net = tiny.net
    act, grad = split_oracle(tiny, images, TARGET, net[:4], net[4:])
    alpha = grad**2 / (2 * grad**2 + act.sum(dim=(2, 3), keepdim=True) * grad**3)
    alpha = torch.nan_to_num(alpha)  # 0/0 where the gradient vanishes
    weights = (alpha * grad.relu()).sum(dim=(2, 3))
    expected = cam_from(weights, act, (32, 32))
    torch.testing.assert_close(grad_cam_pp(tiny, images, TARGET), expected)
    assert not torch.allclose(rescale_heat(expected), rescale_heat(grad_cam(tiny, images, TARGET)))


def test_grad_cam_on_vgg16_with_inplace_relu(vgg16):
    """Default layer features.28 is followed by an in-place ReLU (pytorch-grad-cam #148)."""
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([3])
    act, grad = vgg16_split_oracle(vgg16, x, t)
    expected = cam_from(grad.mean(dim=(2, 3)), act, (64, 64))
    heat = grad_cam(vgg16, x, t)
    assert heat.max() > 0
    torch.testing.assert_close(heat, expected, rtol=1e-3, atol=1e-6 * heat.max().item())


# --- real SqueezeNet ----------------------------------------------------------------------


def keep_hottest(x, heat, fraction):
    """Keep the ``fraction`` hottest pixels of each image, grey elsewhere."""
    flat = heat.flatten(1)
    k = int(fraction * flat.shape[1])
    mask = torch.zeros_like(flat).scatter_(1, flat.topk(k, dim=1).indices, 1.0)
    mask = mask.view_as(heat)[:, None]
    return x * mask + 0.5 * (1 - mask)


def test_grad_cam_finds_the_evidence_for_the_true_class(squeezenet, recognised):
    """Keeping the 25% of pixels Grad-CAM marks for the true class preserves that class far
    better than keeping the 25% it marks for another class, or the 25% coldest pixels.
    Measured: mean log-probability of the true class -2.6, -6.1 and -9.1; top-1 7/13, 1/13,
    0/13."""
    x, y = recognised
    heat = grad_cam(squeezenet, x, y)
    other = grad_cam(squeezenet, x, (y + 500) % 1000)

    def log_prob(kept):
        with torch.no_grad():
            return squeezenet(kept).log_softmax(1).gather(1, y[:, None]).mean()

    true_kept = log_prob(keep_hottest(x, heat, 0.25))
    assert true_kept > log_prob(keep_hottest(x, other, 0.25)) + 2
    assert true_kept > log_prob(keep_hottest(x, -heat, 0.25)) + 4


def test_grad_cam_at_squeezenets_class_conv_is_the_class_map(squeezenet, recognised):
    """At the default layer (the 1000-channel classifier conv) only the target's channel has a
    gradient, so Grad-CAM and Grad-CAM++ differ only by a positive factor per image."""
    x, y = recognised[0][:3], recognised[1][:3]
    assert last_conv(squeezenet) == "classifier.1"
    heat = grad_cam(squeezenet, x, y)
    assert (heat.flatten(1).amax(1) > 0).all()
    torch.testing.assert_close(
        rescale_heat(grad_cam_pp(squeezenet, x, y)), rescale_heat(heat), rtol=1e-4, atol=1e-5
    )
