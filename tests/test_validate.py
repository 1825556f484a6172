"""Input checks: each bad input names the problem and the fix."""

import numpy as np
import pytest
import torch
from torch import nn

from netviz_tp.validate import as_target, check_images, check_model, device_of


def test_check_images_passes_a_valid_batch_to_the_model_device(tiny, images):
    out = check_images(images.requires_grad_(), tiny)
    assert out.device == device_of(tiny) and not out.requires_grad
    assert torch.equal(out, images.detach())


@pytest.mark.parametrize(
    "bad, error, hint",
    [
        ([[0.5]], TypeError, "from_uint8"),
        (torch.rand(3, 32, 32), ValueError, "unsqueeze"),
        (torch.rand(32, 32), ValueError, r"\[N, C, H, W\]"),
        (torch.randint(0, 255, (1, 3, 32, 32)), TypeError, "/ 255"),
        (torch.rand(1, 3, 32, 32) * 255, ValueError, "divided by 255"),
        (torch.rand(1, 1, 32, 32), ValueError, "expects 3 channels"),
        (torch.rand(1, 32, 32, 3), ValueError, "channels first"),
    ],
)
def test_check_images_rejects(tiny, bad, error, hint):
    with pytest.raises(error, match=hint):
        check_images(bad, tiny)


def test_check_model_refuses_train_mode_and_trainable_weights():
    net = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="train mode.*load_model"):
        check_model(net)
    net.eval()
    with pytest.raises(ValueError, match="trainable.*load_model"):
        check_model(net)
    with pytest.raises(TypeError, match="nn.Module"):
        check_model(lambda x: x)
    net.requires_grad_(False)
    check_model(net)


def test_as_target_forms(tiny):
    assert as_target(3, 4, tiny).tolist() == [3, 3, 3, 3]
    assert as_target([1, 2], 2, tiny).tolist() == [1, 2]
    assert as_target(torch.tensor([[5], [6]]), 2, tiny).tolist() == [5, 6]
    assert as_target(np.array([7, 8]), 2, tiny).tolist() == [7, 8]  # labels straight from npz
    with pytest.raises(ValueError, match="0..9"):
        as_target(10, 1, tiny)
    with pytest.raises(ValueError, match="0..9"):
        as_target([-1], 1, tiny)
    with pytest.raises(ValueError, match="3 targets for 2 images"):
        as_target([1, 2, 3], 2, tiny)
    with pytest.raises(TypeError, match="integer class indices"):
        as_target(torch.tensor([1.0]), 1, tiny)
    with pytest.raises(TypeError, match="int or a class name"):
        as_target([1.5], 1, tiny)
