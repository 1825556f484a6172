# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "835496e286379444e4a82186267d5655", "grade": false, "grade_id": "title", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Visualizing Neural Networks, part 1: saliency maps
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/netviz-tp/netviz-tp/blob/main/notebooks/01_saliency/saliency.ipynb)
#
# RDFIA practical 3-b, section 1 (questions 1 to 4). A network $f$ maps an image $x$ to one
# score $\tilde y_i = f_i(x)$ per class. Near an image, Simonyan et al. (2014) approximate the
# score by a linear function, $f_i(x) \approx w_i^\top x + b_i$ with
# $w_i = \partial \tilde y_i / \partial x$: the pixels where $|w_i|$ is large are those whose
# change moves the score most. The **saliency map** keeps, for each pixel, the largest
# $|w_i|$ over the three colour channels.
#
# **Goals.** Implement the saliency map (autograded), look at it for a trained SqueezeNet,
# discuss what it shows and what it does not, and compare with VGG16.
#
# **Tools.** The helper package `netviz_tp` loads the network (`netviz_tp.models`) and the
# course images (`netviz_tp.data`), plots (`netviz_tp.plot`) and checks your code
# (`netviz_tp.checks`). Images are float tensors `[N, 3, H, W]` of pixels in `[0, 1]`; the
# model normalises them itself.
#
# **Grading.** Code exercises are graded by the test cell that follows them (run it: it prints
# ✔ or tells you what is wrong); written answers are graded by hand. Do not delete, copy or
# move the cells of this notebook; write in the cells marked `YOUR ANSWER HERE` / `YOUR CODE
# HERE`. Questions marked ★ are worth double.

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
N_IMAGES = BUDGET.n_images  # course images per figure (at most 25)
SMOOTHGRAD_SAMPLES = BUDGET.smoothgrad_samples  # noisy copies per image for SmoothGrad (Q2)
LOCALISATION_QUANTILE = 0.95  # Q3: keep the 5% most salient pixels
VGG16_WEIGHTS = BUDGET.vgg16_weights  # "imagenet" (528 MB, cached) or None: random weights

# %%
# %matplotlib inline
import torch

from netviz_tp import checks, plot
from netviz_tp.data import load_imagenet_val
from netviz_tp.models import load_model, top_k
from netviz_tp.validate import device_of

model = load_model(MODEL)
device = device_of(model)
data = load_imagenet_val(num=N_IMAGES)
x, y, names = data.x.to(device), data.y.to(device), data.class_names
probs, pred = top_k(model, x, k=1)
print(
    f"{model.name} on {device}: {int((pred[:, 0] == y).sum())}/{len(y)} images correctly classified"
)
plot.plot_images(x, [plot.short_name(c, names) for c in y], title="Course images (true class)")

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "2e3aecc558edfcd894b6607b1dbd1baa", "grade": false, "grade_id": "ex1_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1: the saliency map (3 points)
#
# Write `compute_saliency_maps(X, y, model)`: for each image `X[i]` (pixels in `[0, 1]`),
# the gradient of the **score** (logit, before the softmax) of its class `y[i]` with respect
# to the pixels, then for each pixel the maximum over the colour channels of its absolute
# value. Use one forward and one backward pass for the whole batch (the scores of different
# images do not depend on each other, so you can differentiate their sum). Do not modify `X`
# and do not call `netviz_tp`'s own saliency functions: the test checks both.
#
# *Shapes:* `X [N, 3, H, W]`, `y [N]` (long) → `[N, H, W]`, non-negative.


# %% deletable=false nbgrader={"cell_type": "code", "checksum": "d26aaa5c346290e71caacbbd4f0775a5", "grade": false, "grade_id": "ex1_saliency", "locked": false, "schema_version": 3, "solution": true, "task": false}
def compute_saliency_maps(X, y, model):
    """Saliency maps max_c |d score_y / d X| of a batch of images (Simonyan et al. 2014)."""
    # YOUR CODE HERE
    raise NotImplementedError()
    return saliency


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "0d5c9d03ec349c4b0651e69b7ccc0eb6", "grade": true, "grade_id": "ex1_test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Checks compute_saliency_maps: shape [N, H, W], X unchanged, equal to max_c |d score_y/dX| (a tiny CNN).
checks.check_saliency(compute_saliency_maps)

# %% [markdown]
# Your maps for the course images, for their **true** class (middle row) and blended over the
# image (bottom row). Titles give the true class and the network's prediction.

# %%
heat = compute_saliency_maps(x, y, model)
plot.plot_saliency(
    x,
    heat,
    labels=y,
    preds=pred[:, 0],
    probs=probs[:, 0],
    class_names=names,
    with_overlay=True,
    title=f"Saliency of the true class ({model.name})",
)

# %% [markdown]
# Where the network is wrong, the map of its **predicted** class tells what it used instead.

# %%
heat_pred = compute_saliency_maps(x, pred[:, 0], model)
plot.plot_saliency(
    x,
    heat_pred,
    labels=y,
    preds=pred[:, 0],
    probs=probs[:, 0],
    class_names=names,
    title="Saliency of the predicted class",
)

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "b6f3222dc698ba33ee8b0d030438df97", "grade": false, "grade_id": "q1_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q1 ★ Show and interpret the obtained results. (2 points)
# Refer to the figures above: which pixels light up, for which images, and what does that say
# about what the network uses? Compare correct and wrong predictions.

# %% [markdown] deletable=false nbgrader={"cell_type": "markdown", "checksum": "35d3cb283d1922bd24b0086ebffe3508", "grade": true, "grade_id": "q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown]
# ## Limits of the gradient (Q2)
# Two experiments to feed your answer. **SmoothGrad** (Smilkov et al. 2017) averages the
# gradient over noisy copies of the image: if the maps were a stable explanation, averaging
# would change little. The **randomisation test** (Adebayo et al. 2018) computes the same map
# with a network whose weights are random: a map that still looks like the image tells more
# about the image (its edges) than about what the network learnt.

# %%
from netviz_tp.saliency import smoothgrad

smooth = smoothgrad(model, x, y, n_samples=SMOOTHGRAD_SAMPLES)
random_net = load_model(MODEL, weights=None)
heat_random = compute_saliency_maps(x, y, random_net)
maps = torch.cat([heat, smooth, heat_random])
plot.plot_saliency(
    x.repeat(3, 1, 1, 1),
    maps,
    title="Vanilla | SmoothGrad | vanilla with random weights (one block each)",
)

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "a03a8a64531294180d435265f2dba127", "grade": false, "grade_id": "q2_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q2 Discuss the limits of this technique of visualizing the impact of different pixels. (1 point)

# %% [markdown] deletable=false nbgrader={"cell_type": "markdown", "checksum": "306285b2fbd3c454e16a57c49f20a28a", "grade": true, "grade_id": "q2", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown]
# ## Another use (Q3)
# Simonyan et al. use the maps for **weakly supervised localisation**: the network was trained
# with image labels only, yet thresholding the map gives a rough mask of the object (they
# refine it with GraphCut). Below, the most salient pixels (above the
# `LOCALISATION_QUANTILE` quantile of each map) and the box around them.

# %%
heat = compute_saliency_maps(x, y, model)
threshold = heat.flatten(1).quantile(LOCALISATION_QUANTILE, dim=1).view(-1, 1, 1)
mask = heat >= threshold
frame = torch.zeros_like(mask)
for i, m in enumerate(mask):  # the smallest box holding the most salient pixels
    rows, cols = m.nonzero(as_tuple=True)
    r0, r1, c0, c1 = int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())
    frame[i, r0 : r1 + 1, [c0, c1]] = True
    frame[i, [r0, r1], c0 : c1 + 1] = True
red = torch.tensor([1.0, 0.0, 0.0], device=device).view(1, 3, 1, 1)
boxed = torch.where(frame[:, None], red, x)
plot.plot_saliency(boxed, mask.float(), title="Thresholded saliency: a box around the object")

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "fd721daee6f32273bc1305c69e46913d", "grade": false, "grade_id": "q3_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q3 Can this technique be used for a different purpose than interpreting the network? (1 point)

# %% [markdown] deletable=false nbgrader={"cell_type": "markdown", "checksum": "a04ee68c970b47a0c050744b3bbe9adc", "grade": true, "grade_id": "q3", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown]
# ## Another network: VGG16 (Q4, bonus)
# VGG16 (Simonyan & Zisserman 2015) is deeper and 100 times larger than SqueezeNet. Its
# ImageNet weights (528 MB) are downloaded once and cached; `VGG16_WEIGHTS = None` uses
# random weights (the graders' and CI's offline machines do that): the maps then say nothing
# about a trained VGG16.

# %%
vgg = load_model("vgg16", weights=VGG16_WEIGHTS)
if VGG16_WEIGHTS is None:
    print(
        "⚠ VGG16 HAS RANDOM WEIGHTS (VGG16_WEIGHTS=None): these maps do not show a trained VGG16."
    )
vgg_probs, vgg_pred = top_k(vgg, x, k=1)
print(
    f"VGG16: {int((vgg_pred[:, 0] == y).sum())}/{len(y)} correct; {model.name}: "
    f"{int((pred[:, 0] == y).sum())}/{len(y)}"
)
heat_vgg = compute_saliency_maps(x, y, vgg)
plot.plot_saliency(
    x.repeat(2, 1, 1, 1),
    torch.cat([heat, heat_vgg]),
    title=f"{model.name} (first block) vs VGG16 (second block), true class",
)

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "f6348c3a7927b3a827a977d6ae517de7", "grade": false, "grade_id": "q4_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q4 (bonus) Test with a different network, for example VGG16, and comment. (1 point)

# %% [markdown] deletable=false nbgrader={"cell_type": "markdown", "checksum": "c3723140a07d8416afb85551ead3fefa", "grade": true, "grade_id": "q4", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown]
# ## Explore
# Pick an image (or upload your own), the class to explain (true, predicted, or any class by
# name), the network and the method; the map, its overlay and the top-5 predictions update.

# %%
from netviz_tp.widgets import saliency_explorer

saliency_explorer(models=[model, vgg, "efficientnet_lite0"])

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "1f8945a42e980adcad2be4909a2ecbfa", "grade": false, "grade_id": "explore_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Explore question (1 point)
# With the explorer, find an image and a method for which the map is misleading or
# surprising. Say which setting shows it and why you think it happens.

# %% [markdown] deletable=false nbgrader={"cell_type": "markdown", "checksum": "0f19037fba58787766418deb3f684be1", "grade": true, "grade_id": "explore_saliency", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE
