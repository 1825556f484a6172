"""The package's front: every advertised name resolves, the course's names are there, and the
students' API loads none of the instructor's dependencies."""

import subprocess
import sys

import netviz_tp


def test_every_exported_name_exists():
    missing = [name for name in netviz_tp.__all__ if not hasattr(netviz_tp, name)]
    assert missing == []


def test_course_function_names_are_found_from_the_package():
    from netviz_tp.attacks import make_fooling_image
    from netviz_tp.featviz import create_class_visualization
    from netviz_tp.saliency import compute_saliency_maps

    assert netviz_tp.compute_saliency_maps is compute_saliency_maps
    assert netviz_tp.make_fooling_image is make_fooling_image
    assert netviz_tp.create_class_visualization is create_class_visualization


def test_method_tables_hold_callables():
    for table in (netviz_tp.ATTRIBUTIONS, netviz_tp.ATTACKS):
        assert table and all(callable(fn) for fn in table.values())
    assert {"rdfia", "cs231n"} <= set(netviz_tp.PRESETS)


def test_submodules_are_not_hidden_by_functions():
    import types

    for name in ("saliency", "attacks", "featviz", "models", "data", "plot", "hooks", "cam"):
        module = __import__(f"netviz_tp.{name}", fromlist=["_"])
        assert isinstance(getattr(netviz_tp, name), types.ModuleType), name
        assert getattr(netviz_tp, name) is module


def test_the_students_api_does_not_load_the_course_dependencies():
    """What a student's notebook imports (the setup cell included) pulls in no nbgrader,
    jupytext or papermill: they are optional ([course]) and imported in netviz_tp.course only."""
    code = (
        "import sys\n"
        "import netviz_tp, netviz_tp.checks, netviz_tp.widgets, netviz_tp.settings\n"
        "from netviz_tp import attacks, cam, data, featviz, hooks, image, models, plot\n"
        "from netviz_tp import saliency, validate, weights, methods, gradients\n"
        "from netviz_tp.course.setup import setup\n"
        "import netviz_tp.course\n"
        "heavy = ('nbgrader', 'jupytext', 'papermill', 'nbclient', 'nbformat')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    probe = "import sys, netviz_tp.course.release; print('jupytext' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert loaded.stdout.strip() == "True"  # the check can see an import when there is one
