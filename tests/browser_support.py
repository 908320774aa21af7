"""What the browser tests share: Debian's Chromium, a free port, and servers started and stopped.

JupyterLab (tests/test_browser.py, tests/test_browser_panels.py) and Voila
(tests/test_lectures.py) are started the same way: a subprocess logging to a file,
polled until it answers, terminated when the module's tests are done.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# without the background-networking flags Chromium's connections are refused by a closed network
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


# Installed before a page's own scripts (``page.add_init_script(PROBE)``): the time of the last key
# press, of every kernel message, and of the last "kernel idle" message, in the page's clock.
PROBE = """
(() => {
  const wb = window.__wb = {pressed: 0, messages: [], last: 0, idle: 0, changed: 0};
  document.addEventListener('keydown', () => { wb.pressed = performance.now(); }, true);
  const Native = window.WebSocket, text = new TextDecoder();
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener('message', (ev) => {
      const t = performance.now();
      wb.messages.push(t); wb.last = t;
      const body = typeof ev.data === 'string' ? ev.data
        : ev.data instanceof ArrayBuffer && ev.data.byteLength < 4096 ? text.decode(ev.data) : '';
      if (body.includes('"execution_state": "idle"') || body.includes('"execution_state":"idle"')) wb.idle = t;
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})();
"""
# after a key press: the kernel went idle and no message came for 0.4 s (plots redrawn, echoes done)
SETTLED = "() => { const wb = window.__wb; return wb.idle > wb.pressed && performance.now() - wb.last > 400; }"


# what a control shows: a dropdown's selection, a slider's readout (its aria-valuenow can lag)
CONTROL_VALUE = ("(e) => e.tagName === 'SELECT' ? e.value : "
                 "(e.closest('.widget-slider').querySelector('.widget-readout') || e).innerText")


# The titles of plotly figures on the page that draw no data point and show no hint saying what
# fills them (an empty list when every figure shows something): a panel shows its first setting
# when it opens, or, if it trains on a button, says so in its empty plots (explorer_figure.HINTS).
EMPTY_FIGURES = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter(gd => !(gd.data || []).some(t => ['x', 'y', 'z', 'values'].some(k => t[k] && t[k].length > 0)))
  .filter(gd => !((gd.layout || {}).annotations || []).some(a => (a.name || '').startsWith('hint')
                                                               && a.visible !== false && a.text))
  .map(gd => (gd.layout && gd.layout.title && gd.layout.title.text) || '(untitled)')"""


def control_value(control) -> str:
    return control.evaluate(CONTROL_VALUE)


def press(page, control, key: str, timeout_ms: int = 3_000) -> bool:
    """Focus ``control``, press ``key``, and return whether the control took it (its shown value changed
    within ``timeout_ms``); False at the end of its range."""
    before = control_value(control)
    control.focus()
    page.keyboard.press(key)
    try:
        page.wait_for_function(f"([e, before]) => ({CONTROL_VALUE})(e) !== before",
                               arg=[control.element_handle(), before], timeout=timeout_ms)
    except Exception:  # noqa: BLE001 - Playwright's TimeoutError
        return False
    return True


def control_keys(control) -> tuple[str, str]:
    """The keys that move ``control`` forward, then back."""
    return ("ArrowDown", "ArrowUp") if control.evaluate("e => e.tagName") == "SELECT" else ("ArrowRight", "ArrowLeft")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(playwright):
    """Headless Debian Chromium (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def lab_command(port: int, token: str, root: Path) -> list[str]:
    """JupyterLab on ``root``, no browser, no news or update checks (they cover the page)."""
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    return cmd + (["--allow-root"] if os.geteuid() == 0 else [])


@contextlib.contextmanager
def serve(cmd: list[str], *, cwd: Path, env: dict, ready_url: str, log: Path, name: str, tries: int = 240):
    """Run ``cmd`` until the test is done; fail with the end of its log if ``ready_url`` never answers."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        try:
            for _ in range(tries):
                try:
                    urllib.request.urlopen(ready_url, timeout=5)
                    break
                except OSError:
                    time.sleep(0.5)
            else:
                pytest.fail(f"{name} did not start:\n{log.read_text()[-2000:]}")
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
