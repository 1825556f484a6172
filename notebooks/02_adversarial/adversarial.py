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

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "fa40f3989a058d9fe09649621cf721b7", "grade": false, "grade_id": "title", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Visualizing Neural Networks, part 2: adversarial examples
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/netviz-tp/netviz-tp/blob/main/notebooks/02_adversarial/adversarial.ipynb)
#
# RDFIA practical 3-b, section 2 (questions 5 to 7). Szegedy et al. (2014) showed that a tiny,
# well-chosen change of a correctly classified image can make a network predict any class we
# like. The course's rule is gradient ascent on the score $\tilde y_j$ of the target class
# $j$, with a normalised step: $x \leftarrow x + \eta\, g / \|g\|_2$ with
# $g = \partial \tilde y_j / \partial x$, repeated until the prediction is $j$.
#
# **Goals.** Implement the course's fooling images (autograded), look at how small the
# change is, then implement and compare two standard attacks, FGSM (Goodfellow et al. 2015)
# and PGD (Madry et al. 2018), which bound the change of every pixel.
#
# **Tools.** `netviz_tp.models`, `netviz_tp.data`, `netviz_tp.plot`, `netviz_tp.checks`.
# Images are pixels in `[0, 1]` (the model normalises them), so budgets are in grey levels:
# `eps = 8/255` lets each pixel move by 8 levels out of 255.
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
IMAGE_INDEX = 1  # the course image to fool (1: a quail)
TARGETS = ["stingray", "bee eater", "desk"][: max(1, BUDGET.n_images // 2)]  # target classes
LEARNING_RATE = 0.226  # the course's learning_rate=1 (normalised units) in pixel units
MAX_ITER = BUDGET.fool_max_iter  # the course stops after 100 steps at most
N_ATTACK_IMAGES = BUDGET.n_attack_images  # images attacked by FGSM and PGD
EPS = 8 / 255  # L-inf budget of FGSM and PGD
ALPHA = 2 / 255  # PGD step
PGD_STEPS = BUDGET.attack_steps
SEED = 0

# %%
# %matplotlib inline
import torch
import torch.nn.functional as F

from netviz_tp import checks, plot
from netviz_tp.data import class_index, load_imagenet_val
from netviz_tp.models import load_model, top_k
from netviz_tp.validate import device_of

model = load_model(MODEL)
device = device_of(model)
data = load_imagenet_val(num=max(IMAGE_INDEX + 1, N_ATTACK_IMAGES))
x_all, y_all, names = data.x.to(device), data.y.to(device), data.class_names
probs, pred = top_k(model, x_all, k=1)
print(
    f"{model.name} on {device}: image {IMAGE_INDEX} is a {names[int(y_all[IMAGE_INDEX])]!r}, "
    f"predicted {names[int(pred[IMAGE_INDEX, 0])]!r} ({float(probs[IMAGE_INDEX, 0]):.0%})"
)

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "d954c21369e19c9cee583c2126fb3cb0", "grade": false, "grade_id": "ex1_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1: fooling images (3 points)
#
# Write `make_fooling_image(X, target_y, model, learning_rate=..., max_iter=100)` for a batch
# of images `X [N, 3, H, W]` (pixels in `[0, 1]`) and their targets `target_y [N]`. Repeat
# at most `max_iter` times:
#
# 1. predict every image; an image already classified as its target **stops** (it is not
#    changed any more: each image stops at its own step; if all have stopped, return);
# 2. compute $g = \partial \tilde y_j / \partial x$, the gradient of each image's **target
#    score** (logit);
# 3. move every image that has not stopped by $\eta\, g / \|g\|_2$, where $\|g\|_2$ is the
#    L2 norm of **that image's** gradient, then clamp the pixels to `[0, 1]`.
#
# Return the fooling images (a new tensor: do not modify `X`); do not call `netviz_tp.attacks`.


# %% deletable=false nbgrader={"cell_type": "code", "checksum": "5ec48c56865d0f1c365c8cf72fea4227", "grade": false, "grade_id": "ex1_fooling", "locked": false, "schema_version": 3, "solution": true, "task": false}
def make_fooling_image(X, target_y, model, learning_rate=0.226, max_iter=100):
    """Fooling images by normalised gradient ascent on the target score (RDFIA eq. (2))."""
    X_fooling = X.detach().clone()
    # YOUR CODE HERE
    raise NotImplementedError()
    return X_fooling


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "b903fc5ce31b4452aa3ad0ab9911bcd2", "grade": true, "grade_id": "ex1_test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Checks make_fooling_image: targets reached, each image stops at its own step, normalised ascent, clamped (tiny CNN).
checks.check_fooling(make_fooling_image)

# %% [markdown]
# Your fooling images: image `IMAGE_INDEX` pushed towards each class of `TARGETS`. The
# difference is shown around mid-grey, then magnified ten times.

# %%
targets = torch.tensor([class_index(t) for t in TARGETS], device=device)
x = x_all[IMAGE_INDEX : IMAGE_INDEX + 1].repeat(len(targets), 1, 1, 1)
x_fool = make_fooling_image(x, targets, model, learning_rate=LEARNING_RATE, max_iter=MAX_ITER)
fool_probs, fool_pred = top_k(model, x_fool, k=1)
for t, p, q, d in zip(
    targets, fool_pred[:, 0], fool_probs[:, 0], (x_fool - x).flatten(1), strict=True
):
    print(
        f"target {names[int(t)].split(',')[0]:>12}: predicted {names[int(p)].split(',')[0]!r} "
        f"({float(q):.0%}), max change {float(d.abs().max()) * 255:.1f}/255, "
        f"L2 {float(d.norm()) * 255:.0f}/255"
    )
plot.plot_fooling(
    x,
    x_fool,
    labels=y_all[[IMAGE_INDEX] * len(targets)],
    targets=targets,
    preds=fool_pred[:, 0],
    class_names=names,
)

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "a541fa217dd0b2f39edb1f5bf2db8d79", "grade": false, "grade_id": "q5_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q5 ★ Show and interpret the obtained results. (2 points)
# How large is the change, how many steps did each target need, and what does that say about
# the network?

# %% [markdown] deletable=false nbgrader={"cell_type": "markdown", "checksum": "90a8dfdf155d98ee57c65a557d08b44b", "grade": true, "grade_id": "q5", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "cce24c2c4fa830db5720382b383ce21f", "grade": false, "grade_id": "q6_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q6 In practice, what consequences can this method have when using convolutional neural networks? (1 point)

# %% [markdown] deletable=false nbgrader={"cell_type": "markdown", "checksum": "d303800dfbb8c23bd27c6cd222b67d6f", "grade": true, "grade_id": "q6", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "9568fcce6cb81f63767c137b12e8ecba", "grade": false, "grade_id": "ex2_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2: FGSM (1 point)
#
# The course's rule takes as many steps as it needs and bounds nothing. The **Fast Gradient
# Sign Method** (Goodfellow et al. 2015) takes one step that moves every pixel by exactly
# `eps`. Targeted version: with the cross-entropy loss $L(f(x), t)$ of the target $t$,
# $x_{adv} = \mathrm{clamp}_{[0,1]}(x - \epsilon\, \mathrm{sign}(\nabla_x L))$: going *down*
# the loss of the target. Write `fgsm(model, x, target, eps)` (batched, `target [N]`), without
# `netviz_tp.attacks`.


# %% deletable=false nbgrader={"cell_type": "code", "checksum": "0e310bf40fcb70cae2f0d9e62ecdf40f", "grade": false, "grade_id": "ex2_fgsm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fgsm(model, x, target, eps=8 / 255):
    """Targeted FGSM: one signed step of size eps down the target's cross-entropy."""
    # YOUR CODE HERE
    raise NotImplementedError()
    return x_adv


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "d2ecc2d55a1fc1cff753db4082543cb5", "grade": true, "grade_id": "ex2_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Checks fgsm: targeted signed step of size eps on the cross-entropy, clamped to [0, 1] (tiny CNN).
checks.check_fgsm(fgsm)

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "05f0758a8bc14aa2ebc323d5352f376d", "grade": false, "grade_id": "ex3_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3: PGD (2 points)
#
# **Projected Gradient Descent** (Madry et al. 2018) repeats smaller FGSM steps and stays in
# the same budget: start from $x_{adv} = x$ and repeat `steps` times
# $x_{adv} \leftarrow \Pi(x_{adv} - \alpha\, \mathrm{sign}(\nabla L(f(x_{adv}), t)))$, where
# $\Pi$ projects onto the L-inf ball, $x_{adv} \in [x - \epsilon, x + \epsilon]$ (around the
# **original** image), then clamps to `[0, 1]`. Write `pgd(model, x, target, eps, alpha,
# steps)` (no random start), without `netviz_tp.attacks`.


# %% deletable=false nbgrader={"cell_type": "code", "checksum": "143161161dfb33d0032e0ad1ebc94d3a", "grade": false, "grade_id": "ex3_pgd", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pgd(model, x, target, eps=8 / 255, alpha=2 / 255, steps=10):
    """Targeted L-inf PGD without random start (Madry et al. 2018)."""
    x = x.detach()
    x_adv = x.clone()
    # YOUR CODE HERE
    raise NotImplementedError()
    return x_adv


# %% deletable=false editable=false nbgrader={"cell_type": "code", "checksum": "68f79d1b98912624cdcc32d21bbf1c8b", "grade": true, "grade_id": "ex3_test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Checks pgd: stays in the eps-ball around x and in [0, 1], equals targeted L-inf PGD (tiny CNN).
checks.check_pgd(pgd)

# %% [markdown]
# ## Comparing the three attacks (Q7)
# Each of the first `N_ATTACK_IMAGES` course images gets a random target class. For each
# attack: how often the target is reached, and how large the change is (largest change of one
# pixel, and L2 norm of the whole change, both in grey levels).

# %%
gen = torch.Generator().manual_seed(SEED)
xs, ys = x_all[:N_ATTACK_IMAGES], y_all[:N_ATTACK_IMAGES]
goal = ((ys.cpu() + torch.randint(1, 1000, (len(ys),), generator=gen)) % 1000).to(device)
results = {
    "course rule": make_fooling_image(
        xs, goal, model, learning_rate=LEARNING_RATE, max_iter=MAX_ITER
    ),
    f"FGSM eps={EPS * 255:.0f}/255": fgsm(model, xs, goal, eps=EPS),
    f"PGD eps={EPS * 255:.0f}/255, {PGD_STEPS} steps": pgd(
        model, xs, goal, eps=EPS, alpha=ALPHA, steps=PGD_STEPS
    ),
}
print(f"{'attack':<28}{'target reached':>16}{'max change':>14}{'L2':>10}")
for attack, x_adv in results.items():
    with torch.no_grad():
        hit = (model(x_adv).argmax(1) == goal).float().mean()
    d = (x_adv - xs).flatten(1) * 255
    print(
        f"{attack:<28}{float(hit):>16.0%}{float(d.abs().amax(1).mean()):>11.1f}/255"
        f"{float(d.norm(dim=1).mean()):>10.0f}"
    )
x_pgd = results[list(results)[-1]]
plot.plot_fooling(
    xs,
    x_pgd,
    labels=ys,
    targets=goal,
    preds=model(x_pgd).argmax(1),
    class_names=names,
    title="PGD: original, adversarial, difference",
)

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "8697e4d722a3eb6a838d550f04979dcf", "grade": false, "grade_id": "q7_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Q7 (bonus) Discuss the limits of this naive way to construct adversarial images. Can you propose some alternative or modified ways? (1 point)
# Use the comparison above.

# %% [markdown] deletable=false nbgrader={"cell_type": "markdown", "checksum": "8e8d38666b8905e8079fc4eec245944b", "grade": true, "grade_id": "q7", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown]
# ## Explore
# Pick an image, a target class by name, the attack and its budget (`eps` in /255, `lr`,
# steps): the prediction before and after, the magnified perturbation, the steps used and
# the perturbation's size appear.

# %%
from netviz_tp.widgets import adversarial_explorer

adversarial_explorer(models=[model, "vgg16", "efficientnet_lite0"], target="stingray")

# %% [markdown] deletable=false editable=false nbgrader={"cell_type": "markdown", "checksum": "45ce5d77602d6a2e0d0894d533de077a", "grade": false, "grade_id": "explore_statement", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Explore question (1 point)
# With the explorer, find the smallest budget that fools the network for one image and two
# targets. What makes one target easier than the other?

# %% [markdown] deletable=false nbgrader={"cell_type": "markdown", "checksum": "e0c32ab2f23c56b8a7414eb196919c10", "grade": true, "grade_id": "explore_adversarial", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE
