"""The explorers in a real browser: JupyterLab in headless Debian Chromium, driven by Playwright.

A notebook that builds the three explorers is run with Run All; the test then moves a
dropdown, a slider (keyboard on its handle) and a button, and checks that the rendered
images and texts change. Screenshots go to ``test-artifacts/browser/``, and also, reduced
to 128 colours, to ``$NETVIZ_TP_SCREENSHOTS`` when set (``docs/screenshots`` for the README).

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``): skipped without it, unless
``NETVIZ_TP_REQUIRE_BROWSER=1`` (CI), which turns the skip into a failure. Playwright's own
browser download is never used.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser"
TOKEN = "netviz-tp-browser-test"
WAIT_MS = 60_000

NOTEBOOK_CELLS = [
    "from netviz_tp.data import load_imagenet_val\n"
    "from netviz_tp.widgets import adversarial_explorer, class_vis_explorer, saliency_explorer\n"
    "data = load_imagenet_val()\n"
    "models = ['squeezenet1_1', 'efficientnet_lite0', 'vgg16']",
    "sal = saliency_explorer(models, data)\nsal.image_dd.value = 4\nsal.wait()\nsal",
    "adv = adversarial_explorer(models, data)\nadv.wait()\nadv",
    "vis = class_vis_explorer(models, data, preset='rdfia')\nvis.steps_slider.value = 40\nvis",
]


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: apt-get update && apt-get install -y chromium"
    if os.environ.get("NETVIZ_TP_REQUIRE_BROWSER") == "1":
        pytest.fail(f"NETVIZ_TP_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _notebook(cells: list[str]) -> dict:
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{i}",
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells)
        ],  # fmt: skip
        "metadata": {
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
            }
        },  # fmt: skip
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path, assets):
    """A JupyterLab server on a free port, with its own config, runtime, workspaces and a
    ``python3`` kernelspec that runs this interpreter (the venv's)."""
    root, home = tmp_path / "root", tmp_path / "jupyter"
    kernel = home / "data" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    root.mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Python 3 (ipykernel)", "language": "python"}
    (kernel / "kernel.json").write_text(json.dumps(spec))
    env = dict(os.environ, NETVIZ_TP_ASSETS=str(assets), JUPYTER_PATH=str(home / "data"))
    dirs = {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_RUNTIME_DIR": "runtime",
            "JUPYTERLAB_WORKSPACES_DIR": "workspaces", "IPYTHONDIR": "ipython"}  # fmt: skip
    for var, sub in dirs.items():
        env[var] = str(home / sub)
    labconfig = home / "config" / "labconfig"  # no "get notified about news?" toast
    labconfig.mkdir(parents=True)
    off = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
    (labconfig / "page_config.json").write_text(json.dumps(off))
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
         f"--port={port}", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}",
         f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/api/status?token={TOKEN}", server)
        yield base, root
    finally:
        server.terminate()
        try:
            log = server.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            server.kill()
            log = server.communicate()[0]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "jupyterlab.log").write_text(log or "")


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited early:\n{server.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"jupyter lab did not answer {url} within {seconds} s")


@pytest.fixture
def page():
    _require_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1000})
        finally:
            browser.close()


def _src(page, selector: str) -> str:
    return page.locator(selector).get_attribute("src") or ""


def _wait_changed(page, selector: str, old: str, what: str = "src") -> str:
    """Wait until ``selector``'s src (or its text) differs from ``old``; return the new one."""
    js = (
        "([s, old]) => { const e = document.querySelector(s);"
        f" return e && (({'e.src' if what == 'src' else 'e.innerText'}) || '') !== old; }}"
    )
    page.wait_for_function(js, arg=[selector, old], timeout=WAIT_MS)
    return _src(page, selector) if what == "src" else page.locator(selector).inner_text()


def _wait_text(page, selector: str, needle: str) -> None:
    js = "([s, t]) => (document.querySelector(s)?.innerText || '').includes(t)"
    page.wait_for_function(js, arg=[selector, needle], timeout=WAIT_MS)


def _shoot(page, selector: str, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(selector).scroll_into_view_if_needed()
    page.locator(selector).screenshot(path=str(ARTIFACTS / f"{name}.png"))
    docs = os.environ.get("NETVIZ_TP_SCREENSHOTS")  # e.g. docs/screenshots, for the README
    if docs:
        from PIL import Image

        with Image.open(ARTIFACTS / f"{name}.png") as shot:
            small = shot.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
            small.save(Path(docs) / f"{name}.png", optimize=True)


def test_explorers_react_to_their_controls_in_jupyterlab(jupyterlab, page):
    base, root = jupyterlab
    (root / "explorers.ipynb").write_text(json.dumps(_notebook(NOTEBOOK_CELLS)))
    page.goto(f"{base}/lab/tree/explorers.ipynb?reset&token={TOKEN}")
    # The execution indicator says "idle" before a kernel exists: wait for the real kernel.
    page.get_by_text(re.compile(r"\(ipykernel\) \| Idle")).wait_for(timeout=WAIT_MS)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.get_by_text("[4]:").first.wait_for(timeout=WAIT_MS)  # every cell was executed

    # Saliency: a map is drawn; another method redraws it.
    saliency_map = ".nv-saliency-explorer img.nv-saliency-map"
    first = _wait_changed(page, saliency_map, "")
    assert first.startswith("blob:")
    page.locator(".nv-saliency-explorer .nv-method select").select_option("grad_cam")
    _wait_changed(page, saliency_map, first)
    _wait_text(page, ".nv-saliency-explorer .nv-saliency-map-caption", "grad_cam:")
    _shoot(page, ".nv-saliency-explorer", "saliency_explorer")

    # Adversarial: FGSM, then the eps slider moved with the keyboard changes the size.
    result = ".nv-adversarial-explorer .nv-result"
    text = _wait_changed(page, result, "", what="text")
    page.locator(".nv-adversarial-explorer .nv-method select").select_option("fgsm")
    text = _wait_changed(page, result, text, what="text")
    assert "8.00/255" in text
    handle = page.locator(".nv-adversarial-explorer .nv-eps .noUi-handle[role=slider]")
    handle.focus()
    for _ in range(4):
        handle.press("ArrowRight")  # 4 steps of 0.5: eps 8 -> 10
    _wait_text(page, result, "L\u221e 10.00/255")
    page.locator(".nv-adversarial-explorer .nv-method select").select_option("fooling")
    _wait_text(page, ".nv-adversarial-explorer .nv-status", "fooling")
    _shoot(page, ".nv-adversarial-explorer", "adversarial_explorer")

    # Class visualisation: Run shows live frames, then one tile lands in the gallery.
    page.locator(".nv-class-vis-explorer .nv-run").click()
    _wait_changed(page, ".nv-class-vis-explorer img.nv-class-vis", "")
    page.locator(".nv-gallery-item").first.wait_for(timeout=WAIT_MS)
    assert page.locator(".nv-gallery-item").count() == 1
    assert page.locator(".nv-class-vis-explorer .nv-error").inner_text() == ""
    _shoot(page, ".nv-class-vis-explorer", "class_vis_explorer")
