"""The package's front: every advertised name resolves, and the course's names are there."""

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
