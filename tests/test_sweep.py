"""Tests for netviz_tp.sweep: every cell is the run its label names, chunks change nothing
but the batch size, memory is bounded by the chunk, bad sweeps are refused clearly."""

from __future__ import annotations

import pytest
import torch

from netviz_tp import sweep as sweeps
from netviz_tp.featviz import class_visualization
from netviz_tp.plot import plot_vis_grid
from netviz_tp.sweep import CPU_BATCH, bytes_per_image, chunk_size, sweep

QUICK = dict(steps=6, jitter=3, blur_every=2, progress=False)


def forward_batches(model):
    """Record the batch size of every forward pass of ``model.net``; returns (sizes, handle)."""
    sizes = []
    handle = model.net.register_forward_pre_hook(lambda m, args: sizes.append(len(args[0])))
    return sizes, handle


def test_a_product_sweep_labels_each_cell_with_the_run_it_holds(tiny):
    vary = {"lr": [0.1, 1.0], "l2": [0.0, 0.05, 0.2]}
    grid = sweep(tiny, 4, vary, **QUICK)
    assert grid.shape == (2, 3) and len(grid.x) == len(grid.labels) == 6
    assert grid.labels[:3] == ("lr=0.1, l2=0", "lr=0.1, l2=0.05", "lr=0.1, l2=0.2")
    assert grid.labels[5] == "lr=1, l2=0.2"
    for i, label in enumerate(grid.labels):
        knobs = dict(part.split("=") for part in label.split(", "))
        settings = grid.settings[i]
        assert (settings.lr, settings.l2) == (float(knobs["lr"]), float(knobs["l2"]))
        assert (settings.steps, settings.jitter) == (6, 3)  # the common knobs
        alone = class_visualization(tiny, 4, preset=settings)
        torch.testing.assert_close(grid.x[i : i + 1], alone.x, rtol=0, atol=1e-5)
        torch.testing.assert_close(grid.scores[i], alone.scores[-1, 0], rtol=1e-4, atol=1e-5)
    assert grid.target.tolist() == [4] * 6


def test_a_class_grid_and_starts_from_images_one_per_class(tiny, images):
    grid = sweep(tiny, [1, 5, 7], init_img=images[:3], **QUICK)
    assert grid.shape == (1, 3) and grid.labels == ("", "", "")
    assert grid.target.tolist() == [1, 5, 7]
    for i, t in enumerate([1, 5, 7]):
        alone = class_visualization(tiny, t, init_img=images[i : i + 1], **QUICK)
        torch.testing.assert_close(grid.x[i : i + 1], alone.x, rtol=0, atol=1e-5)
    crossed = sweep(tiny, [1, 5], {"steps": [2, 4, 6]}, init_img=images[:1], progress=False)
    assert crossed.shape == (2, 3) and crossed.target.tolist() == [1, 1, 1, 5, 5, 5]
    assert [s.steps for s in crossed.settings] == [2, 4, 6] * 2


def test_a_list_of_overrides_one_knob_per_row(tiny):
    cells = [{"steps": 2}, {"steps": 8}, {"learning_rate": 2.0}, {"max_jitter": None}]
    grid = sweep(tiny, 3, cells, ncols=2, **{**QUICK, "steps": 4})
    assert grid.shape == (2, 2)
    assert grid.labels == ("steps=2", "steps=8", "lr=2", "jitter=0")  # the package's names
    assert [(s.steps, s.lr, s.jitter) for s in grid.settings] == [
        (2, 0.3, 3), (8, 0.3, 3), (4, 2.0, 3), (4, 0.3, 0),
    ]  # fmt: skip


@pytest.mark.parametrize("chunk", [1, 4])
def test_chunks_give_the_results_of_one_batch_and_bound_the_batch(tiny, chunk):
    vary = {"lr": [0.1, 0.5, 2.0], "steps": [3, 7]}
    whole = sweep(tiny, [2, 6], vary, chunk=12, **{**QUICK, "steps": None})
    sizes, handle = forward_batches(tiny)
    try:
        parts = sweep(tiny, [2, 6], vary, chunk=chunk, **{**QUICK, "steps": None})
    finally:
        handle.remove()
    assert whole.chunk == 12 and parts.chunk == chunk
    assert max(sizes) == chunk  # no more than `chunk` images are ever alive in a pass
    assert parts.labels == whole.labels and parts.settings == whole.settings
    torch.testing.assert_close(parts.x, whole.x, rtol=0, atol=1e-5)
    torch.testing.assert_close(parts.scores, whole.scores, rtol=1e-4, atol=1e-5)


def test_memory_stays_bounded_for_a_large_sweep(tiny, monkeypatch):
    per_image = bytes_per_image(tiny)
    assert per_image > 3 * 3 * 32 * 32 * 4  # at least the outputs of the input's layers
    # a machine with free memory for 5 images' worth of activations in the shared budget
    monkeypatch.setattr(
        sweeps, "_available_memory", lambda: 5 * per_image / sweeps.MEMORY_SHARE["cpu"]
    )
    assert chunk_size(tiny, 1000) == 5
    sizes, handle = forward_batches(tiny)
    try:
        grid = sweep(tiny, list(range(10)), {"lr": [0.1, 0.3, 1.0, 3.0]}, **{**QUICK, "steps": 2})
    finally:
        handle.remove()
    assert grid.chunk == 5 and len(grid.x) == 40 and max(sizes) == 5
    assert sizes.count(5) == 2 * 8  # 8 chunks of 5 images, 2 steps each


def test_chunk_size_on_a_cpu_is_capped_and_never_zero(tiny, monkeypatch):
    assert chunk_size(tiny, 3) == 3
    assert chunk_size(tiny, 10_000) == CPU_BATCH
    monkeypatch.setattr(sweeps, "_available_memory", lambda: 1)
    assert chunk_size(tiny, 50) == 1


def test_one_progress_bar_counts_every_image_step(tiny):
    class Bar:
        total = 0

        def update(self, n):
            Bar.total += n

    sweep(tiny, [1, 2], {"steps": [2, 5]}, chunk=3, progress=Bar(), jitter=0)
    assert Bar.total == 2 * (2 + 5)


def test_plot_vis_grid_titles_each_image_with_its_settings(tiny):
    grid = sweep(tiny, 3, {"lr": [0.1, 1.0]}, **QUICK)
    names = [f"class {i}" for i in range(10)]
    fig = plot_vis_grid(grid, class_names=names, subtitles=["p = 1%", "p = 2%"])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["class 3\nlr=0.1\np = 1%", "class 3\nlr=1\np = 2%"]
    with pytest.raises(ValueError, match="3 subtitles for 2 images"):
        plot_vis_grid(grid, subtitles=["a", "b", "c"])


def test_bad_sweeps_name_the_problem(tiny, images):
    with pytest.raises(ValueError, match=r"vary\['lr'\] must be a non-empty list"):
        sweep(tiny, 1, {"lr": 0.1}, **QUICK)
    with pytest.raises(ValueError, match=r"vary\['lr'\] must be a non-empty list"):
        sweep(tiny, 1, {"lr": []}, **QUICK)
    with pytest.raises(TypeError, match="vary must be"):
        sweep(tiny, 1, ["lr"], **QUICK)
    with pytest.raises(TypeError, match="knobs are"):
        sweep(tiny, 1, {"learning_rat": [1.0]}, **QUICK)
    with pytest.raises(ValueError, match="lr must be a finite number >= 0"):
        sweep(tiny, 1, {"lr": [0.1, -1.0]}, **QUICK)
    with pytest.raises(KeyError, match="did you mean 'rdfia'"):
        sweep(tiny, 1, preset="rdfai", **QUICK)
    with pytest.raises(ValueError, match="share one space"):
        sweep(tiny, 1, {"space": ["pixels", "normalized"]}, **QUICK)
    with pytest.raises(ValueError, match="chunk must be a positive"):
        sweep(tiny, 1, chunk=0, **QUICK)
    with pytest.raises(ValueError, match="ncols must be a positive"):
        sweep(tiny, 1, ncols=0, **QUICK)
    with pytest.raises(ValueError, match="init_img holds 3 images for 2 targets"):
        sweep(tiny, [1, 2], init_img=images[:3], **QUICK)
    with pytest.raises(ValueError, match="0..9"):
        sweep(tiny, [1, 12], **QUICK)


def test_on_a_gpu_the_whole_sweep_is_one_batch_when_it_fits(tiny, monkeypatch):
    # a stand-in GPU: the device and its free memory are what chunk_size asks about
    monkeypatch.setattr(sweeps, "device_of", lambda model: torch.device("cuda", 0))
    monkeypatch.setattr(sweeps, "bytes_per_image", lambda model: 10**6)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (16 * 10**9, 16 * 10**9))
    assert chunk_size(tiny, 1000) == 1000  # far beyond the CPU's cap
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (100 * 10**6, 16 * 10**9))
    assert chunk_size(tiny, 1000) == 80  # 0.8 of 100 MB at 1 MB per image
