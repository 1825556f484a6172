"""Student self-checks and grading checks: ``check_*(fn, ...)`` prints ✔ or raises AssertionError.

Each check runs the student's function on seeded inputs (a tiny CNN on 32x32 images by
default, or the model and images given) and compares it with the package's reference,
computed *before* the student's code runs. The student's code runs inside
:func:`forbid_reference`, so calling the package's own implementation fails the check. When
the result is wrong, the check recognises the usual mistakes (a variant of the method that
the result matches) and says which. These checks are the public part of every graded test
cell; the hidden part calls them again on other inputs. Printing the verdict is the point of
this package, the one exception to the package's no-print rule.

Modules: :mod:`.common` (reference-use detection, comparison, verdicts, the tiny setup) and
one per method module it checks (same names): :mod:`.saliency`, :mod:`.attacks`, :mod:`.featviz`,
:mod:`.cam`, :mod:`.activations`, :mod:`.generators`.
"""

from .activations import check_ranked_differences
from .attacks import (
    check_fgsm,
    check_fooling,
    check_pgd,
    fgsm_variant,
    fooling_targets,
    fooling_variant,
    pgd_variant,
)
from .cam import cam_variant, check_grad_cam
from .common import ReferenceUsedError, forbid_reference, tiny_setup
from .featviz import check_class_vis_step, check_class_visualization, step_variant
from .generators import check_fooling_curve, check_generator_step
from .saliency import check_saliency

__all__ = [
    "ReferenceUsedError",
    "forbid_reference",
    "tiny_setup",
    # 01 saliency
    "check_saliency",
    # 02 adversarial
    "check_fooling",
    "check_fgsm",
    "check_pgd",
    "fooling_targets",
    "fooling_variant",
    "fgsm_variant",
    "pgd_variant",
    # 03 class visualisation
    "check_class_vis_step",
    "check_class_visualization",
    "step_variant",
    # 04 inside the network
    "check_grad_cam",
    "cam_variant",
    "check_ranked_differences",
    # 05 generators
    "check_generator_step",
    "check_fooling_curve",
]
