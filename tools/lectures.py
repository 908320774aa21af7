"""Lecture pages: each technique's explorer and key figure on a clean page, served by Voila.

    python tools/lectures.py build            # notebooks/ -> lectures/ (git-ignored)
    python tools/lectures.py serve            # build, then serve with Voila (make lecture)
    python tools/lectures.py serve --warm     # run every page once first: training is replayed
    python tools/lectures.py ship             # store the pages' training runs in data/replays/

A notebook joins the lecture mode by tagging cells, nothing else:

- ``lecture``: code cells the page runs, in notebook order (the first code cell,
  the one that builds the explorer, the one that draws the key figure);
- the first three bullets under ``### What to remember`` become the page's takeaways.

The pages are generated from the notebooks every time, so they never drift from
them, and the widgets are the notebooks' own (the same ``make_explorer`` calls).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
LECTURES = ROOT / "lectures"
TAG = "lecture"
PLOTLY_BUNDLE = "plotly-widget.js"       # the installed plotly's widget module, served once to every figure
DENIED_EXTENSION = "jupyterlab-plotly"   # the renderer of static plotly figures; see voila_command
STYLE_CELL = "from workbench import lecture\nlecture.projector()"


def _title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "Untitled"


def takeaways(nb, n: int = 3) -> list[str]:
    """The first ``n`` bullets under the notebook's ``### What to remember`` heading."""
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    _, _, after = text.partition("### What to remember")
    if not after:
        _, _, after = text.partition("## What to remember")
    bullets = []
    for line in after.splitlines():
        if line.startswith("#"):
            break
        if line.startswith(("- ", "* ")):
            bullets.append(line[2:].strip())
        elif bullets and line.startswith("  ") and line.strip():
            bullets[-1] += " " + line.strip()
    return bullets[:n]


def lecture_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and TAG in c.get("metadata", {}).get("tags", [])]


def page(path: Path) -> nbformat.NotebookNode | None:
    """The lecture page of one notebook, or None when it tags no cell."""
    nb = nbformat.read(path, as_version=4)
    code = lecture_cells(nb)
    if not code:
        return None
    cells = [new_code_cell(STYLE_CELL), new_markdown_cell(f"# {_title(nb)}")]
    cells += [new_code_cell(_strip_markers(c.source)) for c in code]
    points = takeaways(nb)
    if points:
        cells.append(new_markdown_cell("### Three takeaways\n\n" + "\n".join(f"1. {p}" for p in points)))
    cells.append(new_markdown_cell(f"[All lectures](index.ipynb) · the full notebook: `notebooks/{path.name}`"))
    out = new_notebook(cells=cells)
    out.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    return out


def _strip_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not re.match(r"\s*#\s*NBVAL_", line))


def build(out: Path = LECTURES, src: Path = NOTEBOOKS) -> list[Path]:
    """Write one page per notebook of ``src`` that tags lecture cells, and the index; return the pages."""
    out.mkdir(exist_ok=True)
    for old in out.glob("*.ipynb"):
        old.unlink()
    pages, links = [], []
    for path in sorted(src.glob("[0-9]*.ipynb")):
        nb = page(path)
        if nb is None:
            continue
        target = out / path.name
        nbformat.write(nb, target)
        pages.append(target)
        links.append(f"1. [{_title(nb)}]({path.name})")
    index = new_notebook(cells=[new_code_cell(STYLE_CELL), new_markdown_cell(
        "# Model compression: lectures\n\nEach page is one technique's explorer and the figure that carries "
        "its lesson, with three takeaways. Move the controls; the numbers are measured live on this machine.\n\n"
        + "\n".join(links))])
    index.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nbformat.write(index, out / "index.ipynb")
    _copy_plotly_bundle(out)
    return pages


def _copy_plotly_bundle(out: Path) -> None:
    """Put the installed plotly's widget module beside the pages, for Voila to serve (see ``environment``)."""
    from plotly.basewidget import BaseFigureWidget

    text = str(BaseFigureWidget._esm)          # exactly what each figure would otherwise carry
    if text.startswith(("http://", "https://")):
        raise RuntimeError("plotly's widget module is already an address; build the pages in a fresh process")
    (out / PLOTLY_BUNDLE).write_text(text, encoding="utf-8")


def environment(port: int) -> dict[str, str]:
    """What the page kernels need besides the server's environment: two threads (as on the
    course's reference machine) and the address of the shared plotly module
    (``workbench.lecture.share_plotly_module``)."""
    from workbench.lecture import ESM_ENV

    return {"WORKBENCH_THREADS": os.environ.get("WORKBENCH_THREADS", "2"),
            ESM_ENV: f"http://127.0.0.1:{port}/voila/files/{PLOTLY_BUNDLE}"}


def voila_command(port: int = 8866, *, root: Path = LECTURES, preheat: bool = False) -> list[str]:
    """The Voila command that serves the lecture pages (no code cells, tracebacks shown)."""
    cmd = [sys.executable, "-m", "voila", str(root), "--no-browser", f"--port={port}", "--strip_sources=True",
           "--show_tracebacks=True", "--Voila.ip=127.0.0.1", "--theme=light",
           # Voila's default (images) plus the plotly module that every figure of a page imports once
           "--VoilaConfiguration.file_allowlist=['.*\\.(png|jpg|gif|svg)', '" + re.escape(PLOTLY_BUNDLE) + "']",
           # plotly's JupyterLab extension (4.7 MB of JavaScript) renders static plotly figures, which no
           # page shows (FigureWidgets come through anywidget): not loading it saves every page ~0.5 s
           "--VoilaConfiguration.extension_denylist=['" + DENIED_EXTENSION + "']"]
    if preheat:
        cmd += ["--preheat_kernel=True", "--pool_size=1"]
    return cmd


def warm(pages: list[Path], env: dict) -> None:
    """Run each page once in a kernel of its own, so that its training (``workbench.replay``) is stored
    and the lecture's first visit replays it instead of training."""
    import time

    from nbclient import NotebookClient

    for path in pages:
        start = time.perf_counter()
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
                       ).execute(env=env)                       # the environment Voila's kernel gets
        print(f"  warmed {path.name} in {time.perf_counter() - start:.0f} s", flush=True)


def ship(pages: list[Path], env: dict) -> list[Path]:
    """Train what the pages train, from scratch, and store those runs in ``data/replays/`` with the
    key that survives unrelated code changes (``workbench.replay``): a page then opens on any
    machine without training. Run it after changing a page's training call or its module."""
    import tempfile

    from workbench import replay

    for old in replay.SHIPPED.glob("*.xz"):
        old.unlink()
    with tempfile.TemporaryDirectory() as scratch:        # an empty cache: every run trains
        warm(pages, {**env, replay.SHIP_ENV: str(replay.SHIPPED), "WORKBENCH_CACHE_DIR": scratch})
    stored = sorted(replay.SHIPPED.glob("*.xz"))
    for path in stored:
        print(f"  stored {path.relative_to(ROOT)} ({path.stat().st_size:,} bytes)")
    return stored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["build", "serve", "ship"])
    parser.add_argument("--port", type=int, default=8866)
    parser.add_argument("--preheat", action="store_true", help="keep one ready kernel per page (opens instantly)")
    parser.add_argument("--warm", action="store_true", help="run every page once before serving (replays training)")
    args = parser.parse_args(argv)
    pages = build()
    print(f"{len(pages)} lecture pages in {LECTURES.relative_to(ROOT)}/: " + ", ".join(p.stem[:2] for p in pages))
    if args.command == "ship":
        ship(pages, {**os.environ, **environment(args.port)})
        return 0
    if args.command == "serve":
        print(f"open http://127.0.0.1:{args.port}/voila/render/index.ipynb")
        env = {**os.environ, **environment(args.port)}
        if args.warm:
            warm(pages, env)
        return subprocess.call(voila_command(args.port, preheat=args.preheat), env=env, cwd=LECTURES)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
