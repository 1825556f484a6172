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

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "976bce4a7c331b39f2a60c8b23ae72e6", "grade": false, "grade_id": "title", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Visualizing Neural Networks, part 5: generators as visualisers
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/netviz-tp/netviz-tp/blob/main/notebooks/05_generators/generators.ipynb)
#
# Part 3 optimised *one image* per class. Here we train a *network* that draws them: a
# generator `G` coupled to the frozen classifier `D`, trained only through `D`'s answers
# (nothing adversarial, no data). Two designs from the literature:
#
# - **class-conditional generator** (Karagounis, seed 000): `G(class id)` → image, the label
#   fed at several depths of an up-sampling network, loss $\mathrm{CE}(D(G(c)), c)$;
# - **feature-vector generator** (Despraz et al. 2017, seed 004): a fixed vector of ones
#   with a trainable per-element scale, jittered, decoded into an image; loss
#   $1 - a_i + \lambda \sum_{j \ne i} a_j + R$ on ReLU'd logits, with or without a decoder
#   pre-trained as a denoising autoencoder on natural images.
#
# Then we measure the images the way seed 000 proposes: added to natural images as
# perturbations $x + e V / 255$, how often do they change the prediction (fooling rate) and
# how often do they make it the visualised class (hit rate)?
#
# **Tools.** `netviz_tp.generators`, `featgen` (the networks), `training` (seeded, cached,
# resumable training with a progress bar: re-running a cell loads the trained generator),
# `fooling` (the measure), `plot`, `checks`. Images are pixels in `[0, 1]`.
#
# **Grading.** Code exercises are graded by the test cell that follows them (run it: it prints
# ✔ or tells you what is wrong); written answers are graded by hand. Do not delete, copy or
# move the cells of this notebook.

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
# Every knob of this notebook, sized by the budget chosen by setup(): seconds with
# NETVIZ_TP_FAST=1 (CI and grading), 10 classes on a CPU (minutes), 100 on a GPU.
from netviz_tp.training import BUDGETS

SIZES = BUDGETS[BUDGET.mode]
MODEL = "squeezenet1_1"  # the network we visualise
TRANSFER_MODEL = "efficientnet_lite0"  # a second network for the transfer of the perturbations
CLASSES = ["tench", "goldfish", "tarantula", "gorilla", "oboe", "crib", "harmonica",
           "mosque", "candle", "lawn mower"][: SIZES.classes]  # fmt: skip
CONDITIONAL = SIZES.conditional  # the class-conditional generator's settings
FEATURE = SIZES.feature  # the feature-vector generator, trained from scratch
PRETRAINED = SIZES.pretrained  # ... and with the pre-trained decoder
VIS_STEPS = SIZES.vis_steps  # gradient ascent (part 3), for comparison
UNIVERSAL_STEPS = SIZES.universal_steps  # universal perturbations, the optimised reference
E = SIZES.e  # coefficients of the fooling curve, in grey levels
SEED = 0

# %%
# %matplotlib inline

import torch
import torch.nn.functional as F

from netviz_tp import checks, fooling, plot
from netviz_tp.data import class_index, load_imagenet_val
from netviz_tp.generators import fit_to
from netviz_tp.models import load_model
from netviz_tp.training import pretrain_autoencoder, train_conditional, train_feature

model = load_model(MODEL)
data = load_imagenet_val()
names = data.class_names
targets = [class_index(c) for c in CLASSES]
print(f"{model.name}; classes: {CLASSES}")

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "ea7f552b055eab8c9100a43297593db7", "grade": false, "grade_id": "ex1_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1: one training step of the class-conditional generator (2 points)
#
# `generator(index)` maps positions `index [N]` (0..K-1) to `t [N, 3, S, S]` in `[-1, 1]`
# (a `tanh`); `generator.units[index]` are the class ids those positions stand for. Write
# `generator_step(generator, model, optimizer, index)`: clear the old gradients, map `t` to
# pixels with `(t + 1) / 2`, resize them to the model's input with
# `fit_to(x, model.input_size)`, compute the cross-entropy between the model's **logits** and
# the **class ids**, back-propagate, step the optimizer (which holds the generator's
# parameters only) and return the loss as a float. The classifier stays frozen.


# %% deletable=false nbgrader={"cell_type": "code", "checksum": "18fc9fab1cb38ac58a8a9c615928b659", "grade": false, "grade_id": "ex1_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def generator_step(generator, model, optimizer, index):
    """One update of the class-conditional generator; returns the loss (a float)."""
    # YOUR CODE HERE
    raise NotImplementedError()
    return loss.item()


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "715c495740334e9ca3b72c72674f4957", "grade": true, "grade_id": "ex1_test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Checks generator_step: one update (images (t+1)/2, CE on logits with the class ids, zero_grad, step).
checks.check_generator_step(generator_step)

# %% [markdown]
# ## Training the generator
# The package's loop runs the same update, seeded, with a progress bar; it writes a
# checkpoint now and then, so an interrupted cell resumes where it stopped and a re-run loads
# the trained generator instead of training again. Below: its images, titled with the
# network's confidence, beside part 3's gradient ascent for the same classes. Its stages
# up-sample by "nearest, then a convolution"; `dataclasses.replace(CONDITIONAL,
# upsample="deconv")` builds the paper's deconvolution network instead (compare its images).

# %%
run = train_conditional(model, CLASSES, CONDITIONAL)
generator = run.generator
gen_images = generator.images(size=model.input_size)
ascent = fooling.gradient_ascent_references(model, targets, steps=VIS_STEPS, seed=SEED)
ascent_images = (ascent + 1) / 2
with torch.no_grad():
    p_gen = model(gen_images).softmax(1)[range(len(targets)), targets]
    p_asc = model(ascent_images).softmax(1)[range(len(targets)), targets]
print(f"{len(run.losses)} updates, final loss {run.losses[-1]:.3g}")
plot.plot_class_vis(
    torch.cat([gen_images, ascent_images]),
    targets * 2,
    class_names=names,
    subtitles=[f"generator p = {float(p):.0%}" for p in p_gen]
    + [f"ascent p = {float(p):.0%}" for p in p_asc],
    ncols=len(targets),
)

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "d505f6803932e4493da308bc322695a7", "grade": false, "grade_id": "q16_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q16 What do the generated images show that gradient ascent does not? (1 point)

# %% [markdown] deletable=false nbgrader={"cell_type": "markdown", "checksum": "bd6d834d73111dd435b4981bc8a041ce", "grade": true, "grade_id": "q16", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "0f7985b9fae1ba7c4de8554e1414dec1", "grade": false, "grade_id": "ex2_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2: the fooling curve (2 points)
#
# Write `fooling_curve(model, x, V, target, e)` for one perturbation `V [1, 3, H, W]`
# (`max |V| = 1`) that visualises class `target`: for each coefficient `c` of the list `e`,
# classify `clamp(x + c * V / 255, 0, 1)` and return two lists, one value per coefficient:
# the **fooling rate** (fraction of images whose prediction differs from their *clean*
# prediction) and the **hit rate** (fraction predicted as `target`). No gradients needed.


# %% deletable=false nbgrader={"cell_type": "code", "checksum": "c24aa0301515068bbbb5670d0fcfd12c", "grade": false, "grade_id": "ex2_curve", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fooling_curve(model, x, V, target, e):
    """(fooling rates, hit rates) of clamp(x + c V / 255) for each c in e."""
    fooled, hit = [], []
    # YOUR CODE HERE
    raise NotImplementedError()
    return fooled, hit


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "e3aaf5a681d8eba2fc42c170219926b8", "grade": true, "grade_id": "ex2_test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Checks fooling_curve: e/255 scaling, clamping, fooled = differs from the clean prediction, hits = the target.
checks.check_fooling_curve(fooling_curve)

# %% [markdown]
# ## Measuring the visualisations (Q17)
# The 13 last course images (none of them was used to make any perturbation) under each
# class's perturbation, averaged over classes: the generator's images, part 3's gradient
# ascent, two floors (random signs: the largest perturbation an L-inf budget allows; the
# generator's images with their pixels shuffled: the same values, no structure) and a
# reference that was *optimised* to fool: one targeted universal perturbation per class
# trained on the 12 first course images. Then the same perturbations on a second network.

# %%
x_train, x_test = data.x[:12], data.x[12:]
references = {
    "generator": fooling.as_perturbation(gen_images),
    "gradient ascent": ascent,
    "sign noise": fooling.sign_noise(ascent, seed=SEED),
    "shuffled generator": fooling.shuffled(fooling.as_perturbation(gen_images), seed=SEED),
    "universal": fooling.universal_references(model, x_train, targets, steps=UNIVERSAL_STEPS),
}
curves = [
    fooling.fooling_curve(model, x_test, v, targets, e=E, name=k) for k, v in references.items()
]
transfer_model = load_model(TRANSFER_MODEL)
curves += [fooling.fooling_curve(transfer_model, x_test, references[k], targets, e=E, name=k)
           for k in ("generator", "sign noise")]  # fmt: skip
for curve in curves:
    if 10 in curve.e and 35 in curve.e:
        (f10, h10), (f35, h35) = curve.at(10), curve.at(35)
        print(f"{curve.name:>20} on {curve.model}: FR(10) {f10:.2f} FR(35) {f35:.2f} | "
              f"hit(10) {h10:.2f} hit(35) {h35:.2f}")  # fmt: skip
plot.plot_fooling_curves(curves, title="paper (VGG16): FR(10) = 0.30, FR(35) = 0.945")

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "5711533779309b802c3292fa691bdd85", "grade": false, "grade_id": "q17_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q17 What does the fooling curve measure, and what does it not? Is fooling evidence of a good visualisation? (1 point)

# %% [markdown] deletable=false nbgrader={"cell_type": "markdown", "checksum": "cd63ef9542772b9be7479ce519b2ea46", "grade": true, "grade_id": "q17", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown]
# ## The feature-vector generator (Q18, Q19)
# One image per objective: a class, two classes at once, a filter of `features.9` (a Fire
# module); first with a generator trained from scratch (AdaMax, L1 on the output batch-norm
# scales), then with the decoder of a denoising autoencoder pre-trained on the course images
# and photos (only the scale vector trains: SGD with Nesterov momentum, L2 on the scales; the
# image is the pixel-wise median of the last snapshots).

# %%
objectives = [
    (["crib"], None),
    (["tench"], None),
    (["goldfish", "candle"], None),
    ([7], "features.9"),
]
decoder = pretrain_autoencoder(settings=PRETRAINED).generator.decoder
shown, titles = [], []
for kind, settings, frozen in (("from scratch", FEATURE, None),
                               ("pre-trained decoder", PRETRAINED, decoder)):  # fmt: skip
    for units, layer in objectives:
        r = train_feature(model, units, settings, layer=layer, decoder=frozen)
        shown.append(fit_to(r.extra["image"], model.input_size))
        what = f"filter {units[0]} of {layer}" if layer else " + ".join(units)
        titles.append(f"{kind}\n{what}")
plot.plot_images(torch.cat(shown), titles, ncols=len(objectives))

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "d725f9c491efd92c3c606c30ad521dfa", "grade": false, "grade_id": "q18_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q18 What does the pre-trained decoder change? (1 point)

# %% [markdown] deletable=false nbgrader={"cell_type": "markdown", "checksum": "d0a1864cc7bb7e4aec64dcb02253a09e", "grade": true, "grade_id": "q18", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "75a37feeabb24b51ad195a8af1e8c255", "grade": false, "grade_id": "q19_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q19 Dataset biases: Despraz et al. report babies in their "crib" images and fingers in "tench" (fishermen hold the fish). What do you see in yours, and what would such content tell you about the training data? (1 point)

# %% [markdown] deletable=false nbgrader={"cell_type": "markdown", "checksum": "e3caa9c338f4ef2f770a333d0ada9aca", "grade": true, "grade_id": "q19", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown]
# ## Explore
# Choose a class by name and a generator kind; the slider sets the coefficient e: the
# explorer shows the course image plus e·V and the network's prediction, beside the curves.

# %%
from netviz_tp.widgets import generator_explorer

kinds = {
    "class-conditional": (references["generator"], targets),
    "gradient ascent": (references["gradient ascent"], targets),
}
generator_explorer(model, data.x, kinds, curves=curves)

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "fb945cec61f7e8baa1b47a85ac475549", "grade": false, "grade_id": "explore_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Explore question (1 point)
# Find the smallest e at which one course image of your choice takes the visualised class.
# Is the perturbation visible at that e?

# %% [markdown] deletable=false nbgrader={"cell_type": "markdown", "checksum": "ee673b2fcc4f517826429fd5331d5f22", "grade": true, "grade_id": "explore_generators", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE
