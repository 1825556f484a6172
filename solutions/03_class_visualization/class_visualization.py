# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] nbgrader={"grade": false, "grade_id": "title", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Visualizing Neural Networks, part 3: class visualisation
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/netviz-tp/netviz-tp/blob/main/notebooks/03_class_visualization/class_visualization.ipynb)
#
# RDFIA practical 3-b, section 3 (questions 8 to 11). Instead of explaining one image, we ask
# the network what a class looks like to it: starting from noise, we change the image to
# maximise the score of a class (Simonyan et al. 2014), regularised so that the result stays
# image-like (Yosinski et al. 2015): we maximise
# $\mathcal{L} = \tilde y_i - \lambda \|x\|_2^2$ by gradient ascent,
# $x \leftarrow x + \eta \nabla_x \mathcal{L}$, and between steps we shift the image by a
# random jitter, clamp it to valid pixels and blur it now and then.
#
# **Goals.** Implement the ascent step and the loop (autograded), visualise classes, study
# the effect of the number of iterations, the learning rate, the regularisation and the
# blur, start from a real image, and try VGG16.
#
# **Tools.** `netviz_tp.featviz` gives the helpers `jitter` (circular shift) and
# `gaussian_blur`; `netviz_tp.sweep` runs many visualisations as one batch (the figures);
# `netviz_tp.plot`, `netviz_tp.checks`. Images are pixels in `[0, 1]`: the
# model normalises them, so the step sizes here are in pixel units (the course's
# `learning_rate=5` on normalised images moves pixels about as fast as 0.3 here).
#
# **Grading.** Code exercises are graded by the test cell that follows them (run it: it prints
# ✔ or tells you what is wrong); written answers are graded by hand. Do not delete, copy or
# move the cells of this notebook. Questions marked ★ are worth double.

# %% [markdown]
# ## Setup
# On Colab this installs `netviz_tp` (once per session). It notices a missing GPU and then
# reduces the iteration counts of the `parameters` cell below.

# %%
import sys

if "google.colab" in sys.modules:  # on Colab only: install the kit (once per session)
    import subprocess

    KIT = "netviz-tp @ git+https://github.com/netviz-tp/netviz-tp@v0.1.0"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", KIT], check=True)
from netviz_tp.course.setup import setup

BUDGET = setup(seed=0)

# %% tags=["parameters"]
# Every knob of this notebook. The defaults follow the budget chosen by setup(): the course's
# sizes on a GPU, reduced ones on a CPU, tiny ones with NETVIZ_TP_FAST=1 (CI and grading).
MODEL = "squeezenet1_1"  # the course's network
CLASSES = ["tarantula", "gorilla", "oboe", "hourglass", "Yorkshire terrier"][: BUDGET.n_vis_classes]
NUM_ITERATIONS = BUDGET.vis_steps  # the course: 200
LEARNING_RATE = 0.3  # pixel units (the course's 5 on normalised images)
L2_REG = 0.01  # lambda of eq. (3)
BLUR_EVERY = 10  # blur every this many steps (0: never)
BLUR_WIDTH = 0.5  # sigma of the Gaussian blur, in pixels
MAX_JITTER = 16  # largest random shift, in pixels
SWEEP_ITERATIONS = BUDGET.sweep_steps  # steps of every run of the Q9 sweeps
SWEEP_STEPS = [max(1, SWEEP_ITERATIONS // 4), SWEEP_ITERATIONS, 4 * SWEEP_ITERATIONS]
SWEEP_LEARNING_RATES = [0.05, 0.3, 1.5]
SWEEP_L2 = [0.0, 0.01, 0.1]
SWEEP_BLUR_WIDTHS = [0.0, 0.5, 1.5]  # 0: no blur
# Q10: the course images to start from (7: a gorilla, 4: a brown bear, 24: a black swan)
INIT_IMAGE_INDICES = [7, 4, 24][: BUDGET.n_vis_classes]
VGG16_WEIGHTS = BUDGET.vgg16_weights  # "imagenet" (528 MB, cached) or None: random weights
VGG_ITERATIONS = BUDGET.vgg_steps  # VGG16 is slow on a CPU
SEED = 0

# %%
# %matplotlib inline
import random

import torch
from tqdm.auto import trange

from netviz_tp import checks, plot
from netviz_tp.data import class_index, load_imagenet_val
from netviz_tp.featviz import gaussian_blur, jitter
from netviz_tp.models import load_model
from netviz_tp.sweep import sweep
from netviz_tp.validate import device_of

model = load_model(MODEL)
device = device_of(model)
names = load_imagenet_val(num=1).class_names
print(f"{model.name} on {device}; classes to visualise: {CLASSES}")

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1: one ascent step (2 points)
#
# Write `class_visualization_step(img, target_y, model, l2_reg, learning_rate)` for one
# image `img [1, 3, H, W]`: compute the objective of eq. (3),
# $\mathcal{L} = \tilde y_{target} - \lambda \|img\|_2^2$ (the **score**, i.e. the logit,
# of class `target_y`, minus `l2_reg` times the **squared** L2 norm of the image), its
# gradient with respect to `img`, and return `img + learning_rate * gradient` (eq. (4)),
# detached. Do not call `netviz_tp.featviz`'s visualisation functions.


# %% nbgrader={"grade": false, "grade_id": "ex1_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def class_visualization_step(img, target_y, model, l2_reg=0.01, learning_rate=0.3):
    """One gradient-ascent step on score[target_y] - l2_reg * ||img||^2 (eq. (3)-(4))."""
    ### BEGIN SOLUTION
    img = img.detach().clone().requires_grad_(True)
    objective = model(img)[0, target_y] - l2_reg * (img * img).sum()
    objective.backward()
    img = (img + learning_rate * img.grad).detach()
    ### END SOLUTION
    return img


# %% nbgrader={"grade": true, "grade_id": "ex1_test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Checks class_visualization_step: one ascent step on score - l2_reg * ||img||^2 (tiny CNN).
checks.check_class_vis_step(class_visualization_step)
### BEGIN HIDDEN TESTS
checks.check_class_vis_step(class_visualization_step, seed=1, l2_reg=0.2, learning_rate=1.0)
x_h = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(3)).to(device)
checks.check_class_vis_step(class_visualization_step, model, x_h, 76, tol=1e-4)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2: the loop (2 points)
#
# Complete `create_class_visualization`. The start image (noise, or `init_img`) and the
# random shifts `ox, oy` of each step are drawn for you. At each step `t`:
#
# 1. shift the image with `jitter(img, ox, oy)`;
# 2. take one step with your `class_visualization_step`;
# 3. undo the shift, `jitter(img, -ox, -oy)`, and clamp the pixels to `[0, 1]`;
# 4. if `blur_every` is not 0 and `t % blur_every == 0`, blur with
#    `gaussian_blur(img, blur_width)` (skip the blur when `blur_width` is 0).


# %% nbgrader={"grade": false, "grade_id": "ex2_loop", "locked": false, "schema_version": 3, "solution": true, "task": false}
def create_class_visualization(
    target_y,
    model,
    *,
    init_img=None,
    l2_reg=0.01,
    learning_rate=0.3,
    num_iterations=200,
    blur_every=10,
    blur_width=0.5,
    max_jitter=16,
    seed=0,
    progress=False,
):
    """An image [1, 3, H, W] in [0, 1] that the model scores highly for class target_y."""
    if init_img is None:  # normal noise around the mean colour, clipped to valid pixels
        side = model.input_size
        noise = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(seed))
        img = model.denormalize(noise.to(device_of(model))).clamp(0, 1)
    else:
        img = init_img.detach().clone()
    rng = random.Random(seed)
    for t in trange(num_iterations, disable=not progress, desc="class visualisation"):
        ox, oy = rng.randint(0, max_jitter), rng.randint(0, max_jitter)
        ### BEGIN SOLUTION
        img = jitter(img, ox, oy)
        img = class_visualization_step(img, target_y, model, l2_reg, learning_rate)
        img = jitter(img, -ox, -oy).clamp(0, 1)
        if blur_every and blur_width > 0 and t % blur_every == 0:
            img = gaussian_blur(img, blur_width)
        ### END SOLUTION
    return img


# %% nbgrader={"grade": true, "grade_id": "ex2_test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Checks create_class_visualization: jitter, step, unjitter, clamp, periodic blur, as the reference loop (tiny CNN).
checks.check_class_visualization(create_class_visualization)
### BEGIN HIDDEN TESTS
checks.check_class_visualization(
    create_class_visualization, seed=1, steps=7, blur_every=3, max_jitter=5, learning_rate=1.0
)
checks.check_class_visualization(create_class_visualization, model, target=76, steps=3)
### END HIDDEN TESTS

# %% [markdown]
# ## Class visualisations (Q8)
# The figures of this notebook run many visualisations at once: `sweep` (from
# `netviz_tp.sweep`) takes the steps of your loop (the test of exercise 2 compared them), one
# batch for all the images, each with its own class and settings. Here: each class of
# `CLASSES` from the same noise; the title gives the network's confidence in the class on
# the final image.

# %%
targets = [class_index(c) for c in CLASSES]
SETTINGS = dict(  # the knobs above, in the package's names
    lr=LEARNING_RATE,
    l2=L2_REG,
    blur_every=BLUR_EVERY,
    blur_sigma=BLUR_WIDTH,
    jitter=MAX_JITTER,
    seed=SEED,
)


def confidence(net, x, classes):
    """The net's probability of each class on its image, as subtitles."""
    with torch.no_grad():
        p = net(x).softmax(1)[range(len(x)), list(classes)]
    return [f"p = {float(q):.0%}" for q in p]


def visualise_classes(net, steps):
    """Every target from noise, as one batch, titled with the net's confidence."""
    grid = sweep(net, targets, preset="pixels", steps=steps, **SETTINGS)
    subtitles = confidence(net, grid.x, grid.target.tolist())
    title = f"{net.name}, {steps} steps"
    return plot.plot_vis_grid(grid, class_names=names, subtitles=subtitles, title=title)


visualise_classes(model, NUM_ITERATIONS)

# %% [markdown] nbgrader={"grade": false, "grade_id": "q8_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q8 ★ Show and interpret the obtained results. (2 points)

# %% [markdown] nbgrader={"grade": true, "grade_id": "q8", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Rubric (instructor only), 2 points.** 1 pt: describes the images: recognisable parts of
# the class (legs and hair of a tarantula, fur/faces of a gorilla, keys of an oboe), repeated
# many times at several positions and scales, no global object layout, saturated colours and
# high-frequency textures; the network is very confident in the class although no human
# would be. 1 pt: interprets: the network has learnt local discriminative patterns and
# textures, not whole objects; without the regularisers the ascent gives adversarial noise
# (as in part 2); the regularisers are priors that decide how "natural" the result looks;
# the image is one of many maximisers, not "the" class prototype.
# ### END SOLUTION

# %% [markdown]
# ## Sweeps (Q9)
# Each row changes one knob around the default settings, with `SWEEP_ITERATIONS` steps (the
# first row changes the number of steps). Same class and seed everywhere: only the knob
# differs. The twelve runs are one batch (in chunks on a small machine); a run that needs
# fewer steps leaves the batch when it is done.

# %%
one_knob = {
    "steps": SWEEP_STEPS,
    "lr": SWEEP_LEARNING_RATES,
    "l2": SWEEP_L2,
    "blur_sigma": SWEEP_BLUR_WIDTHS,  # 0: no blur
}
cells = [{knob: value} for knob, values in one_knob.items() for value in values]
target = targets[0]
grid = sweep(model, target, cells, ncols=3, preset="pixels", steps=SWEEP_ITERATIONS, **SETTINGS)
subtitles = confidence(model, grid.x, grid.target.tolist())
plot.plot_vis_grid(grid, class_names=names, subtitles=subtitles, title="One knob per row")

# %% [markdown]
# The learning rate and the L2 weight act together (the pull towards black is
# `2 * lr * l2` per step): every pair, rows by learning rate, columns by L2 weight.

# %%
grid = sweep(
    model,
    target,
    {"lr": SWEEP_LEARNING_RATES, "l2": SWEEP_L2},
    preset="pixels",
    steps=SWEEP_ITERATIONS,
    **SETTINGS,
)
subtitles = confidence(model, grid.x, grid.target.tolist())
plot.plot_vis_grid(grid, class_names=names, subtitles=subtitles, title="learning rate x L2 weight")

# %% [markdown] nbgrader={"grade": false, "grade_id": "q9_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q9 Try to vary the number of iterations and the learning rate as well as the regularization weight. (1 point)
# Comment on each row of the figure above (and on the blur).

# %% [markdown] nbgrader={"grade": true, "grade_id": "q9", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Rubric (instructor only), 1 point** for a correct reading of each knob: more iterations
# sharpen and multiply the class patterns and raise the confidence, then saturate; a small
# learning rate leaves noise, a large one saturates colours and gives high-frequency
# artefacts; a stronger L2 weight darkens/greys the image and removes the noise but also the
# patterns (too strong: the score cannot grow), none gives noisy saturated images; more blur
# gives smoother, larger-scale patterns, none gives adversarial-like high frequencies. Half a
# point if only two knobs are discussed or without reference to the figure.
# ### END SOLUTION

# %% [markdown]
# ## Starting from a real image (Q10)
# The course images `INIT_IMAGE_INDICES`, each used as `init_img` with its own class as the
# target (one batch): the starts above, the results below.

# %%
data = load_imagenet_val(num=max(INIT_IMAGE_INDICES) + 1)
x0 = data.x[INIT_IMAGE_INDICES].to(device)
y0 = data.y[INIT_IMAGE_INDICES].tolist()
grid = sweep(model, y0, init_img=x0, preset="pixels", steps=NUM_ITERATIONS, **SETTINGS)
before = [f"start, {p}" for p in confidence(model, x0, y0)]
after = [f"after {NUM_ITERATIONS} steps, {p}" for p in confidence(model, grid.x, y0)]
plot.plot_class_vis(
    torch.cat([x0, grid.x]), y0 * 2, class_names=names, subtitles=before + after, ncols=len(y0)
)

# %% [markdown] nbgrader={"grade": false, "grade_id": "q10_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q10 Try to use an image from ImageNet as the source image instead of a random image (parameter `init_img`). You can use the real class as the target class. Comment on the interest of doing this. (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "q10", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Rubric (instructor only), 1 point**: the image keeps its layout while the network
# amplifies the features it associates with the class (DeepDream-like): parts of the object
# are exaggerated and class patterns appear in the background/texture; the confidence rises.
# Interest: shows *which* parts of a real image the network would strengthen (a complement to
# saliency), gives more natural, interpretable results than from noise (the real image acts
# as a prior), reveals biases (context patterns added around the object), and links to
# adversarial examples and DeepDream-style art. Half a point without the interest.
# ### END SOLUTION

# %% [markdown]
# ## Another network: VGG16 (Q11, bonus)
# VGG16's ImageNet weights (528 MB) are downloaded once and cached; with
# `VGG16_WEIGHTS = None` (offline CI and grading machines) the network has random weights and
# the images say nothing about a trained VGG16.

# %%
vgg = load_model("vgg16", weights=VGG16_WEIGHTS)
if VGG16_WEIGHTS is None:
    print(
        "⚠ VGG16 HAS RANDOM WEIGHTS (VGG16_WEIGHTS=None): these images do not show a trained VGG16."
    )
visualise_classes(vgg, VGG_ITERATIONS)

# %% [markdown] nbgrader={"grade": false, "grade_id": "q11_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q11 (bonus) Test with another network, VGG16, for example, and comment on the results. (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "q11", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Rubric (instructor only), 1 bonus point**: compares with SqueezeNet at equal settings:
# VGG16's visualisations usually show cleaner, more detailed and more recognisable patterns
# (larger receptive fields, more capacity), but also need different learning rates/
# regularisation (the same settings do not transfer between networks) and are slower; says
# that with random weights nothing class-specific appears. Zero if random-weight results are
# interpreted as a trained VGG16.
# ### END SOLUTION

# %% [markdown]
# ## Explore
# Choose a class by name, a preset or your own learning rate, L2 weight, blur interval,
# jitter and iterations, and a start (noise or an image); press Run to watch the image form
# (Stop halts it). Every finished run lands in the gallery below, for the comparisons of Q9.

# %%
from netviz_tp.widgets import class_vis_explorer

class_vis_explorer(models=[model, vgg], preset="rdfia", target="tarantula")

# %% [markdown] nbgrader={"grade": false, "grade_id": "explore_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Explore question (1 point)
# With the explorer, find settings that give the most recognisable image of a class of your
# choice. Which knob mattered most, and why?

# %% [markdown] nbgrader={"grade": true, "grade_id": "explore_class_visualization", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Rubric (instructor only), 1 point**: the settings and the class, the image's description,
# and a reason tied to the role of the knob (prior on smoothness, scale, contrast).
# ### END SOLUTION
