"""Every numbered notebook follows the lesson structure of CONTRIBUTING.md.

What a regex can check is checked here: the sections and their order, the first cell's
dataset switch, a report table in the summary, a reference for every work cited, and
no development vocabulary. The rest (prose that reads its output) is for reviewers.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(ROOT.glob("notebooks/[0-9]*.ipynb"))
TECHNIQUES = [p for p in NOTEBOOKS if not p.name.startswith("00_")]
# headings every technique notebook has, in this order
SECTIONS = ("learning objectives", "pitfalls", "exercises", "summary", "what to remember", "references")
CITATION = re.compile(
    r"\b([A-Z][A-Za-zÀ-ÿǎ'-]+)(?:,? (?:et al\.|&|and) [A-Z][A-Za-zÀ-ÿǎ'-]+(?: & [A-Z][A-Za-zÀ-ÿǎ'-]+)?| et al\.)?"
    r",? \(?((?:19|20)\d\d)[a-z]?\b")
DEV_WORDS = re.compile(r"\bthe issue\b|\bissue's\b|\btarget of\b|\bTODO\b|\bFIXME\b|\bthis notebook aimed\b", re.I)


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _headings(path):
    return [line.lstrip("#").strip().lower() for c in _cells(path) if c["cell_type"] == "markdown"
            for line in "".join(c["source"]).splitlines() if line.startswith("#")]


def _markdown_split(path):
    """(text before ## References, text of ## References)."""
    text = "\n".join("".join(c["source"]) for c in _cells(path) if c["cell_type"] == "markdown")
    body, _, refs = text.partition("## References")
    return body, refs


@pytest.mark.parametrize("path", TECHNIQUES, ids=lambda p: p.name)
def test_sections_in_order(path):
    heads = _headings(path)
    found = [next((i for i, h in enumerate(heads) if h.startswith(s) or s in h), None) for s in SECTIONS]
    missing = [s for s, i in zip(SECTIONS, found) if i is None]
    assert not missing, f"missing sections: {missing}"
    assert found == sorted(found), f"sections out of order: {dict(zip(SECTIONS, found))}"


@pytest.mark.parametrize("path", TECHNIQUES, ids=lambda p: p.name)
def test_objectives_say_what_you_can_do_and_how_long(path):
    cells = _cells(path)
    md = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    objectives = next(t for t in md if t.lower().startswith("## learning objectives"))
    bullets = [line for line in objectives.splitlines() if line.lstrip().startswith(("-", "*", "1", "2", "3"))]
    assert 3 <= len(bullets) <= 6, "3-5 'after this notebook you can' lines"
    assert re.search(r"\b(minute|seconds?)\b", objectives), "say how long the notebook takes to run"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_honours_the_dataset_switch(path):
    code = ["".join(c["source"]) for c in _cells(path) if c["cell_type"] == "code"]
    first = code[0]
    assert "wb.setup(" in first
    assert re.search(r"\bwb\.load\(\s*\)", first), "load the course-wide dataset: ds = wb.load()"
    named = [m for c in code for m in re.findall(r"wb\.load\(\s*['\"]\w+", c)]
    assert not named, f"a notebook must not hard-code its dataset: {named}"
    hard = [m for c in code for m in re.findall(r"get_baseline\([^)]*dataset\s*=\s*['\"]", c)]
    assert not hard, f"baselines follow the switch: {hard}"


@pytest.mark.parametrize("path", TECHNIQUES, ids=lambda p: p.name)
def test_summary_is_a_report_table(path):
    cells = _cells(path)
    start = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
                 and "".join(c["source"]).lower().startswith("## summary"))
    following = []
    for c in cells[start + 1:]:
        if c["cell_type"] == "markdown" and "".join(c["source"]).startswith("## "):
            break
        following.append(c)
    code = "".join("".join(c["source"]) for c in following if c["cell_type"] == "code")
    assert "report(" in code, "the summary shows the common report table"
    html = [o for c in following if c["cell_type"] == "code" for o in c.get("outputs", [])
            if "text/html" in o.get("data", {}) and "<table" in "".join(o["data"]["text/html"])]
    assert html, "the summary table's output is stored"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_citation_has_a_reference(path):
    body, refs = _markdown_split(path)
    if path.name.startswith("00_") and not refs:
        pytest.skip("notebook 00 cites no papers")
    assert refs, "a ## References section at the end"
    assert re.search(r"arxiv\.org|doi\.org|https?://", refs), "references carry links"
    cited = {(name, year) for name, year in CITATION.findall(body)
             if name not in {"In", "On", "The", "From", "See", "Since", "By", "At", "Until", "Figure", "Table"}}
    missing = sorted((n, y) for n, y in cited if not re.search(rf"{re.escape(n)}\b[^\n]*\b{y}", refs))
    assert not missing, f"cited in the text, missing from ## References: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_development_vocabulary(path):
    body, _ = _markdown_split(path)
    assert not DEV_WORDS.findall(body), "notebooks speak to students"


def test_template_follows_the_structure():
    template = ROOT / "tools" / "lesson_template.ipynb"
    heads = _headings(template)
    for s in SECTIONS:
        assert any(h.startswith(s) for h in heads), s
