"""The explorer panels of notebooks 00, 01, 04 and 06 read right in a 1280×800 window with the file browser open.

JupyterLab in headless Chromium (Debian's ``chromium``, never a downloaded browser)
runs a scratch notebook that builds the four panels the notebooks build, then
checks the geometry: the report table never covers a control (slider readouts,
dropdown ends), and no plot is wider than the output area. Screenshots go to
``tests/artifacts/``. Skipped where Chromium is missing.
"""

from __future__ import annotations

import os
import secrets

import nbformat
import pytest

from browser_support import ARTIFACTS, CHROMIUM, ROOT, free_port, lab_command, launch, serve

CELLS = ["import workbench as wb\nwb.setup(seed=0)\nds = wb.load()",
         "wb.explorer.model_explorer(ds)",                                      # notebook 00
         "from workbench.pruning import make_explorer\nmake_explorer('lenet5', ds)",   # notebook 01
         "from workbench.quantization.explorer import make_explorer\nmake_explorer(ds, model='lenet5')",  # 04
         "from workbench.distillation.explorer import make_explorer\nmake_explorer(ds)"]              # 06

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")]

# every overlap of a control with a sibling table, every plot wider than its output area
GEOMETRY = """() => {
  const r = e => e.getBoundingClientRect();
  const cross = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const problems = [];
  for (const table of document.querySelectorAll('.jp-OutputArea-output .widget-html-content')) {
    if (!table.innerText.includes('size ratio')) continue;
    const box = table.closest('.widget-html').parentElement;
    for (const c of box.querySelectorAll('.widget-readout, .widget-dropdown select, .widget-slider, button')) {
      if (cross(r(c), r(table))) problems.push('table covers ' + c.className + ' ' + c.innerText);
    }
  }
  for (const out of document.querySelectorAll('.jp-OutputArea-output')) {
    for (const svg of out.querySelectorAll('.js-plotly-plot .main-svg')) {
      if (r(svg).right > r(out).right + 1) problems.push('plot ' + r(svg).width + ' px past the output area');
    }
  }
  return problems;
}"""



@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("panels")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nbformat.write(nb, root / "panels.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(root / "user-settings"), "PYTHONPATH": str(ROOT),
           "JUPYTER_CONFIG_DIR": str(root / "config"), "WORKBENCH_THREADS": "1"}
    url = f"http://127.0.0.1:{port}"
    with serve(lab_command(port, token, root), cwd=root, env=env, ready_url=f"{url}/api/status?token={token}",
               log=root / "lab.log", name="JupyterLab"):
        yield url, token


def test_panels_fit_a_1280_px_window_with_the_file_browser_open(lab):
    from playwright.sync_api import expect, sync_playwright

    url, token = lab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{url}/lab/tree/panels.ipynb?token={token}")
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=120_000)
        expect(page.locator(".jp-FileBrowser").first).to_be_visible()      # the narrow case
        page.locator(".jp-Notebook").first.click()
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        indicator = page.locator(".jp-Notebook-ExecutionIndicator")
        expect(indicator).to_have_attribute("data-status", "busy", timeout=30_000)
        expect(indicator).to_have_attribute("data-status", "idle", timeout=500_000)
        tables = page.locator(".widget-html-content", has_text="size ratio")
        expect(tables).to_have_count(4, timeout=60_000)
        expect(page.locator(".js-plotly-plot .main-svg >> visible=true").first).to_be_visible(timeout=60_000)
        readouts = page.locator(".widget-readout")
        assert readouts.count() >= 4 and all(readouts.nth(i).inner_text().strip() for i in range(readouts.count()))
        outputs = page.locator(".jp-OutputArea-output")
        for i, name in enumerate(("00", "01", "04", "06"), start=1):
            page.evaluate("(e) => e.scrollIntoView({block: 'start'})", outputs.nth(i).element_handle())
            page.wait_for_timeout(1500)                                   # plotly draws once in view
            page.screenshot(path=str(ARTIFACTS / f"panel_{name}_1280.png"))
        problems = page.evaluate(GEOMETRY)
        browser.close()
    assert not problems, problems
