"""The README, the front door, stays true: its badges, commands and files exist."""

import re
from pathlib import Path

from netviz_tp.course import setup as course_setup

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_release_notebook_has_its_badge_in_the_readme():
    notebooks = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("notebooks/*/*.ipynb"))
    assert len(notebooks) == 3
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
