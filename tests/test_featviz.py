"""Tests for netviz_tp.featviz: the course presets against a plain restatement of the course
loop (tests/course_reference.py), the blur against scipy, the update against autograd, and
the behaviour of the real SqueezeNet."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch
from course_reference import create_class_visualization as course_loop
from course_reference import jitter as course_jitter
from scipy.ndimage import gaussian_filter1d

from netviz_tp.featviz import (
    PRESETS,
    VisSettings,
    channel_visualization,
    class_visualization,
    create_class_visualization,
    gaussian_blur,
    jitter,
    vis_settings,
)

COURSE_KNOBS = {  # the course's keyword names for each preset
    "rdfia": dict(learning_rate=5.0, num_iterations=200, l2_reg=1e-3),
    "cs231n": dict(learning_rate=25.0, num_iterations=100, l2_reg=1e-3),
}


def run_both(model, preset, target, *, init_img=None, seed=0, steps=None):
    """Run the package and the course restatement side by side; return their per-step
    pixels ``[steps, 1, 3, H, W]`` and target scores ``[steps]``."""
    knobs = dict(COURSE_KNOBS[preset])
    if steps is not None:
        knobs["num_iterations"] = steps
    side, device = model.input_size, model.mean.device
    if init_img is None:  # the package's documented noise: randn from Generator(seed) as z
        z0 = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(seed))
    else:
        z0 = model.normalize(init_img.to(device))
    course = []
    course_loop(
        target,
        model.net,
        model.mean.flatten().cpu().numpy(),  # float32, as the course's SQUEEZENET_MEAN
        model.std.flatten().cpu().numpy(),
        z0.to(device),
        random.Random(seed),
        callback=lambda t, z, s: course.append((model.denormalize(z).clamp(0, 1), s)),
        **knobs,
    )
    ours = []
    res = class_visualization(
        model,
        target,
        preset=preset,
        steps=knobs["num_iterations"],
        init_img=init_img,
        seed=seed,
        callback=lambda t, x, s: ours.append((x, s.clone())),
    )
    assert res.steps_run == len(ours) == len(course) == knobs["num_iterations"]
    our_x, our_s = (torch.stack(seq) for seq in zip(*ours, strict=True))
    course_x, course_s = (torch.stack(seq) for seq in zip(*course, strict=True))
    return our_x, course_x, our_s.flatten(), course_s


# --- transforms ----------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.7, 4.0])
@pytest.mark.parametrize("shape", [(2, 3, 17, 23), (1, 3, 5, 7)])
def test_gaussian_blur_equals_scipy(sigma, shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    ref = gaussian_filter1d(gaussian_filter1d(x.numpy(), sigma, axis=2), sigma, axis=3)
    # sigma 4 on 5 pixels: the kernel (radius 16) reflects several times past each border
    torch.testing.assert_close(gaussian_blur(x, sigma), torch.from_numpy(ref), rtol=0, atol=0)


def test_gaussian_blur_rejects_non_positive_sigma():
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(torch.zeros(1, 3, 8, 8), 0.0)


@pytest.mark.parametrize("ox, oy", [(0, 0), (3, 0), (0, 5), (4, 7), (16, 16)])
def test_jitter_equals_course_and_undoes(ox, oy, images):
    torch.testing.assert_close(
        jitter(images, ox, oy), course_jitter(images, ox, oy), rtol=0, atol=0
    )
    assert torch.equal(jitter(jitter(images, ox, oy), -ox, -oy), images)


# --- the presets reproduce the course loop --------------------------------------------------


@pytest.mark.parametrize("preset", ["rdfia", "cs231n"])
@pytest.mark.parametrize("start", ["noise", "image"])
def test_presets_reproduce_the_course_loop_step_for_step(tiny, images, preset, start):
    init = images[:1] if start == "image" else None
    ours, course, our_scores, course_scores = run_both(
        tiny, preset, 7, init_img=init, seed=3, steps=60
    )
    torch.testing.assert_close(ours, course, rtol=0, atol=1e-5)
    torch.testing.assert_close(our_scores, course_scores, rtol=1e-5, atol=1e-5)


def test_course_alias_maps_the_course_names(tiny, images):
    knobs = dict(learning_rate=25.0, l2_reg=0.01, num_iterations=6, blur_width=1.0)
    out = create_class_visualization(4, tiny, init_img=images[:1], max_jitter=None, **knobs)
    ref = class_visualization(
        tiny, 4, preset="rdfia", init_img=images[:1], lr=25.0, l2=0.01, steps=6, blur_sigma=1.0,
        jitter=0,
    ).x  # fmt: skip
    assert out.shape == (1, 3, 32, 32)
    assert torch.equal(out, ref)
    noise = create_class_visualization(4, tiny, num_iterations=3)  # rdfia by default
    assert torch.equal(noise, class_visualization(tiny, 4, preset="rdfia", steps=3).x)


def test_the_default_preset_follows_the_space(tiny):
    for space, preset in [("normalized", "rdfia"), ("pixels", "pixels"), (None, "pixels")]:
        got = class_visualization(tiny, 4, space=space, steps=3).x
        assert torch.equal(got, class_visualization(tiny, 4, preset=preset, steps=3).x)
    pixels = class_visualization(tiny, 4, preset="rdfia", space="pixels", steps=3).x
    assert not torch.equal(pixels, class_visualization(tiny, 4, preset="rdfia", steps=3).x)


# --- the loop's pieces ----------------------------------------------------------------------


@pytest.mark.parametrize("clamp", [True, False])
def test_update_is_eq4_with_autograd_and_clamps_after_each_step(tiny, images, clamp):
    lr, l2, target = 2.0, 0.05, torch.tensor([1, 2])
    x = images[:2]
    for _ in range(2):  # oracle: the gradient of s_y - l2 ||x||^2 by autograd, then clamp
        xg = x.clone().requires_grad_(True)
        objective = tiny(xg).gather(1, target[:, None]).sum() - l2 * (xg**2).sum()
        x = x + lr * torch.autograd.grad(objective, xg)[0]
        x = x.clamp(0, 1) if clamp else x
    assert clamp or bool(((x < 0) | (x > 1)).any())  # the steps do leave [0, 1]
    res = class_visualization(
        tiny, [1, 2], init_img=images[:2], lr=lr, l2=l2, steps=2, jitter=0, blur_every=0,
        clamp=clamp,
    )  # fmt: skip
    torch.testing.assert_close(res.x, x.clamp(0, 1), rtol=0, atol=1e-5)


def test_blur_happens_every_k_steps(tiny, images):
    frames = []
    class_visualization(
        tiny, 0, init_img=images[:1], lr=0.0, l2=0.0, jitter=0, steps=5, blur_every=3,
        blur_sigma=1.0, callback=lambda t, x, s: frames.append(x),
    )  # fmt: skip
    once = gaussian_blur(images[:1], 1.0)
    twice = gaussian_blur(once, 1.0)
    for got, want in zip(frames, [once, once, once, twice, twice], strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-7)
    assert not torch.allclose(once, images[:1], atol=1e-3)


def test_batched_images_are_optimised_independently(tiny, images):
    knobs = dict(steps=25, seed=1, lr=1.0)
    both = class_visualization(tiny, [1, 7], init_img=images[:2], **knobs)
    for i, t in enumerate([1, 7]):
        alone = class_visualization(tiny, t, init_img=images[i : i + 1], **knobs)
        torch.testing.assert_close(both.x[i : i + 1], alone.x, rtol=0, atol=1e-5)
        torch.testing.assert_close(both.scores[:, i : i + 1], alone.scores, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("preset", ["pixels", "rdfia", "cs231n"])
def test_the_target_score_improves_for_every_class(tiny, images, preset):
    targets = list(range(10))
    starts = {"noise": None, "image": images[[0, 1, 2, 3, 0, 1, 2, 3, 0, 1]]}
    for init in starts.values():
        # jitter 4: the presets' 16 pixels would be half of the tiny model's 32x32 input
        res = class_visualization(tiny, targets, preset=preset, steps=40, init_img=init, jitter=4)
        with torch.no_grad():  # before: the start image, or the noise as the loop first saw it
            before = res.scores[0] if init is None else tiny(init)[range(10), targets]
            after = tiny(res.x)[range(10), targets]
        assert bool((after > before).all()), (preset, before, after)
        assert res.x.min() >= 0 and res.x.max() <= 1
        assert res.scores.shape == (40, 10) and torch.equal(res.target, torch.tensor(targets))


def test_callback_every_and_stop(tiny):
    calls = []

    def callback(step, x, scores):
        calls.append(step)
        assert x.shape == (2, 3, 32, 32) and scores.shape == (2,)
        return step == 6

    res = class_visualization(tiny, [0, 1], steps=20, callback=callback, callback_every=3)
    assert calls == [0, 3, 6]
    assert res.steps_run == 7 and res.scores.shape == (7, 2)
    calls.clear()
    class_visualization(
        tiny, 0, steps=5, callback=lambda t, x, s: calls.append(t), callback_every=3
    )
    assert calls == [0, 3, 4]  # and always the last step


def test_seed_makes_runs_repeatable(tiny):
    a, b = (class_visualization(tiny, 2, steps=10, seed=5) for _ in range(2))
    assert torch.equal(a.x, b.x)
    assert not torch.equal(a.x, class_visualization(tiny, 2, steps=10, seed=6).x)


# --- channel visualisation ------------------------------------------------------------------


def test_channel_visualization_raises_the_channel_mean(tiny, images):
    layer, channels = "0", [3, 11]
    res = channel_visualization(tiny, layer, channels, init_img=images[:2], steps=30, jitter=0)
    conv = tiny.layer(layer)
    with torch.no_grad():
        act = lambda x: conv(tiny.normalize(x))[range(2), channels].mean(dim=(1, 2))  # noqa: E731
        assert bool((act(res.x) > act(images[:2])).all())
        torch.testing.assert_close(res.scores[0], act(images[:2]))  # the objective, step 0
    assert torch.equal(res.target, torch.tensor(channels))
    assert not conv._forward_hooks  # the capture hook is gone


def test_channel_visualization_accepts_a_module(tiny):
    res = channel_visualization(tiny, tiny.layer("3"), 5, steps=3)
    assert res.x.shape == (1, 3, 32, 32) and res.scores.shape == (3, 1)


# --- errors ---------------------------------------------------------------------------------


def test_errors_name_the_problem(tiny, images):
    with pytest.raises(ValueError, match="0..9"):
        class_visualization(tiny, 10, steps=1)
    with pytest.raises(ValueError, match="targets for 4 images"):
        class_visualization(tiny, [1, 2], init_img=images, steps=1)
    with pytest.raises(ValueError, match="batch"):
        class_visualization(tiny, 1, init_img=images[0], steps=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        class_visualization(tiny, 1, init_img=images * 2, steps=1)
    with pytest.raises(KeyError, match="did you mean 'rdfia'"):
        class_visualization(tiny, 1, preset="rdfai")
    with pytest.raises(ValueError, match="space"):
        class_visualization(tiny, 1, space="z")
    with pytest.raises(ValueError, match="steps"):
        class_visualization(tiny, 1, steps=-1)
    with pytest.raises(ValueError, match="callback_every"):
        class_visualization(tiny, 1, callback=print, callback_every=0)
    with pytest.raises(TypeError, match="learning_rate"):
        channel_visualization(tiny, "0", 1, learning_rate=5)


def test_channel_errors_and_hooks_removed(tiny):
    with pytest.raises(KeyError, match="has no layer 'net.0'"):
        channel_visualization(tiny, "net.0", 1, steps=1)
    with pytest.raises(ValueError, match="16 channels"):
        channel_visualization(tiny, "0", 16, steps=1)
    assert not tiny.layer("0")._forward_hooks
    with pytest.raises(ValueError, match="non-negative"):
        channel_visualization(tiny, "0", -1, steps=1)


def test_presets_table():
    assert set(PRESETS) >= {"pixels", "rdfia", "cs231n"}
    assert PRESETS["rdfia"] == VisSettings(
        space="normalized", lr=5.0, steps=200, l2=1e-3, blur_sigma=0.5, blur_every=10, jitter=16
    )
    assert PRESETS["cs231n"] == dataclasses.replace(PRESETS["rdfia"], lr=25.0, steps=100)
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["rdfia"].lr = 1.0


def test_settings_are_one_value_overridden_by_replacement(tiny):
    mine = vis_settings("cs231n", steps=3, jitter=None)  # None keeps the preset's value
    assert mine == dataclasses.replace(PRESETS["cs231n"], steps=3)
    assert vis_settings(space="normalized") == PRESETS["rdfia"]
    assert vis_settings(blur_every=4.0).blur_every == 4  # a slider's float, as an int
    by_value = class_visualization(tiny, 2, preset=mine)
    by_name = class_visualization(tiny, 2, preset="cs231n", steps=3)
    assert by_value.settings == by_name.settings == (mine,)  # one per image
    assert torch.equal(by_value.x, by_name.x)
    with pytest.raises(TypeError, match="knobs are"):
        vis_settings("rdfia", learning_rate=1.0)
    with pytest.raises(ValueError, match="lr must be a finite number"):
        VisSettings(lr=float("nan"))
    with pytest.raises(TypeError, match="name or a VisSettings"):
        vis_settings({"lr": 1.0})


# --- the real SqueezeNet --------------------------------------------------------------------


@pytest.mark.assets
def test_squeezenet_presets_follow_the_course_loop(squeezenet, course_data):
    for preset, init in [("cs231n", None), ("rdfia", course_data.x[:1])]:
        ours, course, our_scores, course_scores = run_both(
            squeezenet, preset, int(course_data.y[0]), init_img=init, steps=12
        )
        torch.testing.assert_close(ours, course, rtol=0, atol=1e-4)
        torch.testing.assert_close(our_scores, course_scores, rtol=1e-4, atol=1e-3)


@pytest.mark.assets
def test_squeezenet_rdfia_makes_the_target_the_confident_top_class(squeezenet):
    res = class_visualization(squeezenet, ["tarantula", "gorilla"], preset="rdfia")
    assert res.target.tolist() == [76, 366]
    with torch.no_grad():
        probs = squeezenet(res.x).softmax(dim=1)
    assert probs.argmax(dim=1).tolist() == [76, 366]
    assert bool((probs[[0, 1], [76, 366]] >= 0.9).all()), probs[[0, 1], [76, 366]]
    assert res.scores[-1].mean() > res.scores[0].mean() + 20  # logits climbed a long way


# --- batches whose images carry their own settings ------------------------------------------

PER_IMAGE = {  # knob -> the values of the two images of a batch
    "lr": [0.5, 2.0],
    "l2": [0.0, 0.05],
    "blur_sigma": [0.0, 1.0],
    "blur_every": [2, 3],
    "jitter": [0, 5],
    "clamp": [True, False],
    "seed": [1, 2],
}


@pytest.mark.parametrize("knob", sorted(PER_IMAGE))
def test_each_image_of_a_batch_gets_its_own_settings(tiny, knob):
    values = PER_IMAGE[knob]
    common = dict(steps=8, jitter=3, blur_every=2, lr=1.0, seed=1)  # jitter and blur on
    both = class_visualization(tiny, [4, 4], **{**common, knob: values})
    for i, value in enumerate(values):
        alone = class_visualization(tiny, 4, **{**common, knob: value})
        torch.testing.assert_close(both.x[i : i + 1], alone.x, rtol=0, atol=1e-5)
        torch.testing.assert_close(both.scores[:, i : i + 1], alone.scores, rtol=1e-4, atol=1e-5)
        assert both.settings[i] == alone.settings[0]
    assert not torch.allclose(both.x[0], both.x[1], atol=1e-3)  # the knob made a difference


def test_per_image_presets_targets_and_starts_in_the_course_space(tiny, images):
    presets, targets = ["rdfia", "cs231n"], [2, 7]
    both = class_visualization(tiny, targets, preset=presets, init_img=images[:2], steps=6)
    for i in range(2):
        alone = class_visualization(
            tiny, targets[i], preset=presets[i], init_img=images[i : i + 1], steps=6
        )
        torch.testing.assert_close(both.x[i : i + 1], alone.x, rtol=0, atol=1e-5)
    assert [s.lr for s in both.settings] == [5.0, 25.0]


def test_channel_visualization_takes_per_image_knobs(tiny, images):
    both = channel_visualization(tiny, "0", [3, 3], init_img=images[:2], lr=[0.1, 1.0], steps=5)
    for i, lr in enumerate([0.1, 1.0]):
        alone = channel_visualization(tiny, "0", 3, init_img=images[i : i + 1], lr=lr, steps=5)
        torch.testing.assert_close(both.x[i : i + 1], alone.x, rtol=0, atol=1e-5)


def test_the_batch_size_follows_the_per_image_settings(tiny):
    res = class_visualization(tiny, 4, lr=[0.1, 0.3, 1.0], steps=2)
    assert res.x.shape[0] == 3 and res.target.tolist() == [4, 4, 4]
    assert [s.lr for s in res.settings] == [0.1, 0.3, 1.0]


def test_finished_images_stop_changing_and_leave_the_batch(tiny):
    batch_sizes, frames = [], []
    hook = tiny.net.register_forward_pre_hook(lambda m, args: batch_sizes.append(len(args[0])))
    try:
        res = class_visualization(
            tiny, [4, 4, 6], steps=[3, 9, 5], jitter=2,
            callback=lambda t, x, s: frames.append((x.clone(), s.clone())),
        )  # fmt: skip
    finally:
        hook.remove()
    assert batch_sizes == [3, 3, 3, 2, 2, 1, 1, 1, 1]  # done images cost nothing more
    assert res.steps_run == 9 and res.scores.shape == (9, 3)
    for i, steps in enumerate([3, 9, 5]):
        for x, _ in frames[steps:]:  # after its last step the image stays as it is
            assert torch.equal(x[i], frames[steps - 1][0][i])
        assert bool(res.scores[:steps, i].isfinite().all()) and bool(
            res.scores[steps:, i].isnan().all()
        )
        alone = class_visualization(tiny, [4, 4, 6][i], steps=steps, jitter=2)
        torch.testing.assert_close(res.x[i : i + 1], alone.x, rtol=0, atol=1e-5)


def test_bad_per_image_settings_name_the_problem(tiny):
    with pytest.raises(ValueError, match="lr: got 3 values for 2 images"):
        class_visualization(tiny, [1, 2], lr=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="image 1 of 2: lr must be a finite number >= 0"):
        class_visualization(tiny, [1, 2], lr=[0.1, -0.2])
    with pytest.raises(ValueError, match="image 0 of 2: steps must be a non-negative"):
        class_visualization(tiny, [1, 2], steps=[-1, 3])
    with pytest.raises(KeyError, match="image 1 of 2: unknown preset 'rdfai'; did you mean"):
        class_visualization(tiny, [1, 2], preset=["rdfia", "rdfai"])
    with pytest.raises(ValueError, match="share one space"):
        class_visualization(tiny, [1, 2], preset=["rdfia", "pixels"])
    with pytest.raises(ValueError, match="preset: got 3 values for 2 images"):
        class_visualization(tiny, [1, 2], preset=["rdfia"] * 3)
    with pytest.raises(TypeError, match="seed must be an integer"):
        class_visualization(tiny, [1, 2], seed=[0, 0.5])
    with pytest.raises(ValueError, match="lr: got 2 values for 3 images"):
        class_visualization(tiny, 1, lr=[0.1, 0.2], seed=[0, 1, 2])
