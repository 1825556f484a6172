"""netviz_tp: the helper package of the practical "Visualizing Neural Networks".

Value convention: images are float tensors ``[N, 3, H, W]`` of pixels in ``[0, 1]``; models
from :func:`load_model` normalise their input themselves (see :mod:`netviz_tp.image`).
The course's function names are here too: :func:`compute_saliency_maps`,
:func:`make_fooling_image`, :func:`create_class_visualization`.
"""

__version__ = "0.1.0"

from .activations import (
    ActivationComparison,
    compare_activations,
    compare_classes,
    group_means,
)
from .attacks import (
    ATTACKS,
    AttackResult,
    fgsm,
    fooling_image,
    fooling_rate,
    fooling_rate_curve,
    make_fooling_image,
    pgd,
    universal_perturbation,
)
from .cam import grad_cam, grad_cam_pp
from .data import (
    class_index,
    imagenet_classes,
    load_image,
    load_imagenet_val,
    search_classes,
)
from .featgen import FeatureGenerator
from .featviz import (
    PRESETS,
    VisResult,
    channel_visualization,
    class_visualization,
    create_class_visualization,
)
from .fooling import FoolingCurve, fooling_curve
from .generators import ConditionalGenerator
from .hooks import capture, last_conv
from .image import IMAGENET_MEAN, IMAGENET_STD, from_uint8, overlay, rescale_heat, to_numpy
from .mnist import load_digits, mnist_cnn
from .models import (
    Classifier,
    WeightsUnavailableError,
    default_device,
    load_model,
    tiny_cnn,
    top_k,
)
from .occlusion import OcclusionResult, occlusion_experiment
from .saliency import (
    ATTRIBUTIONS,
    compute_saliency_maps,
    integrated_gradients,
    smoothgrad,
)
from .training import pretrain_autoencoder, train_conditional, train_feature
from .validate import device_of

# The vanilla map stays ``netviz_tp.saliency.saliency`` (``ATTRIBUTIONS["vanilla"]``): a
# top-level function named ``saliency`` would hide the module of the same name.

__all__ = [
    "__version__",
    # models and data
    "Classifier",
    "WeightsUnavailableError",
    "default_device",
    "device_of",
    "load_model",
    "mnist_cnn",
    "tiny_cnn",
    "top_k",
    "class_index",
    "imagenet_classes",
    "load_image",
    "load_digits",
    "load_imagenet_val",
    "search_classes",
    # images
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "from_uint8",
    "overlay",
    "rescale_heat",
    "to_numpy",
    # attribution
    "ATTRIBUTIONS",
    "compute_saliency_maps",
    "grad_cam",
    "grad_cam_pp",
    "integrated_gradients",
    "smoothgrad",
    "capture",
    "last_conv",
    # inside the network
    "ActivationComparison",
    "compare_activations",
    "compare_classes",
    "group_means",
    "OcclusionResult",
    "occlusion_experiment",
    # adversarial examples
    "ATTACKS",
    "AttackResult",
    "fgsm",
    "fooling_image",
    "fooling_rate",
    "fooling_rate_curve",
    "make_fooling_image",
    "pgd",
    "universal_perturbation",
    # class visualisation
    "PRESETS",
    "VisResult",
    "channel_visualization",
    "class_visualization",
    "create_class_visualization",
    # generators as visualisers
    "ConditionalGenerator",
    "FeatureGenerator",
    "FoolingCurve",
    "fooling_curve",
    "pretrain_autoencoder",
    "train_conditional",
    "train_feature",
]
