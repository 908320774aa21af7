"""How fast the explorers answer a slider move (target: <= 250 ms median, post-training).

    python benchmarks/slider_latency.py            # or: make bench

Each case builds the explorer a notebook shows, then moves one control through
values it has not measured yet (a cache hit would be instant and prove nothing),
timing each synchronous callback end to end: compression, encoding, evaluation
on the 1,000 test digits, quick latency, redrawing the plots and the table.
Techniques add their cases in CASES below.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

import workbench as wb

RESULTS = Path(__file__).resolve().parent / "results"


def _model_explorer(ds):
    ex = wb.explorer.model_explorer(ds)
    moves = [("batch_size", v) for v in (2, 4, 8, 16, 32, 64)] + [("name", n) for n in ("lenet300", "vgg")] + [
        ("batch_size", v) for v in (1, 128)]
    return ex, moves


CASES = {
    "00 model and batch size": _model_explorer,
}


def time_moves(explorer, moves) -> list[float]:
    """Seconds per move, each to a setting the explorer has not measured yet."""
    out = []
    for name, value in moves:
        start = time.perf_counter()
        explorer.controls[name].value = value
        out.append(time.perf_counter() - start)
        if explorer.errors:
            raise explorer.errors[-1]
    return out


def main() -> int:
    wb.setup(seed=0)
    ds = wb.load("digits")
    rows = []
    for label, factory in CASES.items():
        explorer, moves = factory(ds)
        seconds = time_moves(explorer, moves)
        ms = sorted(1e3 * s for s in seconds)
        rows.append({"case": label, "moves": len(ms), "median_ms": statistics.median(ms), "max_ms": ms[-1]})
    print(f"{'explorer':34s} {'moves':>5s} {'median':>9s} {'max':>9s}  (target: median <= 250 ms)")
    for r in rows:
        flag = "ok" if r["median_ms"] <= 250 else "OVER"
        print(f"{r['case']:34s} {r['moves']:5d} {r['median_ms']:7.1f} ms {r['max_ms']:7.1f} ms  {flag}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "slider_latency.json").write_text(json.dumps(rows, indent=2))
    return 0 if all(r["median_ms"] <= 250 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
