"""The README, the front door, stays true: its badges, commands and files exist."""

import re
from pathlib import Path

from netviz_tp.course import setup as course_setup

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_release_notebook_has_its_badge_in_the_readme():
    notebooks = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("notebooks/*/*.ipynb"))
    assert len(notebooks) == len(list(ROOT.glob("solutions/*/*.py")))  # one per practical
    for path in notebooks:
        assert course_setup.badge(path) in README, path
    linked = re.findall(r"colab\.research\.google\.com/github/[^)]*?/blob/[^/]+/([^)]+)", README)
    assert sorted(linked) == notebooks  # and no badge points at a notebook that is gone


def test_pictures_and_paths_named_in_the_readme_exist():
    for picture in re.findall(r"!\[[^]]*\]\(([^)]+\.png)\)", README):
        if not picture.startswith("http"):
            assert (ROOT / picture).is_file(), picture
    for path in ("solutions", "notebooks", "bench", "environment.yml", ".ci/run", "Makefile"):
        assert path in README and (ROOT / path).exists(), path


def test_the_two_commands_are_make_targets():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "test"):
        assert f"make {target}" in README
        assert re.search(rf"^{target}: ", makefile, re.M)


def test_every_module_of_the_package_table_exists_and_every_module_is_listed():
    table = README.split("| Module | What |", 1)[1].split("\n\n", 1)[0]
    named = set()
    for row in table.splitlines()[2:]:
        for name in re.findall(r"`([\w./<>]+)`", row.split("|")[1]):
            named.add(name.split("/")[0] if "<" in name else name)
    for name in named:
        path = ROOT / "netviz_tp" / name.replace(".", "/")
        assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), name
    package = ROOT / "netviz_tp"
    modules = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    modules |= {f"course.{p.stem}" for p in (package / "course").glob("*.py") if p.stem[0] != "_"}
    modules |= {"checks", "widgets"}
    assert modules - named == set(), "modules missing from the README's package table"
