"""Interactive explorers (core ipywidgets only: Colab, JupyterLab and classic Notebook).

``saliency_explorer()``, ``adversarial_explorer()``, ``class_vis_explorer()``,
``activations_explorer()`` and ``generator_explorer(model, x, perturbations)`` each return an
explorer object: display it as the last line of a cell. Its controls and outputs are
attributes (``ex.model_dd``, ``ex.method_dd``, ``ex.output_image``, ``ex.status``, ...),
``ex.widget`` is the top container, and ``ex.wait(timeout)`` blocks until pending work ends.
Modules mirror the method modules they explore: :mod:`.saliency`, :mod:`.attacks`,
:mod:`.featviz`, :mod:`.activations`, :mod:`.generators`; shared pieces in :mod:`.common` and
:mod:`.pickers`. Work runs on a background thread; a new request cancels a stale one; errors
appear as one line (CSS class ``nv-error``) in the widget.
"""

from .activations import ActivationsExplorer, activations_explorer
from .attacks import AdversarialExplorer, adversarial_explorer
from .common import Explorer
from .featviz import ClassVisExplorer, class_vis_explorer
from .generators import GeneratorExplorer, generator_explorer
from .saliency import SaliencyExplorer, saliency_explorer

__all__ = [
    "ActivationsExplorer",
    "activations_explorer",
    "AdversarialExplorer",
    "ClassVisExplorer",
    "Explorer",
    "GeneratorExplorer",
    "SaliencyExplorer",
    "adversarial_explorer",
    "class_vis_explorer",
    "generator_explorer",
    "saliency_explorer",
]
