"""The practicals in a real browser: JupyterLab in headless Debian Chromium, driven by Playwright.

Each solution notebook (``solutions/0X_*/NAME.ipynb``, copied to a temporary folder) is run
with Run All in a JupyterLab whose kernels see ``NETVIZ_TP_FAST=1`` (tiny budgets; VGG16 gets
random weights from the notebook's own parameters) and ``NETVIZ_TP_ASSETS``. Once every cell
has an execution count, the notebook is saved and read back (no error output, fast budget);
then the test scrolls to the practical's explorer, moves its controls (dropdowns, a slider
through the keyboard on its handle, buttons) and checks that the rendered images change.
One JupyterLab server and one browser serve the four practicals; each practical's kernel is
shut down after its test. Screenshots of the explorers go to ``test-artifacts/browser/``
(with the executed notebooks), and also, reduced to 256 dithered colours, to
``$NETVIZ_TP_SCREENSHOTS`` when set (``docs/screenshots`` for the README).

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``): skipped without it, unless
``NETVIZ_TP_REQUIRE_BROWSER=1`` (CI), which turns the skip into a failure. Playwright's own
browser download is never used.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from netviz_tp import settings

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
TOKEN = "netviz-tp-browser-test"
WAIT_MS = 60_000
RUN_ALL_MS = 300_000  # a whole solution notebook with the fast budget
NOTEBOOKS = {
    "saliency": ROOT / "solutions" / "01_saliency" / "saliency.ipynb",
    "adversarial": ROOT / "solutions" / "02_adversarial" / "adversarial.ipynb",
    "class_vis": ROOT / "solutions" / "03_class_visualization" / "class_visualization.ipynb",
    "activations": ROOT / "solutions" / "04_inside_the_network" / "inside_the_network.ipynb",
    "generators": ROOT / "solutions" / "05_generators" / "generators.ipynb",
}


def _require_browser():
    """Playwright's sync API, once Debian's Chromium and Playwright are known to be there:
    otherwise skip with the fix, or fail under ``NETVIZ_TP_REQUIRE_BROWSER=1`` (CI)."""
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get update && apt-get install -y chromium"
    else:
        try:
            from playwright import sync_api
        except ImportError:
            reason = "playwright is not installed: pip install playwright (no browser download)"
    if reason is None:
        return sync_api
    if settings.flag("NETVIZ_TP_REQUIRE_BROWSER"):
        pytest.fail(f"NETVIZ_TP_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


# ---- server and browser (one each for the module) --------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory, assets):
    """A JupyterLab server on a free port, with its own config, runtime, settings and a
    ``python3`` kernelspec that runs this interpreter (the venv's) with the fast budget."""
    _require_browser()  # no server to start when the browser is missing
    base_dir = tmp_path_factory.mktemp("jupyterlab")
    root, home = base_dir / "root", base_dir / "jupyter"
    root.mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Python 3 (ipykernel)", "language": "python"}
    _write_json(home / "data" / "kernels" / "python3" / "kernel.json", spec)
    env = dict(os.environ, NETVIZ_TP_ASSETS=str(assets), NETVIZ_TP_FAST="1",
               JUPYTER_PATH=str(home / "data"))  # fmt: skip
    dirs = {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_RUNTIME_DIR": "runtime",
            "JUPYTERLAB_WORKSPACES_DIR": "workspaces", "JUPYTERLAB_SETTINGS_DIR": "settings",
            "IPYTHONDIR": "ipython"}  # fmt: skip
    for var, sub in dirs.items():
        env[var] = str(home / sub)
    # No "get notified about news?" toast; every cell in the DOM (no windowing); cell timings
    # saved in the executed notebooks (test-artifacts/browser/*.ipynb).
    off = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
    _write_json(home / "config" / "labconfig" / "page_config.json", off)
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension"
    _write_json(
        tracker / "tracker.jupyterlab-settings", {"windowingMode": "none", "recordTiming": True}
    )
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


def _api(base: str, path: str, method: str = "GET"):
    auth = {"Authorization": f"token {TOKEN}"}
    request = urllib.request.Request(f"{base}{path}", method=method, headers=auth)
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="module")
def browser():
    sync_api = _require_browser()
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, jupyterlab):
    """A fresh tab; on teardown every kernel of the server is shut down (free the CPU)."""
    tab = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        yield tab
    finally:
        tab.close()
        base, _ = jupyterlab
        for session in _api(base, "/api/sessions"):
            _api(base, f"/api/sessions/{session['id']}", "DELETE")


# ---- running a notebook ------------------------------------------------------------------------

PROMPTS = "[...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
# Run All is over when no cell is queued or running ("[*]:") and some cell has a count: after
# an error, JupyterLab aborts the queued cells and their prompts go back to "[ ]:".
RUN_ALL_OVER = (
    f"() => {{ const p = {PROMPTS}.map(e => e.innerText);"
    " return p.length > 0 && !p.some(t => t.includes('*')) && p.some(t => /\\d/.test(t)); }"
)


def _read_saved(path: Path, deadline: float) -> dict:
    """The saved notebook, read again while the server is still writing it (a large notebook
    is seen half-written)."""
    while True:
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _run_all(page, base: str, path: Path) -> dict:
    """Open ``path`` (under the server's root), Run All, wait for the end, save it and return
    the saved notebook (its outputs are what the browser showed)."""
    page.goto(f"{base}/lab/tree/{path.name}?reset&token={TOKEN}")
    # The execution indicator says "idle" before a kernel exists: wait for the real kernel.
    page.get_by_text(re.compile(r"\(ipykernel\) \| Idle")).wait_for(timeout=WAIT_MS)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(RUN_ALL_OVER, timeout=RUN_ALL_MS)
    before = path.stat().st_mtime_ns
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + WAIT_MS / 1000
    while path.stat().st_mtime_ns == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert path.stat().st_mtime_ns != before, f"{path.name} was not saved"
    notebook = _read_saved(path, deadline)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, ARTIFACTS / path.name)
    return notebook


def _outputs_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        text = out.get("text") or out.get("data", {}).get("text/plain", "")
        parts.append(text if isinstance(text, str) else "".join(text))
    return "".join(parts)


def _check_ran(notebook: dict) -> None:
    """Every code cell ran, none raised, and the kernel had the fast budget."""
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    errors = [
        f"cell {i}: {out['ename']}: {out['evalue']}"
        for i, cell in enumerate(code)
        for out in cell.get("outputs", [])
        if out["output_type"] == "error"
    ]
    assert not errors, "\n".join(errors)
    missing = [i for i, cell in enumerate(code) if cell.get("execution_count") is None]
    assert not missing, f"code cells {missing} were not executed"
    assert "budget: fast" in _outputs_text(code[0]), "the kernel did not get NETVIZ_TP_FAST=1"


# ---- looking at the page -----------------------------------------------------------------------


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

        with Image.open(ARTIFACTS / f"{name}.png") as shot:  # 256 dithered colours: ~100 KB
            rgb = shot.convert("RGB")
            palette = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
            small = rgb.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)
            small.save(Path(docs) / f"{name}.png", optimize=True)


# ---- the explorers -----------------------------------------------------------------------------


def _saliency(page, ex: str) -> None:
    """A map is drawn; another method, then another image, redraw it."""
    shown = f"{ex} img.nv-saliency-map"
    first = _wait_changed(page, shown, "")
    assert first.startswith("blob:")
    page.locator(f"{ex} .nv-method select").select_option("grad_cam")
    second = _wait_changed(page, shown, first)
    _wait_text(page, f"{ex} .nv-saliency-map-caption", "grad_cam:")
    caption = page.locator(f"{ex} .nv-input-caption").inner_text()
    page.locator(f"{ex} .nv-image select").select_option(index=4)
    _wait_changed(page, shown, second)
    _wait_changed(page, f"{ex} .nv-input-caption", caption, what="text")


def _adversarial(page, ex: str) -> None:
    """The course rule runs first; FGSM, then eps moved with the keyboard, change the result."""
    after, result = f"{ex} img.nv-adversarial", f"{ex} .nv-result"
    text = _wait_changed(page, result, "", what="text")
    assert "stingray" in text
    image = _src(page, after)
    page.locator(f"{ex} .nv-method select").select_option("fgsm")
    _wait_text(page, result, "L\u221e 8.00/255")
    image = _wait_changed(page, after, image)
    handle = page.locator(f"{ex} .nv-eps .noUi-handle[role=slider]")
    handle.focus()
    for _ in range(4):
        handle.press("ArrowRight")  # 4 steps of 0.5: eps 8 -> 10
    _wait_text(page, result, "L\u221e 10.00/255")
    _wait_changed(page, after, image)
    page.locator(f"{ex} .nv-method select").select_option("fooling")
    _wait_text(page, f"{ex} .nv-status", "fooling")


def _class_vis(page, ex: str) -> None:
    """Run from noise to the end; then start from a course image, Run and Stop halfway: a new
    image, and two tiles in the gallery, the second one stopped."""
    live, tiles = f"{ex} img.nv-class-vis", f"{ex} .nv-gallery-item"
    page.locator(f"{ex} .nv-run").click()
    _wait_changed(page, live, "")
    page.locator(tiles).first.wait_for(timeout=WAIT_MS)
    first = _src(page, live)
    page.locator(f"{ex} .nv-image select").select_option(index=1)  # index 0 is "noise"
    page.locator(f"{ex} .nv-run").click()
    halfway = (
        "s => { const m = (document.querySelector(s)?.innerText || '').match(/step (\\d+)\\//);"
        " return m !== null && Number(m[1]) >= 100; }"
    )
    page.wait_for_function(halfway, arg=f"{ex} .nv-class-vis-caption", timeout=WAIT_MS)
    page.locator(f"{ex} .nv-stop").click()
    js = "([s, n]) => document.querySelectorAll(s).length === n"
    page.wait_for_function(js, arg=[tiles, 2], timeout=WAIT_MS)
    _wait_text(page, f"{ex} .nv-class-vis-caption", "stopped at step")
    assert _src(page, live) != first
    full = re.search(r"(\d+)/(\d+) steps from (.+)", page.locator(tiles).nth(0).inner_text())
    stopped = re.search(r"(\d+)/(\d+) steps from (.+)", page.locator(tiles).nth(1).inner_text())
    assert full[1] == full[2] and full[3] == "noise"
    assert int(stopped[1]) < int(stopped[2]) and stopped[3] != "noise"


def _activations(page, ex: str) -> None:
    """The image-vs-FGSM comparison is drawn; the layer slider (keyboard) changes the layer,
    the summary-curve button the centre view; the FGSM button compares again."""
    centre, caption = f"{ex} img.nv-centre", f"{ex} .nv-centre-caption"
    first = _wait_changed(page, centre, "")
    text = page.locator(caption).inner_text()
    assert "features.0" in text
    handle = page.locator(f"{ex} .nv-layer .noUi-handle[role=slider]")
    handle.focus()
    for _ in range(3):
        handle.press("ArrowRight")
    _wait_text(page, caption, "features.3.expand3x3")  # each key press is one update: the last
    image = _wait_changed(page, centre, first)
    page.locator(f"{ex} .nv-view button", has_text="summary curve").click()
    _wait_text(page, caption, "summary curve")
    _wait_changed(page, centre, image)
    group_a = f"{ex} .nv-mean-a-caption"
    before = page.locator(group_a).inner_text()
    assert before.startswith("first image")
    page.locator(f"{ex} .nv-mode button", has_text="classes").click()
    _wait_changed(page, group_a, before, what="text")  # a class name now
    page.locator(f"{ex} .nv-adv-button").click()
    _wait_text(page, f"{ex} .nv-status", "vs FGSM")


def _generators(page, ex: str) -> None:
    """The perturbed image and its verdict are drawn; the e slider (keyboard), the class and
    the kind each change them."""
    shown, caption = f"{ex} img.nv-perturbed", f"{ex} .nv-perturbed-caption"
    image = _wait_changed(page, shown, "")
    text = page.locator(caption).inner_text()
    assert text.startswith("x + 10·V/255:"), text
    handle = page.locator(f"{ex} .nv-e .noUi-handle[role=slider]")
    handle.focus()
    for _ in range(5):
        handle.press("ArrowRight")  # e 10 -> 15
    _wait_text(page, caption, "x + 15·V/255:")
    image = _wait_changed(page, shown, image)
    v_caption = page.locator(f"{ex} .nv-perturbation-caption").inner_text()
    page.locator(f"{ex} .nv-class select").select_option(index=1)
    _wait_changed(page, f"{ex} .nv-perturbation-caption", v_caption, what="text")
    image = _wait_changed(page, shown, image)
    page.locator(f"{ex} .nv-kind select").select_option("gradient ascent")
    _wait_changed(page, shown, image)
    _wait_text(page, f"{ex} .nv-status", "clean prediction")


EXPLORERS = {
    "saliency": (".nv-saliency-explorer", _saliency),
    "adversarial": (".nv-adversarial-explorer", _adversarial),
    "class_vis": (".nv-class-vis-explorer", _class_vis),
    "activations": (".nv-activations-explorer", _activations),
    "generators": (".nv-generator-explorer", _generators),
}


@pytest.mark.parametrize("practical", list(NOTEBOOKS))
def test_practical_runs_and_its_explorer_reacts_in_jupyterlab(practical, jupyterlab, page):
    base, root = jupyterlab
    path = root / NOTEBOOKS[practical].name
    shutil.copy(NOTEBOOKS[practical], path)
    _check_ran(_run_all(page, base, path))

    selector, drive = EXPLORERS[practical]
    explorer = page.locator(selector)
    assert explorer.count() == 1, f"no single {selector} in the executed notebook"
    explorer.scroll_into_view_if_needed()
    drive(page, selector)
    assert page.locator(f"{selector} .nv-error").inner_text() == ""
    _shoot(page, selector, f"{practical}_explorer")
