"""Committed notebooks: executed, small, portable, free of widget state."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted(Path(__file__).resolve().parent.parent.glob("notebooks/[0-9]*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name.startswith("00_")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    raw = path.read_text()
    nb = json.loads(raw)
    assert "widgets" not in nb["metadata"], "widget state must be stripped (python tools/notebooks.py strip)"
    assert len(raw.encode()) < 400_000
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    unexecuted = [i for i, c in enumerate(code) if c["execution_count"] is None and "".join(c["source"]).strip()]
    assert not unexecuted, "every code cell needs stored outputs for nbval"
    assert "wb.setup(" in "".join(code[0]["source"]), "the first code cell seeds and sets threads"
    assert not re.search(r"/(work|root|home|tmp|Users)/", raw), "outputs must not hold machine paths"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_cells_are_short(path):
    nb = json.loads(path.read_text())
    long = [("".join(c["source"]).splitlines()[0]) for c in nb["cells"]
            if c["cell_type"] == "code" and len("".join(c["source"]).strip().splitlines()) > 15]
    assert not long, f"move logic into workbench/: {long}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_nbval_markers_are_alone_on_their_line(path):
    # nbval only honours "# NBVAL_..." when nothing else follows on the line
    nb = json.loads(path.read_text())
    lines = [line.strip() for c in nb["cells"] if c["cell_type"] == "code"
             for line in "".join(c["source"]).splitlines() if "NBVAL_" in line]
    bad = [line for line in lines if not re.fullmatch(r"#\s*NBVAL_[A-Z_]+", line)]
    assert not bad, f"put the reason on the next line: {bad}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_links_to_other_notebooks_resolve(path):
    nb = json.loads(path.read_text())
    text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    targets = re.findall(r"\]\(([^)#\s]+\.ipynb)", text)
    missing = [t for t in targets if not (path.parent / t).exists()]
    assert not missing, f"dead links: {missing}"
