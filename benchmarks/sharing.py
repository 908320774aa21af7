"""Measure every numeric goal of notebook 03 (weight sharing, Deep Compression) and print each next to its goal.

    python benchmarks/sharing.py                  # everything (a few minutes on 2 cores)
    python benchmarks/sharing.py --only lenet300  # one part: lenet300, lenet5, slider

The pipelines are the notebook's own (``sharing.deep_compress`` with ``sharing.RECIPES``):
every size is ``len(bytes)`` of an encoding that is decoded back, and every accuracy
is measured on the decoded model (test split). Results also go to
benchmarks/results/sharing.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import workbench as wb  # noqa: E402
from workbench import sharing as sh  # noqa: E402

RESULTS: dict = {}
ROWS: list[tuple[str, str, str, str]] = []   # (goal, measured, wanted, verdict)
RUNS: dict = {}


def row(goal: str, measured: str, wanted: str, ok: bool | None) -> None:
    verdict = "n/a" if ok is None else ("MET" if ok else "NOT MET")
    ROWS.append((goal, measured, wanted, verdict))
    print(f"  -> {goal}: {measured} (goal {wanted}) {verdict}", flush=True)


def pipeline(ds, name: str, label: str, ratio_goal: float, aim: float | None = None) -> None:
    print(f"\n[{name}] {sh.RECIPES[name]}", flush=True)
    start = time.perf_counter()
    run = sh.deep_compress(name, ds)
    seconds = time.perf_counter() - start
    RUNS[label] = run
    t = run.table
    with pd.option_context("display.width", 160):
        print(t.round(4).to_string())
        print(sh.layer_table(run).to_string())
    decoded_ok = all(t.loc[s, "bytes"] == len(b) and wb.encodings.decode(b) is not None for s, b in run.blobs.items())
    ratio, drop = t.loc["+ Huffman", "ratio"], -t.loc["+ Huffman", "Δ acc (pp)"]
    RESULTS[name] = dict(table=t.reset_index().to_dict(orient="list"), seconds=seconds)
    print(f"  pipeline took {seconds:.1f} s", flush=True)
    row(f"{label} compression (fp32 bytes / final bytes)", f"{ratio:.1f}×", f">= {ratio_goal:g}×"
        + (f", aim {aim:g}×" if aim else ""), ratio >= ratio_goal)
    row(f"{label} accuracy drop (decoded, test)", f"{drop:.2f} pp "
        f"({t.loc['baseline', 'test_acc']:.3f} -> {t.loc['+ Huffman', 'test_acc']:.3f})", "<= 0.5 pp", drop <= 0.5)
    row(f"{label} every stage's size is len(bytes) of a blob that decodes", str(decoded_ok), "True", decoded_ok)


def slider(ds) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from slider_latency import CASES, time_moves

    label = "03 weight sharing (LeNet-5)"
    factory, target = CASES[label]
    explorer, moves = factory(ds)
    ms = sorted(1e3 * s for s in time_moves(explorer, moves))
    median = statistics.median(ms)
    RESULTS["slider"] = dict(median_ms=median, max_ms=ms[-1], moves=len(ms))
    row("explorer move (median, uncached settings)", f"{median:.0f} ms (max {ms[-1]:.0f} ms, {len(ms)} moves)",
        f"<= {target} ms", median <= target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, choices=["lenet300", "lenet5", "slider"])
    args = parser.parse_args(argv)
    wb.setup(seed=0)
    ds = wb.load()
    parts = args.only or ["lenet300", "lenet5", "slider"]
    if "lenet300" in parts:
        pipeline(ds, "lenet300", "LeNet-300-100", 40, aim=45)
    if "lenet5" in parts:
        pipeline(ds, "lenet5", "LeNet-5", 39)
    if RUNS:
        print("\nHan et al. (2016) beside ours:")
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(sh.side_by_side(RUNS).to_string())
    if "slider" in parts:
        slider(ds)
    print("\nSummary (the machine may have been loaded; timings are noisy):")
    for goal, measured, wanted, verdict in ROWS:
        print(f"  {verdict:8s} {goal}: {measured} (goal {wanted})")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "sharing.json").write_text(json.dumps(RESULTS, indent=2, default=str))
    return 0 if all(v != "NOT MET" for *_, v in ROWS) else 1


if __name__ == "__main__":
    sys.exit(main())
