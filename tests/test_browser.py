"""End to end in a real browser: JupyterLab runs notebook 00 and its explorer answers.

Drives headless Chromium (Debian's ``chromium``; never a downloaded browser) with
Playwright. Works on a temporary copy of the notebook, so the committed one is
never overwritten by JupyterLab's autosave. Skipped where Chromium is missing.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "tests" / "artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / "00_baselines_and_measurement.ipynb", root / "00.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(root / "user-settings"),
           "JUPYTER_CONFIG_DIR": str(root / "config"), "WORKBENCH_THREADS": "2"}
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"JupyterLab did not start:\n{(root / 'lab.log').read_text()[-2000:]}")
    yield url, token
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_run_all_then_move_the_slider(lab):
    from playwright.sync_api import expect, sync_playwright

    url, token = lab
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
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
        table = page.locator(".widget-html-content", has_text="size ratio").first
        table.scroll_into_view_if_needed()                  # the notebook renders only what is near the view
        expect(table).to_contain_text("latency", timeout=30_000)
        before = table.inner_text()
        assert "batch" in before.lower() or "latency b1" in before
        handle = page.locator(".widget-slider .noUi-handle").first
        handle.focus()
        page.keyboard.press("ArrowRight")                    # batch size 1 -> 2
        expect(table).to_contain_text("latency b2", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "browser_notebook00.png"), full_page=False)
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "browser_notebook00_plots.png"), full_page=False)
        status = page.locator(".widget-html-content", has_text="Error")
        assert status.count() == 0, status.first.inner_text()
        browser.close()
    assert not [e for e in errors if not re.search(r"fonts|favicon", e)], errors
