"""End to end in a real browser: JupyterLab runs notebook 00 and its explorer answers.

Drives headless Chromium (Debian's ``chromium``; never a downloaded browser) with
Playwright. Works on a temporary copy of the notebook, so the committed one is
never overwritten by JupyterLab's autosave. Skipped where Chromium is missing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from pathlib import Path

import pytest

from browser_support import ARTIFACTS, CHROMIUM, EMPTY_FIGURES, ROOT, free_port, lab_command, launch, serve


pytestmark = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")]



@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / "00_baselines_and_measurement.ipynb", root / "00.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(root / "user-settings"),
           "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
           "WORKBENCH_THREADS": "2"}
    url = f"http://127.0.0.1:{port}"
    with serve(lab_command(port, token, root), cwd=root, env=env, ready_url=f"{url}/api/status?token={token}",
               log=root / "lab.log", name="JupyterLab", tries=120):
        yield url, token, root / "runtime"


def kernel_says(runtime: Path, code: str) -> dict:
    """Run ``code`` in the notebook's own kernel (beside the browser) and return the JSON it prints."""
    from jupyter_client import BlockingKernelClient

    (connection,) = runtime.glob("kernel-*.json")
    client = BlockingKernelClient(connection_file=str(connection))
    client.load_connection_file()
    client.start_channels()
    try:
        printed = []
        reply = client.execute_interactive(code, timeout=60, output_hook=lambda msg: printed.append(
            msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None)
        assert reply["content"]["status"] == "ok", reply["content"]
        return json.loads("".join(printed))
    finally:
        client.stop_channels()


def test_run_all_then_move_the_slider(lab):
    from playwright.sync_api import expect, sync_playwright

    url, token, runtime = lab
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{url}/lab/tree/00.ipynb?token={token}")
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        indicator = page.locator(".jp-Notebook-ExecutionIndicator")
        expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=60_000)
        page.locator(".jp-Notebook").first.click()               # focus the notebook, then Run > Run All
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        expect(indicator).to_have_attribute("data-status", "busy", timeout=30_000)
        expect(indicator).to_have_attribute("data-status", "idle", timeout=480_000)
        # the last cells show the exercises' feedback: all three ran
        feedback = page.locator(".jp-OutputArea-output", has_text="not attempted yet")
        expect(feedback).to_have_count(3, timeout=30_000)
        assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").count() == 0
        panel = page.locator(".js-plotly-plot >> visible=true").first   # the monitor's plot is hidden
        panel.scroll_into_view_if_needed()
        expect(panel).to_be_visible(timeout=30_000)
        assert page.evaluate(EMPTY_FIGURES) == [], "the explorer's figures were drawn empty"
        table = page.locator(".widget-html-content", has_text="size ratio").first
        table.scroll_into_view_if_needed()                  # the notebook renders only what is near the view
        expect(table).to_contain_text("latency", timeout=30_000)
        before = table.inner_text()
        assert "batch" in before.lower() or "latency b1" in before
        handle = page.locator(".widget-slider .noUi-handle").first
        handle.focus()
        page.keyboard.press("ArrowRight")                    # batch size 1 -> 2
        expect(table).to_contain_text("latency b2", timeout=30_000)
        # the numbers in the browser are the ones the kernel measured for this setting
        now = kernel_says(runtime, "import json; m = explorer.current\n"
                                   "print(json.dumps({'batch': explorer.params['batch_size'], "
                                   "'acc': m.accuracy, 'ms': m.latency_ms(explorer.params['batch_size'])}))")
        assert now["batch"] == 2
        expect(table).to_contain_text(f"{100 * now['acc']:.2f}%")
        expect(table).to_contain_text(f"{now['ms']:.3f} ms")
        page.screenshot(path=str(ARTIFACTS / "browser_notebook00.png"), full_page=False)
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "browser_notebook00_plots.png"), full_page=False)
        status = page.locator(".widget-html-content", has_text="Error")
        assert status.count() == 0, status.first.inner_text()
        browser.close()
    assert not [e for e in errors if not re.search(r"fonts|favicon", e)], errors
