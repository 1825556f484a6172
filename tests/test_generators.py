"""Generators (seeds 000 and 004) and their training: frozen classifier, loss, cache, resume."""

from __future__ import annotations

import warnings
from dataclasses import replace

import pytest
import torch

from netviz_tp.checkpoints import CheckpointError, cache_folder, load_checkpoint, save_checkpoint
from netviz_tp.featgen import FEATURE_PRESETS, FeatureSettings, feature_loss
from netviz_tp.fooling import as_perturbation, fooling_curve
from netviz_tp.generators import CONDITIONAL_PRESETS, ConditionalSettings, check_units
from netviz_tp.training import (
    BUDGETS,
    natural_images,
    pretrain_autoencoder,
    train_conditional,
    train_feature,
    with_steps,
)

COND = ConditionalSettings(
    embed_dim=8, base=4, widths=(8, 8), steps=30, batch=4, checkpoint_every=5
)
FEAT = FeatureSettings(
    code_channels=4,
    base=4,
    widths=(8, 4),
    steps=30,
    snapshot_every=5,
    median_of=3,
    checkpoint_every=5,
)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache folder."""
    monkeypatch.setenv("NETVIZ_TP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def weights(module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def interrupt_at(n: int):
    def callback(done, loss):
        if done == n:
            raise KeyboardInterrupt

    return callback


# --- the classifier stays frozen; the loss goes down ----------------------------------------


@pytest.mark.parametrize("layer", [None, "0"])
def test_conditional_training_leaves_the_classifier_alone_and_lowers_the_loss(tiny, layer):
    before = weights(tiny)
    units = [1, 4, 7] if layer is None else [2, 5, 9]  # classes, or channels of conv "0"
    run = train_conditional(tiny, units, replace(COND, steps=60), layer=layer, progress=False)
    assert same(before, weights(tiny)) and not tiny.training
    assert not any(p.requires_grad for p in tiny.parameters())
    assert sum(run.losses[-5:]) < 0.5 * sum(run.losses[:5])
    images = run.generator.images(size=32)
    assert images.shape == (3, 3, 32, 32) and images.min() >= 0 and images.max() <= 1


@pytest.mark.parametrize("upsample", ["nearest", "deconv"])
def test_conditional_generator_reaches_its_classes_on_a_tiny_network(tiny, upsample):
    settings = replace(COND, steps=80, upsample=upsample)
    run = train_conditional(tiny, [1, 4, 7], settings, progress=False)
    assert run.generator.side == 16
    with torch.no_grad():
        pred = tiny(run.generator.images([7, 1], size=32)).argmax(1)
    assert pred.tolist() == [7, 1]


@pytest.mark.parametrize("units,layer", [(3, None), ([3, 6], None), (5, "3")])
def test_feature_training_leaves_the_classifier_alone_and_lowers_the_loss(tiny, units, layer):
    before = weights(tiny)
    run = train_feature(tiny, units, FEAT, layer=layer, progress=False)
    assert same(before, weights(tiny))
    assert sum(run.losses[-5:]) < sum(run.losses[:5])
    assert run.extra["image"].shape == (1, 3, 16, 16)


def test_feature_loss_is_the_authors_formula():
    a = torch.tensor([[2.0, -1.0, 3.0, 0.5]])
    # 1 - (a_0 + a_2) + lam * (relu(a_1) + a_3)
    assert feature_loss(a, torch.tensor([0, 2]), 0.1).item() == pytest.approx(1 - 5 + 0.05)
    assert feature_loss(a, torch.tensor([1]), 0.1).item() == pytest.approx(1 - 0 + 0.55)


def test_the_final_image_is_the_median_of_the_last_snapshots(tiny):
    run = train_feature(tiny, 3, FEAT, progress=False)
    shots = run.extra["snapshots"]
    assert len(shots) == 3
    assert torch.allclose(run.extra["image"], torch.stack(shots).median(dim=0).values)


@pytest.mark.parametrize("jitter", ["code", "input"])
def test_the_jitter_lands_where_the_settings_say(jitter):
    """ "code": alpha + sigma N (ours); "input": alpha * (1 + sigma N) (the authors' code);
    no noise: alpha itself, the final image's input."""
    from netviz_tp.featgen import FeatureGenerator

    gen = FeatureGenerator(replace(FEAT, jitter=jitter, sigma=0.5))
    with torch.no_grad():
        gen.alpha.copy_(torch.linspace(-2, 3, gen.alpha.numel()).view_as(gen.alpha))
    codes = []
    gen.decoder.register_forward_pre_hook(lambda module, args: codes.append(args[0]))
    noise = torch.randn(gen.ones.shape, generator=torch.Generator().manual_seed(0))
    gen(noise), gen()
    alpha = gen.alpha.detach()
    expected = alpha + 0.5 * noise if jitter == "code" else alpha * (1 + 0.5 * noise)
    assert torch.allclose(codes[0], expected) and torch.equal(codes[1], alpha)
    with pytest.raises(ValueError, match='jitter must be "code" or "input"'):
        FeatureGenerator(replace(FEAT, jitter="output"))


def test_pretrained_variant_trains_the_scale_vector_only(tiny):
    settings = replace(
        FEAT,
        pretrained=True,
        optimizer="sgd",
        lr=0.01,
        momentum=0.1,
        reg=0.1,
        sigma=0.23,
        ae_steps=40,
        ae_batch=4,
    )
    images = torch.rand(6, 3, 20, 20, generator=torch.Generator().manual_seed(1))
    ae = pretrain_autoencoder(images, settings, progress=False)
    assert sum(ae.losses[-5:]) < sum(ae.losses[:5])
    decoder = weights(ae.generator.decoder)
    run = train_feature(tiny, 3, settings, decoder=ae.generator.decoder, progress=False)
    assert same(decoder, weights(run.generator.decoder))  # frozen, statistics included
    assert same(decoder, weights(ae.generator.decoder))
    assert not torch.equal(run.generator.alpha, torch.ones_like(run.generator.alpha))
    with pytest.raises(ValueError, match="train a generator from scratch: leave decoder out"):
        train_feature(tiny, 3, FEAT, decoder=ae.generator.decoder, progress=False)


# --- checkpoints: cache, atomic files, resume -------------------------------------------------


def test_checkpoint_round_trips_and_refuses_a_corrupted_file(tmp_path):
    state = {"w": torch.randn(3, 4), "losses": [1.0, 0.5], "extra": {"k": [torch.ones(2)]}}
    path = tmp_path / "c.pt"
    save_checkpoint(path, state)
    back = load_checkpoint(path)
    assert torch.equal(back["w"], state["w"]) and back["losses"] == [1.0, 0.5]
    assert torch.equal(back["extra"]["k"][0], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(path)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)


def test_rerunning_loads_from_the_cache_instead_of_training(tiny):
    first = train_conditional(tiny, [1, 2], COND, progress=False)
    assert first.resumed_from == 0 and first.path.parent == cache_folder()
    calls = []
    again = train_conditional(tiny, [1, 2], COND, progress=False, callback=calls.append)
    assert again.resumed_from == COND.steps and calls == [] and again.losses == first.losses
    assert same(weights(first.generator), weights(again.generator))
    other = train_conditional(tiny, [1, 2], replace(COND, seed=1), progress=False)
    assert other.path != first.path and other.resumed_from == 0


def test_a_corrupted_cache_entry_is_trained_again_with_a_warning(tiny):
    first = train_conditional(tiny, [1, 2], COND, progress=False)
    first.path.write_bytes(first.path.read_bytes()[:-10])
    with pytest.warns(UserWarning, match="training again"):
        again = train_conditional(tiny, [1, 2], COND, progress=False)
    assert again.resumed_from == 0 and again.losses == first.losses


def test_a_cache_entry_of_another_architecture_is_trained_again_with_a_warning(tiny):
    first = train_conditional(tiny, [1, 2], COND, progress=False)
    state = load_checkpoint(first.path)
    state["generator"] = {k.replace("stages.0.0.", "stages.0.0.1."): v
                          for k, v in state["generator"].items()}  # fmt: skip
    save_checkpoint(first.path, state)  # an intact file, written by another architecture
    with pytest.warns(UserWarning, match="another architecture.*training again"):
        again = train_conditional(tiny, [1, 2], COND, progress=False)
    assert again.resumed_from == 0 and again.losses == first.losses
    assert same(weights(first.generator), weights(again.generator))


@pytest.mark.parametrize("kind", ["conditional", "feature"])
def test_interrupted_training_resumes_and_ends_as_if_uninterrupted(tiny, kind, cache):
    def run(**kw):
        if kind == "conditional":
            return train_conditional(tiny, [1, 2, 3], COND, progress=False, **kw)
        return train_feature(tiny, [3, 4], FEAT, progress=False, **kw)

    reference = run(cache=False)
    with pytest.raises(KeyboardInterrupt):
        run(callback=interrupt_at(12))  # between two checkpoints (every 5)
    (path,) = cache_folder().glob(f"{kind}-*.pt")
    assert len(load_checkpoint(path)["losses"]) == 12  # saved at the interruption
    run(callback=lambda done, loss: done == 17)  # stopped early by the callback: saved too
    assert len(load_checkpoint(path)["losses"]) == 17
    resumed = run()
    assert resumed.resumed_from == 17
    assert resumed.losses == reference.losses
    assert same(weights(resumed.generator), weights(reference.generator))
    if kind == "feature":
        assert torch.equal(resumed.extra["image"], reference.extra["image"])


# --- bad settings get clear errors ------------------------------------------------------------


def test_bad_units_layers_and_settings_are_refused(tiny):
    with pytest.raises(ValueError, match=r"0\.\.9"):
        check_units(tiny, [3, 10])
    with pytest.raises(ValueError, match="no ImageNet class"):
        train_conditional(tiny, ["tenhc"], COND, progress=False)
    with pytest.raises(KeyError, match="no layer 'conv9'"):
        train_conditional(tiny, [0], COND, layer="conv9", progress=False)
    with pytest.raises(ValueError, match="has 16 channels"):
        train_feature(tiny, [3, 16], FEAT, layer="0", progress=False)
    with pytest.raises(TypeError, match="numbers"):
        check_units(tiny, ["tench"], "0")
    with pytest.raises(ValueError, match="distinct"):
        check_units(tiny, [2, 2])
    with pytest.raises(KeyError, match="unknown preset"):
        train_conditional(tiny, [0], "imagenet-small", progress=False)
    with pytest.raises(ValueError, match="steps"):
        train_conditional(tiny, [0], replace(COND, steps=0), progress=False)
    with pytest.raises(ValueError, match=r"upsample must be one of \['deconv', 'nearest'\]"):
        train_conditional(tiny, [0], replace(COND, upsample="bilinear"), progress=False)
    with pytest.raises(ValueError, match="optimizer"):
        train_feature(tiny, 1, replace(FEAT, optimizer="adam"), progress=False)
    run = train_conditional(tiny, [1, 2], COND, progress=False)
    with pytest.raises(ValueError, match=r"trained for \[1, 2\], not \[5\]"):
        run.generator.images([1, 5])


def test_training_refuses_a_classifier_in_train_mode(tiny):
    tiny.train()
    with pytest.raises(ValueError, match="train mode"):
        train_conditional(tiny, [1], COND, progress=False)


def test_presets_are_consistent():
    assert CONDITIONAL_PRESETS["mnist"].base * 2 ** len(CONDITIONAL_PRESETS["mnist"].widths) == 28
    assert FEATURE_PRESETS["pretrained"].steps == 1200 and FEATURE_PRESETS["untrained"].steps == 500
    assert set(BUDGETS) == {"fast", "cpu", "gpu"}
    assert BUDGETS["fast"].conditional.steps * BUDGETS["fast"].classes <= 40
    assert BUDGETS["cpu"].classes == 10 and BUDGETS["gpu"].e == tuple(range(1, 36))
    short = with_steps(FEATURE_PRESETS["pretrained"], 8)
    assert short.steps == 8 and short.checkpoint_every == 8


# --- the real SqueezeNet ----------------------------------------------------------------------


def test_conditional_generator_reaches_two_classes_on_squeezenet_and_fools_it(
    squeezenet, course_data
):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings = replace(CONDITIONAL_PRESETS["mnist"], steps=80, batch=2)  # p > 0.9 each
        run = train_conditional(squeezenet, ["tarantula", "goldfish"], settings, progress=False)
    images = run.generator.images(size=224)
    with torch.no_grad():
        pred = squeezenet(images).argmax(1)
    assert pred.tolist() == run.generator.units.tolist()
    curve = fooling_curve(
        squeezenet, course_data.x[:10], as_perturbation(images), run.generator.units, e=[10, 35]
    )
    assert curve.fooling[1] > curve.fooling[0]  # images the generator never saw


def test_the_mnist_track_draws_every_digit_for_the_thesis_network():
    """Practical 4's MNIST network (trained 1 epoch, real digits): one generator for the ten
    digits, each image read as its digit; on held-out digits the perturbations fool more as
    e grows, and more than their own pixels shuffled."""
    from netviz_tp.fooling import shuffled
    from netviz_tp.mnist import load_digits, mnist_cnn

    net = mnist_cnn(epochs=1, progress=False)
    run = train_conditional(net, list(range(10)), "mnist", progress=False)
    images = run.generator.images()
    assert images.shape == (10, 1, 28, 28)
    with torch.no_grad():
        assert net(images).argmax(1).tolist() == list(range(10))
    x, v, units = load_digits("test").x[:100], as_perturbation(images), run.generator.units
    curve = fooling_curve(net, x, v, units, e=[10, 60, 120])
    floor = fooling_curve(net, x, shuffled(v), units, e=[10, 60, 120])
    assert curve.fooling[0] < curve.fooling[1] < curve.fooling[2]
    assert curve.fooling[2] > floor.fooling[2] and curve.hit[2] > floor.hit[2]


def test_natural_images_are_the_course_images_and_the_photos(assets):
    from netviz_tp.data import sample_images

    images = natural_images(56)
    assert images.shape == (25 + len(sample_images()), 3, 56, 56)
    assert images.min() >= 0 and images.max() <= 1
