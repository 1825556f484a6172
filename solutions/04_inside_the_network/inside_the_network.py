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
# # Visualizing Neural Networks, part 4: inside the network
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/netviz-tp/netviz-tp/blob/main/notebooks/04_inside_the_network/inside_the_network.ipynb)
#
# After the input gradient (part 1), the adversarial examples (part 2) and the images a class
# prefers (part 3), we look **inside** the network, as the "CNN Visualizer" thesis does
# (questions 12 to 15):
#
# - **Grad-CAM** (Selvaraju et al. 2017): which region of the image the class's evidence comes
#   from, at the resolution of the last convolutional maps;
# - **occlusion**: cover that region and see whether the network changes its mind, against a
#   random region of the same area;
# - **average activations**: the output maps of every convolution and linear layer, averaged
#   over two groups of images (an image and its adversarial version, or two classes), and
#   their difference filter by filter, to see where the two part ways.
#
# We use SqueezeNet 1.1 (the course's network), VGG16, a ResNet-18 and the thesis's small
# MNIST network, which the kit trains in under a minute.
#
# **Tools.** `netviz_tp.hooks.capture` records layer outputs and their gradients;
# `netviz_tp.cam`, `netviz_tp.occlusion`, `netviz_tp.activations` and `netviz_tp.mnist` hold
# the methods; `netviz_tp.plot` and `netviz_tp.plot_activations` the figures. Images are
# float tensors `[N, C, H, W]` of pixels in `[0, 1]`; the models normalise them themselves.
#
# **Grading.** Code exercises are graded by the test cell that follows them (run it: it prints
# ✔ or tells you what is wrong); written answers are graded by hand. Do not delete, copy or
# move the cells of this notebook; write in the cells marked `YOUR ANSWER HERE` / `YOUR CODE
# HERE`. Questions marked ★ are worth double.

# %% [markdown]
# ## Setup
# On Colab this installs `netviz_tp` (once per session). It notices a missing GPU and then
# reduces the sizes of the `parameters` cell below.

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
CAM_LAYER = "features.12"  # SqueezeNet's last Fire module (13x13 maps)
N_IMAGES = BUDGET.n_images  # course images per figure (at most 25)
N_CLASS_IMAGES = BUDGET.n_class_images  # course images split by predicted class
CAM_THRESHOLD = 0.5  # the occluded region: Grad-CAM >= this fraction of its maximum
OCCLUSION_RANDOM = BUDGET.occlusion_random  # random regions of the same area per image
NORM_ORD = 2  # the norm ranking the filter differences: 1, 2 or float("inf")
EPS = 2 / 255  # FGSM budget on ImageNet images (pixel units)
VGG16_WEIGHTS = BUDGET.vgg16_weights  # "imagenet" (528 MB, cached) or None: random weights
OTHER_MODEL = "resnet18"  # another torchvision network
OTHER_WEIGHTS = BUDGET.vgg16_weights  # "imagenet" (45 MB, cached) or None: random weights
MNIST_EPOCHS = BUDGET.mnist_epochs  # 10: the kit's checkpoint (>= 97% on held-out digits)
N_DIGITS = BUDGET.n_digits  # held-out digits attacked
MNIST_EPS = 0.2  # the thesis's FGSM budget on MNIST

# %%
# %matplotlib inline
import torch
import torch.nn.functional as F

from netviz_tp import checks, plot
from netviz_tp.data import load_imagenet_val
from netviz_tp.hooks import capture
from netviz_tp.image import overlay
from netviz_tp.models import load_model, top_k
from netviz_tp.validate import device_of

model = load_model(MODEL)
device = device_of(model)
data = load_imagenet_val(num=max(N_IMAGES, N_CLASS_IMAGES))
x_all, y_all, names = data.x.to(device), data.y.to(device), data.class_names
x, y = x_all[:N_IMAGES], y_all[:N_IMAGES]
probs, pred = top_k(model, x, k=5)
print(
    f"{model.name} on {device}: {int((pred[:, 0] == y).sum())}/{len(y)} images correctly classified"
)

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1: Grad-CAM (3 points)
#
# Write `grad_cam(model, x, target, layer)`. With $A^k$ the maps of channel $k$ of `layer`
# (shape `[N, K, h, w]`) and $y^c$ the **score** (logit, before the softmax) of class
# $c$ = `target[i]`:
#
# 1. the weight of each channel is its gradient averaged over space,
#    $\alpha_k^c = \frac{1}{hw}\sum_{i,j} \partial y^c / \partial A^k_{ij}$ (Eq. 1);
# 2. the map is $\mathrm{ReLU}(\sum_k \alpha_k^c A^k)$ (Eq. 2), shape `[N, h, w]`;
# 3. upsample it to the input size with
#    `F.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)`.
#
# `capture(model, layer, grads=True)` records the layer's output and, after a backward pass,
# its gradient: `rec.activations[layer]`, `rec.gradients[layer]`. Do not call
# `netviz_tp.cam`: the test checks it.
#
# *Shapes:* `x [N, C, H, W]`, `target [N]` (long) → `[N, H, W]`, non-negative.


# %% nbgrader={"grade": false, "grade_id": "ex1_grad_cam", "locked": false, "schema_version": 3, "solution": true, "task": false}
def grad_cam(model, x, target, layer):
    """Grad-CAM maps of the classes ``target`` at ``layer`` (Selvaraju et al. 2017)."""
    ### BEGIN SOLUTION
    with capture(model, layer, grads=True) as rec:
        model(x).gather(1, target.view(-1, 1)).sum().backward()
    maps = rec.activations[layer].detach()  # [N, K, h, w]
    alpha = rec.gradients[layer].mean(dim=(2, 3))  # Eq. 1: [N, K]
    cam = torch.relu((alpha[:, :, None, None] * maps).sum(dim=1))  # Eq. 2: [N, h, w]
    size = x.shape[-2:]
    heat = F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    ### END SOLUTION
    return heat


# %% nbgrader={"grade": true, "grade_id": "ex1_test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Checks grad_cam: shape [N, H, W], x unchanged, ReLU of the space-averaged gradient weights times the maps (a tiny CNN).
checks.check_grad_cam(grad_cam)
### BEGIN HIDDEN TESTS
checks.check_grad_cam(grad_cam, seed=1)
checks.check_grad_cam(grad_cam, model, x[:2], y[:2], layer=CAM_LAYER, tol=1e-3)
### END HIDDEN TESTS

# %% [markdown]
# Grad-CAM of the five most probable classes of the first image (titles: class and
# probability), then the true class of every image beside its saliency map (part 1).

# %%
first = x[:1].expand(5, -1, -1, -1)
heat5 = grad_cam(model, first, pred[0], CAM_LAYER)
titles = [
    f"{plot.short_name(c, names)} ({float(p):.0%})" for c, p in zip(pred[0], probs[0], strict=True)
]
plot.plot_images(
    torch.from_numpy(overlay(first, heat5)).permute(0, 3, 1, 2),
    titles,
    title="Grad-CAM of the top-5 classes",
)

# %%
from netviz_tp.saliency import saliency

heat_true = grad_cam(model, x, y, CAM_LAYER)
plot.plot_saliency(
    x.repeat(2, 1, 1, 1),
    torch.cat([saliency(model, x, y), heat_true]),
    with_overlay=True,
    title="Saliency (first block) and Grad-CAM (second block) of the true class",
)

# %% [markdown] nbgrader={"grade": false, "grade_id": "q12_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q12 Compare Grad-CAM with the saliency map of part 1. What does each show, and when would you use which? (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "q12", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Rubric (instructor only), 1 point.** Saliency is the input gradient: pixel-level, grainy,
# sensitive to edges, a local sensitivity of the score, weakly class-discriminative (maps of
# different classes look alike). Grad-CAM works at the last conv layer: coarse (13x13
# upsampled: blobs, not outlines), smooth, and class-discriminative (the top-5 maps move to
# different parts). Use Grad-CAM to ask *where* the evidence for a class is, saliency (or
# Guided Grad-CAM, their product) for fine detail. Half a point for a correct description
# without the class-discriminative / resolution argument.
# ### END SOLUTION

# %% [markdown]
# ## Occlusion: does the Grad-CAM region matter?
# The thesis covers the region Grad-CAM marks and sees VGG16 change its answer. Here the region
# is where the Grad-CAM map of the true class reaches `CAM_THRESHOLD` of its maximum; it is
# filled with the network's mean colour (what the network sees as a zero input). The control
# covers the same region moved to `OCCLUSION_RANDOM` random places (same area, same shape).

# %%
from netviz_tp.occlusion import occlusion_experiment

occ = occlusion_experiment(
    model, x, y, threshold=CAM_THRESHOLD, n_random=OCCLUSION_RANDOM, layer=CAM_LAYER
)
print(
    f"Grad-CAM region ({float(occ.area.mean()):.0%} of the image on average): probability of "
    f"the true class drops by {float(occ.drop.mean()):.2f} on average, by "
    f"{float(occ.control_drop.mean()):.2f} for a random region; the Grad-CAM region hurts "
    f"more for {int(occ.beats_control.sum())} of {len(y)} images; the prediction changes for "
    f"{int((occ.pred_occluded != occ.pred).sum())} (random: "
    f"{int((occ.pred_control != occ.pred).sum())})"
)
plot.plot_occlusion(x, occ, class_names=names)

# %% [markdown] nbgrader={"grade": false, "grade_id": "q13_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q13 What does occluding the Grad-CAM region do, compared with a random region of the same area? What does this tell about Grad-CAM, and what does it not prove? (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "q13", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Rubric (instructor only), 1 point.** With numbers from the run: covering the Grad-CAM
# region lowers the true class's probability much more than a random region of the same area
# (on the 25 course images with SqueezeNet about 0.36 against 0.09, 24 of 25 images), and often
# changes the prediction, sometimes to a close class (the thesis's springer spaniel). So the
# region does carry evidence the network uses: a faithfulness test of the map. It does not
# prove the network "understands" the object: the fill creates an unnatural patch (out of
# distribution), the evidence can be redundant (prediction kept), a random region can hit the
# object too, and the threshold and fill colour change the numbers. Half a point for the
# observation without the caveats.
# ### END SOLUTION

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2: group means and ranked filter differences (3 points)
#
# For one layer, `acts_a [Na, K, h, w]` and `acts_b [Nb, K, h, w]` are the output maps of
# the images of groups A and B. Write `ranked_differences(acts_a, acts_b, ord)` returning
#
# - `delta [K, h, w]`: the mean map of each filter over group A minus that over group B;
# - `norms [K]`: the **vector** norm of order `ord` (1, 2 or inf) of each flattened
#   `delta[k]` (not the matrix norm of the `h x w` map: for `ord=2` that would be its largest
#   singular value);
# - `ranking [K]`: the filter indices by decreasing norm (`ranking[0]` differs most).
#
# Do not call `netviz_tp.activations`: the test checks it.


# %% nbgrader={"grade": false, "grade_id": "ex2_ranked", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ranked_differences(acts_a, acts_b, ord=2):
    """Group means' difference per filter, its vector norm, filters by decreasing norm."""
    ### BEGIN SOLUTION
    delta = acts_a.mean(dim=0) - acts_b.mean(dim=0)
    norms = torch.linalg.vector_norm(delta.flatten(1), ord=ord, dim=1)
    ranking = torch.argsort(norms, descending=True)
    ### END SOLUTION
    return delta, norms, ranking


# %% nbgrader={"grade": true, "grade_id": "ex2_test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Checks ranked_differences: delta = mean_A - mean_B, vector norms of the flattened maps, filters by decreasing norm.
checks.check_ranked_differences(ranked_differences)
### BEGIN HIDDEN TESTS
checks.check_ranked_differences(ranked_differences, ord=1, seed=1)
checks.check_ranked_differences(ranked_differences, ord=float("inf"), seed=2)
with torch.no_grad(), capture(model, "features.3.expand3x3") as rec_test:
    model(x_all[:2])
acts_test = rec_test.activations["features.3.expand3x3"].relu().cpu()
checks.check_ranked_differences(ranked_differences, acts_test[:1], acts_test[1:2])
### END HIDDEN TESTS

# %% [markdown]
# ## An image and its adversarial version, layer by layer
# FGSM (part 2) with budget `EPS` changes the prediction of the first image. The package's
# comparison of every conv layer (`netviz_tp.activations`, batch by batch with a running
# mean) shows the filter of the first layer that differs most; then your function on that
# layer (`features.0`, after its ReLU) should rank the filters alike.

# %%
from netviz_tp.activations import compare_activations, compare_classes
from netviz_tp.attacks import fgsm
from netviz_tp.plot_activations import (
    plot_activation_histogram,
    plot_filter_comparison,
    plot_norm_summary,
)

x0, y0 = x[:1], y[:1]
adv = fgsm(model, x0, y0, eps=EPS, targeted=False)
print(
    f"FGSM eps {EPS * 255:.0f}/255: {plot.short_name(y0[0], names)} -> "
    f"{plot.short_name(adv.pred[0], names)}"
)
comp = compare_activations(model, x0, adv.x_adv, ord=NORM_ORD, labels=("image", "adversarial"))
plot_filter_comparison(comp, "features.0", rank=0)

# %%
with torch.no_grad(), capture(model, "features.0") as rec:
    model(torch.cat([x0, adv.x_adv]))
acts = rec.activations["features.0"].relu().cpu()
delta, norms, ranking = ranked_differences(acts[:1], acts[1:], NORM_ORD)
print(
    "your top-5 filters of features.0:",
    ranking[:5].tolist(),
    "| the package's:",
    comp["features.0"].ranking[:5].tolist(),
)

# %%
plot_norm_summary(comp)

# %%
plot_activation_histogram(comp, len(comp) - 2, rank=0, log=True)

# %% [markdown]
# **Classes mode**: the `N_CLASS_IMAGES` course images split by their predicted class, the
# two most frequent predictions compared (with few images, a class may hold one image only).

# %%
by_class = compare_classes(model, x_all[:N_CLASS_IMAGES], ord=NORM_ORD, class_names=names)
print(f"classes {by_class.labels} with {by_class.counts} images")
plot_norm_summary(by_class)

# %% [markdown]
# ## Other networks
# VGG16 (13 conv layers then 3 linear ones, shown as near-square grids) and a ResNet-18.
# Offline (CI, grading) their weights are **random**, which the next cell says loudly: the
# curves then show an untrained network.

# %%
from IPython.display import display

others = {}
for name, weights in (("vgg16", VGG16_WEIGHTS), (OTHER_MODEL, OTHER_WEIGHTS)):
    net = load_model(name, weights=weights)
    if weights is None:
        print(f"⚠ {name.upper()} HAS RANDOM WEIGHTS (weights=None): not a trained network.")
    net_adv = fgsm(net, x0, y0, eps=EPS, targeted=False)
    others[name] = compare_activations(
        net, x0, net_adv.x_adv, ord=NORM_ORD, labels=("image", "adversarial")
    )
    display(plot_norm_summary(others[name], title=f"{name}: image vs adversarial"))
plot_filter_comparison(others["vgg16"], -1, title="VGG16's logits (1000 = 25 x 40 grid)")

# %% [markdown]
# ## The thesis's MNIST network
# conv 32 → pool → conv 64 → conv 64 → pool → dense 100 → dense 10 (159,254 weights), trained
# by the kit on 4,000 digits and cached; it is tested on 1,000 others. FGSM with the thesis's
# budget 0.2, then Grad-CAM (at `relu3`, the last conv's rectified maps) of the true and the
# new class, and the comparison of a digit with its adversarial version.

# %%
from netviz_tp import mnist

digit_net = mnist.mnist_cnn(epochs=MNIST_EPOCHS).to(device)
digits = mnist.load_digits("test")
dx, dy = digits.x[:N_DIGITS].to(device), digits.y[:N_DIGITS].to(device)
print(
    f"MNIST network ({MNIST_EPOCHS} epochs): {mnist.accuracy(digit_net, digits):.1%} of the "
    "1,000 held-out digits right"
)
digit_adv = fgsm(digit_net, dx, dy, eps=MNIST_EPS, targeted=False)
print(
    f"FGSM eps {MNIST_EPS}: the prediction changes for "
    f"{float(digit_adv.success.float().mean()):.0%} of {len(dy)} digits"
)
i = int(digit_adv.success.nonzero()[0]) if digit_adv.success.any() else 0
pair = torch.cat([dx[i : i + 1], digit_adv.x_adv[i : i + 1]])
true_new = torch.stack([dy[i], digit_adv.pred[i]])
heat_pair = torch.cat(
    [grad_cam(digit_net, pair, true_new[k].expand(2), mnist.CAM_LAYER) for k in range(2)]
)
plot.plot_saliency(
    pair.repeat(2, 1, 1, 1),
    heat_pair,
    with_overlay=True,
    title=f"Grad-CAM of {int(dy[i])} (first pair) and of {int(digit_adv.pred[i])} (second pair)",
)

# %%
digit_comp = compare_activations(
    digit_net, pair[:1], pair[1:], ord=NORM_ORD, labels=("digit", "adversarial")
)
display(plot_filter_comparison(digit_comp, "conv1"))
plot_norm_summary(digit_comp)

# %% [markdown] nbgrader={"grade": false, "grade_id": "q14_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q14 ★ Where do the activations of two images (or two classes) diverge first, and what does that say about where the network "decides"? (2 points)
# Use the summary curves (SqueezeNet, VGG16 or ResNet-18, and classes mode) and the filter
# views.

# %% [markdown] nbgrader={"grade": true, "grade_id": "q14", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Rubric (instructor only), 2 points.** 1 pt: reads the curves correctly: for two different
# images (or classes) the maps differ from the first layer on (different pixels), but early
# differences are about local content (edges, colours: the means look like the images) while
# deep layers differ in *which* filters fire (the thesis: images of the same class activate
# overlapping filters deep down, different classes different ones); norms are not comparable
# across layers of different sizes without normalising (say so). 1 pt: interprets: there is no
# single layer where the network "decides": the class emerges gradually and becomes readable
# only in the last layers (the logits grid shows one bright unit), and fully connected layers'
# grids look like noise (their units have no spatial order). Half a point off for claiming a
# decision layer from one curve, or for ignoring random weights when offline.
# ### END SOLUTION

# %% [markdown] nbgrader={"grade": false, "grade_id": "q15_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q15 What does an adversarial perturbation do to the activations, layer by layer? Compare the ImageNet network (eps 2/255) with the MNIST network (eps 0.2). (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "q15", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Rubric (instructor only), 1 point.** The perturbation is spread over the whole image, so
# the first layer's difference map is noise everywhere (the thesis's Fig. 6.9), small compared
# with the activations for 2/255; the difference does not die out with depth, it is amplified
# and concentrated into a few filters until the top class's units change (the summary curve
# rises towards the end, relative to the layer's size). On MNIST, eps 0.2 is a visible grey
# haze: the first layer's maps differ a lot on the background, and Grad-CAM of the new class
# lights up where the haze built its strokes. Half a point for the description without the
# amplification argument.
# ### END SOLUTION

# %% [markdown]
# ## Explore
# Choose images or classes mode, the network and the norm; slide through the layers and the
# filters (ranked by their difference); show the layer's mean difference, the summary curve or
# the histogram. The Grad-CAM tab shows the top-5 classes (or any class by name), and one click
# sends an image and its FGSM version into the comparison.

# %%
from netviz_tp.widgets import activations_explorer

activations_explorer(models=[model, "efficientnet_lite0"])

# %% [markdown] nbgrader={"grade": false, "grade_id": "explore_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Explore question (1 point)
# With the explorer, find a layer and a filter where an image and its adversarial version (or
# two classes) clearly differ, and one where they do not. Say which, and what you conclude.

# %% [markdown] nbgrader={"grade": true, "grade_id": "explore_activations", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Rubric (instructor only), 1 point**: two observations made with the explorer (layer,
# filter rank, mode), with one sentence of interpretation.
# ### END SOLUTION
