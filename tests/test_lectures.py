"""Lecture mode: pages built from the notebooks' tagged cells, served by Voila, used in a real browser.

The build is checked without a browser; the pages are opened in headless Chromium
(Debian's package, Playwright's Python API) where it exists: each renders with no
JavaScript error and no broken widget, its first slider answers the keyboard, and no
figure is wider than its container. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from browser_support import (ARTIFACTS, CHROMIUM, EMPTY_FIGURES, PROBE, SETTLED, control_keys, free_port, launch,
                             press, serve)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import lectures  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("lectures")
    return out, lectures.build(out)


def _code(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_with_an_explorer_has_a_lecture_page(path, built):
    out, pages = built
    nb = nbformat.read(path, as_version=4)
    if "make_explorer(" not in _code(nb) and "model_explorer(" not in _code(nb):
        pytest.skip("no explorer in this notebook")
    page = out / path.name
    assert page in pages, f"tag the cells of {path.name} that build its explorer with 'lecture'"
    tagged = lectures.lecture_cells(nb)
    assert "wb.setup(" in tagged[0].source, "the first tagged cell is the notebook's first cell"
    assert any("explorer(" in c.source for c in tagged), "the explorer cell is tagged"
    assert len(tagged) <= 5, "a page is the explorer and one figure, not the notebook"
    points = lectures.takeaways(nb)
    assert len(points) == 3, "three takeaways from 'What to remember'"
    text = page.read_text()
    assert all(p[:40] in text for p in points)
    assert "NBVAL_" not in text
    shown = {mime for c in tagged for o in c.get("outputs", []) for mime in o.get("data", {})}
    assert "application/vnd.plotly.v1+json" not in shown, (
        f"the pages do not load {lectures.DENIED_EXTENSION} (static plotly figures): draw with a FigureWidget")


def test_the_index_links_every_page_in_course_order(built):
    out, pages = built
    index = nbformat.read(out / "index.ipynb", as_version=4)
    text = "\n".join(c.source for c in index.cells if c.cell_type == "markdown")
    linked = re.findall(r"\]\((\d\d_[^)]+\.ipynb)\)", text)
    assert linked == [p.name for p in pages] and linked == sorted(linked)


def test_takeaways_come_from_what_to_remember():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "### What to remember\n\n- one\n- two,\n  continued\n- three\n- four\n\n## References\n- not this")])
    assert lectures.takeaways(nb) == ["one", "two, continued", "three"]


def test_the_voila_command_hides_code_and_shows_errors():
    cmd = lectures.voila_command(9999)
    assert "--strip_sources=True" in cmd and "--show_tracebacks=True" in cmd and "--port=9999" in cmd
    assert any("extension_denylist" in a and lectures.DENIED_EXTENSION in a for a in cmd)


def test_every_figure_of_a_page_loads_plotly_from_one_address(built, tmp_path):
    """Each FigureWidget would carry plotly's 5-MB module in its own state, evaluated once per figure;
    the lecture server serves that module once and the page kernels point every figure at it."""
    import subprocess

    from plotly.basewidget import BaseFigureWidget

    out, _ = built
    assert (out / lectures.PLOTLY_BUNDLE).read_text(encoding="utf-8") == str(BaseFigureWidget._esm)
    url = lectures.environment(9999)["WORKBENCH_PLOTLY_ESM"]
    assert url == f"http://127.0.0.1:9999/voila/files/{lectures.PLOTLY_BUNDLE}"
    allow = next(a for a in lectures.voila_command(9999, root=out) if "file_allowlist" in a)
    assert re.escape(lectures.PLOTLY_BUNDLE) in allow and "png" in allow
    code = ("import plotly.graph_objects as go; from workbench import lecture; lecture.projector(); "
            "print(go.FigureWidget()._esm)")
    for env_url, shown in ((url, url), ("", "export")):     # without the variable, plotly's own module
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                             env={**os.environ, "WORKBENCH_PLOTLY_ESM": env_url})
        assert run.returncode == 0, run.stderr
        last = run.stdout.strip().splitlines()[-1] if env_url else run.stdout    # (projector prints its style)
        assert (last == shown) if env_url else (shown in last), run.stdout[:200]


# The accuracies each page that trains reaches: compared between the course's stored run and a fresh one.
# Only accuracies, within 5 points: on another CPU the same training rounds differently, and which
# channel a threshold removes can flip; accuracies stay close unless the training itself changed.
TRAINED = {"02": "print(json.dumps(table[['val_acc', 'val_acc_fine_tuned']].round(4).values.tolist()))",
           "09": "print(json.dumps([round(a, 4) for a in accs]))"}


def _run_page(path: Path, env: dict) -> list[str]:
    """Execute a lecture page as Voila's kernel would, then its TRAINED cell; return every text output."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(new_code_cell("import json\n" + TRAINED[path.name[:2]]))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
                   ).execute(env={**os.environ, **lectures.environment(9999), **env})
    return [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.slow
@pytest.mark.parametrize("number", sorted(TRAINED))
def test_a_page_that_trains_opens_on_the_courses_stored_run_and_a_fresh_run_agrees(number, built, tmp_path):
    """Pages 02 and 09 train a network; the run stored in data/replays/ (tools/lectures.py ship)
    makes them open in seconds. The page must still find it (same call, same module, same random
    state), and training afresh must still give the same numbers: otherwise ship again."""
    out, pages = built
    page = next(p for p in pages if p.name.startswith(number))
    stored = _run_page(page, {"WORKBENCH_CACHE_DIR": str(tmp_path / "empty")})
    assert any("from the course's stored run" in t for t in stored), (
        f"{page.name} trained instead of replaying data/replays/: run `python tools/lectures.py ship`")
    fresh = _run_page(page, {"WORKBENCH_CACHE": "off"})
    assert not any("replayed" in t for t in fresh)
    a, b = (np.asarray(json.loads(t[-1]), dtype=float) for t in (stored, fresh))
    assert a.size and a.shape == b.shape and np.allclose(a, b, rtol=0, atol=0.05), (
        f"{page.name}: a fresh run no longer matches the stored one ({a} vs {b}): run `python tools/lectures.py ship`")


# ---------------------------------------------------------------- in a real browser

@pytest.fixture(scope="module")
def voila(built):
    out, pages = built
    port = free_port()
    # as `make lecture` runs it: the kernels pick matplotlib's inline backend, not the suite's Agg
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update({**lectures.environment(port), "JUPYTER_CONFIG_DIR": str(out / ".config")})
    url = f"http://127.0.0.1:{port}"
    with serve(lectures.voila_command(port, root=out), cwd=out, env=env,
               ready_url=f"{url}/voila/render/index.ipynb", log=out / "voila.log", name="Voila", tries=120):
        yield url, pages


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")
def test_every_lecture_page_renders_and_answers(voila):
    from playwright.sync_api import expect, sync_playwright

    url, pages = voila
    ARTIFACTS.mkdir(exist_ok=True)
    report = {}
    with sync_playwright() as p:
        browser = launch(p)
        for page_path in pages:
            errors: list[str] = []
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            loads: list[str] = []
            page.on("request", lambda r, loads=loads: loads.append(r.url) if lectures.PLOTLY_BUNDLE in r.url else None)
            page.add_init_script(PROBE)
            start = time.perf_counter()
            page.goto(f"{url}/voila/render/{page_path.name}", timeout=120_000)
            slider = page.locator(".widget-slider .noUi-handle, .widget-dropdown select").first
            expect(slider).to_be_visible(timeout=120_000)
            ready = time.perf_counter() - start
            assert page.get_by_text("Error displaying widget").count() == 0
            assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                has_text="Traceback").count() == 0
            page.wait_for_timeout(1_000)                    # the panel's figures render after its table
            assert page.evaluate(EMPTY_FIGURES) == [], f"{page_path.name}: figures drawn empty"
            if page.locator(".js-plotly-plot").count():
                assert len(loads) == 1, f"{page_path.name}: plotly's module requested {len(loads)} times"
            trains = page.locator("button", has_text=re.compile(r"\b(run|train)\b", re.I)).count() > 0
            moved = move_every_control(page, expect_table=not trains)
            assert moved, f"{page_path.name}: no slider or dropdown answered the keyboard"
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 2, f"{page_path.name}: the page is {overflow} px wider than a 1280-px screen"
            clipped = page.evaluate(CLIPPED)
            assert not clipped, f"{page_path.name}: outputs wider than the page and cut off: {clipped}"
            for plot in page.locator(".js-plotly-plot").all():
                box, parent = plot.bounding_box(), plot.locator("xpath=..").bounding_box()
                if box and parent:
                    assert box["width"] <= parent["width"] + 2, f"{page_path.name}: a figure wider than its container"
            page.screenshot(path=str(ARTIFACTS / f"lecture_{page_path.stem[:2]}.png"), full_page=False)
            bad = [e for e in errors if not re.search(r"fonts|favicon|fontawesome", e)]
            assert not bad, (page_path.name, bad)
            report[page_path.name] = {"ready_s": round(ready, 1), "controls_moved": moved}
            page.close()
        browser.close()
    (ARTIFACTS / "lecture_ready_s.json").write_text(json.dumps(report, indent=1))


# Outputs whose content is wider than their box and that do not scroll: the rest is cut off.
CLIPPED = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output, .jp-RenderedHTMLCommon'))
  .filter(e => e.scrollWidth > e.clientWidth + 2 && !['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
  .map(e => e.innerText.slice(0, 60))"""

_TABLE = "() => { const t = document.querySelector('.widget-html-content table'); return t ? t.innerText : ''; }"


def move_every_control(page, *, expect_table: bool) -> int:
    """Press a key on every slider and dropdown and let the kernel answer each, with no traceback.

    Each control must take the key (its readout or selection changes); post-training
    panels (``expect_table``) must re-measure: the report table changes. Returns how
    many controls were moved.
    """
    moved, changed = 0, False
    for control in page.locator(".widget-slider .noUi-handle, .widget-dropdown select").all():
        if not control.is_visible() or control.is_disabled():
            continue
        table = page.evaluate(_TABLE)
        if not any(press(page, control, key) for key in control_keys(control)):   # at its end: back
            raise AssertionError(f"{page.url}: a control took neither key {control_keys(control)}")
        page.wait_for_function(SETTLED, timeout=120_000, polling=100)
        assert page.locator(".widget-html-content", has_text="Traceback").count() == 0, page.url
        changed |= page.evaluate(_TABLE) != table
        moved += 1
    if expect_table:
        assert changed, f"{page.url}: no move re-measured the report table"
    return moved
