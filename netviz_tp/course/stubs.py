"""Stubs: the package copies bound into the sandbox, one whole, one without the references.

:func:`package_copy` copies the installed ``netviz_tp`` (never the repository: no solutions,
hidden tests or rubrics) for the notebook's demo run. :func:`reference_free_copy` makes the
copy in which the student's graded functions are evaluated: every module and function that
an exercise forbids (``netviz_tp.checks.common.FORBIDDEN``) and the whole ``checks`` package
(its helpers compute the reference too) are replaced *in the source* by stubs that raise
:class:`ReferenceUnavailable`. Nothing of the reference is left to import, call, or read
back with ``inspect.getsource``. The stub modules keep every top-level name, so imports of
them still succeed.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")


class ReferenceUnavailable(AssertionError):
    """The student's graded code used a reference implementation, absent while grading."""


def _refuse(where: str):
    raise ReferenceUnavailable(
        f"{where} is not available while your exercise is graded: implement it yourself, with torch"
    )


def unavailable_function(module: str, name: str):
    """A function named ``name`` that raises :class:`ReferenceUnavailable` when called."""

    def stub(*args, **kwargs):
        _refuse(f"{module}.{name}()")

    stub.__name__ = stub.__qualname__ = name
    stub.__module__ = module
    return stub


def unavailable_class(module: str, name: str):
    """A class named ``name`` whose construction raises :class:`ReferenceUnavailable`."""

    def init(self, *args, **kwargs):
        _refuse(f"{module}.{name}")

    return type(name, (), {"__init__": init, "__module__": module})


class Unavailable:
    """A module-level value of a stubbed module: any use raises :class:`ReferenceUnavailable`."""

    def __init__(self, where: str):
        self._where = where

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        _refuse(self._where)

    def __getitem__(self, key):
        _refuse(self._where)

    def __iter__(self):
        _refuse(self._where)

    def __call__(self, *args, **kwargs):
        _refuse(self._where)

    def __repr__(self) -> str:
        return f"<{self._where}: unavailable while grading>"


def package_copy(dest: Path) -> Path:
    """Copy the installed ``netviz_tp`` into ``dest/netviz_tp``; returns ``dest``."""
    import netviz_tp

    shutil.copytree(Path(netviz_tp.__file__).parent, dest / "netviz_tp", ignore=_IGNORE)
    return dest


def _top_level(tree: ast.Module) -> list[tuple[str, str]]:
    """(name, kind) of the names a module defines: "function", "class" or "value"."""
    names: list[tuple[str, str]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.append((node.name, "function"))
        elif isinstance(node, ast.ClassDef):
            names.append((node.name, "class"))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [(t.id, "value") for t in targets if isinstance(t, ast.Name)]
    return names


def stub_module_source(source: str, module: str) -> str:
    """The text of a stub for the module ``module`` whose source is ``source``."""
    lines = [
        f'"""{module}: unavailable while an exercise is graded (a stub)."""',
        "from netviz_tp.course.stubs import Unavailable, unavailable_class, unavailable_function",
        "",
    ]
    for name, kind in _top_level(ast.parse(source)):
        if name == "__all__":
            continue
        maker = {"function": "unavailable_function", "class": "unavailable_class"}.get(kind)
        call = f"{maker}({module!r}, {name!r})" if maker else f"Unavailable('{module}.{name}')"
        lines.append(f"{name} = {call}")
    return "\n".join(lines) + "\n"


def without_functions(source: str, module: str, names: set[str]) -> str:
    """``source`` with the top-level functions ``names`` cut out and replaced by stubs."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    cuts = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            cuts.append((start - 1, node.end_lineno, node.name))
    missing = names - {name for _, _, name in cuts}
    if missing:
        raise ValueError(f"{module} has no top-level function {sorted(missing)}")
    for start, end, name in sorted(cuts, reverse=True):
        lines[start:end] = [
            "from netviz_tp.course.stubs import unavailable_function as _unavailable\n",
            f"{name} = _unavailable({module!r}, {name!r})\n",
        ]
    return "".join(lines)


def reference_free_copy(dest: Path, families: set[str]) -> Path:
    """A copy of ``netviz_tp`` in ``dest`` without the references of ``families`` nor checks.

    ``families``: keys of ``netviz_tp.checks.common.FORBIDDEN`` ("saliency", "attacks",
    "featviz", ...), those the assignment's graded tests forbid. Returns ``dest``.
    """
    from netviz_tp.checks.common import FORBIDDEN

    package_copy(dest)
    root = dest / "netviz_tp"
    import netviz_tp

    installed = Path(netviz_tp.__file__).parent

    def target(file: str) -> tuple[Path, str]:
        rel = Path(file).resolve().relative_to(installed.resolve())
        module = ".".join(("netviz_tp", *rel.with_suffix("").parts)).removesuffix(".__init__")
        return root / rel, module

    stubbed: set[Path] = set()
    functions: dict[Path, tuple[str, set[str]]] = {}
    for family in sorted(families):
        modules, funcs = FORBIDDEN[family]
        for mod in modules:
            path, name = target(mod.__file__)
            path.write_text(stub_module_source(path.read_text(), name))
            stubbed.add(path)
        for fn in funcs:
            path, name = target(fn.__code__.co_filename)
            functions.setdefault(path, (name, set()))[1].add(fn.__name__)
    for path, (name, names) in functions.items():
        if path not in stubbed:  # a whole stubbed module has no function left to cut
            path.write_text(without_functions(path.read_text(), name, names))
    checks = root / "checks"
    for path in sorted(checks.glob("*.py")):
        if path.name != "__init__.py":
            path.unlink()
    import netviz_tp.checks as real_checks

    public = "\n".join(f"{n} = 0" for n in real_checks.__all__)
    (checks / "__init__.py").write_text(stub_module_source(public, "netviz_tp.checks"))
    return dest
