"""Measure the numeric goals of "panels and figures that read right" and print each next to its goal.

    python benchmarks/panels.py          # about a minute on 2 quiet cores

- explorer moves answer in <= 250 ms (median), notebook 00's and 01's explorers;
- the quick latency reads as a trend: over moves that keep the same baseline, how far
  the baseline's shown figure swings (max / min), the old way (``compare_latency``,
  one warm-up, 20 runs or 0.1 s, the session's threads, a fresh figure each move)
  against the explorer's (``quick_compare`` + the median of the baseline's timings);
- notebook 00's explorer never shows a larger batch faster than a smaller one;
- every panel figure is at most 900 px wide (plotly width None or capped);
- the machine check of ``tools/notebooks.py`` on this machine now.

Results also go to benchmarks/results/panels.json (git-ignored).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import workbench as wb  # noqa: E402
from workbench.latency import compare_latency  # noqa: E402

ROWS: list[dict] = []


def row(goal: str, measured: str, target: str, ok: bool | None) -> None:
    verdict = "n/a" if ok is None else ("MET" if ok else "NOT MET")
    ROWS.append({"goal": goal, "measured": measured, "target": target, "verdict": verdict})
    print(f"  -> {goal}: {measured} (target {target}) {verdict}", flush=True)


def time_moves(explorer, moves) -> list[float]:
    out = []
    for name, value in moves:
        start = time.perf_counter()
        explorer.controls[name].value = value
        out.append(1e3 * (time.perf_counter() - start))
    assert not explorer.errors, explorer.errors
    return out


def swing(values: list[float]) -> float:
    return max(values) / min(values)


def main() -> int:
    wb.setup(seed=0)
    ds = wb.load()
    # ---- moves and trend, notebook 01's explorer (the baseline stays LeNet-5 at batch 32)
    from workbench.pruning import make_explorer

    ex = make_explorer("lenet5", ds)
    amounts = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 0.15, 0.35, 0.55, 0.75]
    ms = time_moves(ex, [("amount", a) for a in amounts])
    row("01 explorer move, median", f"{statistics.median(ms):.0f} ms (max {max(ms):.0f} ms)", "<= 250 ms",
        statistics.median(ms) <= 250)
    shown = []
    for a in amounts:
        ex.controls["amount"].value = a
        shown.append(ex.baseline_latency(32).median_ms)
    old = [compare_latency({"baseline": ex.baseline, "model": ex.model}, ds.input_shape, batch_size=32, repeats=20,
                           warmup=1, budget_s=ex.budget_s)["baseline"].median_ms for _ in amounts]
    row("baseline figure swing over 12 moves, explorer now", f"{swing(shown):.2f}× (max/min)", "<= 1.5×",
        swing(shown) <= 1.5)
    row("baseline figure swing over 12 moves, old quick timing", f"{swing(old):.2f}× (max/min)", "for comparison",
        None)
    spreads = [ex.history()["latency_ms"].max() / ex.history()["latency_ms"].min()]
    row("pruned models' latency range (trend, not noise)", f"{spreads[0]:.2f}× (slowest/fastest)", "n/a", None)
    # ---- notebook 00's explorer: moves, and no larger batch faster than a smaller one
    m0 = wb.explorer.model_explorer(ds)
    moves = [("batch_size", b) for b in (2, 4, 8, 16, 32, 64, 128)] + [("name", "lenet300")] + [
        ("batch_size", b) for b in (64, 32, 16, 8, 4, 2, 1)]
    ms = time_moves(m0, moves)
    row("00 explorer move, median", f"{statistics.median(ms):.0f} ms (max {max(ms):.0f} ms)", "<= 250 ms",
        statistics.median(ms) <= 250)
    h = m0.history()
    inversions = 0
    for name, g in h.groupby("name"):
        lat = g.sort_values("batch_size")["latency_ms"].tolist()
        inversions += sum(b * 1.25 < a for a, b in zip(lat, lat[1:]))
    row("00 explorer: a larger batch shown >1.25× faster than a smaller one", f"{inversions} of {len(h)} points",
        "0", inversions == 0)
    # ---- figure widths
    from workbench.quantization.explorer import make_explorer as quant

    q = quant(ds, model="lenet5")
    figs = [ex.figure, ex.sensitivity.figure, m0.figure, q.histogram, q.comparison_figure, ex.monitor.figure]
    widths = [f.layout.width for f in figs]
    row("panel figure widths", f"{['auto' if w is None else w for w in widths]}", "auto or <= 900 px",
        all(w is None or w <= 900 for w in widths))
    # ---- the machine check that guards stored outputs
    import notebooks as nbtool

    check = nbtool.check_machine()
    row("machine check now", str(check), "quiet to store outputs", check.quiet)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (explorer timings: 1 thread)")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "panels.json").write_text(json.dumps(ROWS, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
