"""netviz_tp: the helper package of the practical "Visualizing Neural Networks".

Value convention: images are float tensors ``[N, 3, H, W]`` of pixels in ``[0, 1]``; models
from :func:`load_model` normalise their input themselves (see :mod:`netviz_tp.image`).
"""

__version__ = "0.1.0"

from .image import IMAGENET_MEAN, IMAGENET_STD, from_uint8, overlay, rescale_heat, to_numpy
from .models import Classifier, tiny_cnn
from .validate import device_of

__all__ = [
    "__version__",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Classifier",
    "device_of",
    "from_uint8",
    "overlay",
    "rescale_heat",
    "tiny_cnn",
    "to_numpy",
]
