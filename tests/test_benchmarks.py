"""The benchmark scripts parse, and every slider-benchmark case returns (explorer, moves).

Running them is `make bench`'s job (minutes, and timings belong there); this catches a
script broken by a merge before anyone waits for it.
"""

import ast
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_benchmark_parses(path):
    ast.parse(path.read_text(), filename=str(path))


def test_every_slider_case_returns_an_explorer_and_moves():
    tree = ast.parse((BENCH / "slider_latency.py").read_text())
    factories = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.endswith("_explorer")}
    cases = next(n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "CASES")
    named = [v.elts[0].id for v in cases.value.values]
    assert sorted(named) == sorted(factories), "every factory is a case, every case a factory"
    for name, fn in factories.items():
        returns = [r for r in ast.walk(fn) if isinstance(r, ast.Return)]
        assert returns and all(isinstance(r.value, ast.Tuple) and len(r.value.elts) == 2 for r in returns), name
    labels = [k.value for k in cases.value.keys]
    assert labels == sorted(labels), "cases in course order"
