"""Measure every numeric goal of notebook 09 (dynamic computation) and print each next to its goal.

    python benchmarks/dynamic.py               # everything (a minute or two on a quiet 2-core CPU)
    python benchmarks/dynamic.py --threads 1   # thread count for every measurement

The notebook's own recipe and functions: the early-exit network trained jointly
(4 epochs, every width), the entropy threshold chosen on the validation digits,
then the test digits. Latency is the mean per digit over real test digits fed one
at a time (batch 1) with real exits, median of interleaved rounds after warm-up.
Results also go to benchmarks/results/dynamic.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import workbench as wb  # noqa: E402
from workbench import dynamic as dy  # noqa: E402

RESULTS: dict = {}
ROWS: list[tuple[str, str, str, str]] = []   # (goal, measured, target, verdict)
GRID = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]   # the notebook's thresholds
MARGIN_PP = 0.25       # the notebook's validation margin (one validation digit is 0.2 pp)


def row(goal: str, measured: str, target: str, ok: bool | None) -> None:
    verdict = "n/a" if ok is None else ("MET" if ok else "NOT MET")
    ROWS.append((goal, measured, target, verdict))
    print(f"  -> {goal}: {measured} (target {target}) {verdict}", flush=True)


def early_exits(ds, net, sample: int, rounds: int) -> float:
    print(f"\n[early exits] threshold chosen on validation (the notebook's margin: within {MARGIN_PP} pp), "
          "reported on test", flush=True)
    costs = dy.exit_macs(net)
    val, test = dy.exit_logits(net, ds.X_val), dy.exit_logits(net, ds.X_test)
    full_val, full_test = dy.exit_accuracies(val, ds.y_val)[-1], dy.exit_accuracies(test, ds.y_test)[-1]
    threshold = dy.pick_threshold(dy.sweep(val, ds.y_val, costs, GRID), full_val, MARGIN_PP)
    o = dy.outcome(test, ds.y_test, threshold, costs)
    print(dy.sweep(test, ds.y_test, costs, GRID).round(4).to_string())
    drop = 100 * (full_test - o["accuracy"])
    early = 1 - o["fractions"][-1]
    print(f"  threshold {threshold:g}; full {full_test:.4f}, early exits {o['accuracy']:.4f}; fractions "
          f"{[round(f, 3) for f in o['fractions']]}; MACs {costs[-1]:,} -> {o['macs']:,.0f}")
    row("test accuracy lost at the chosen threshold", f"{drop:.2f} pp ({o['accuracy']:.4f} vs {full_test:.4f})",
        "<= 0.5 pp", drop <= 0.5 + 1e-9)
    row("test digits exiting early", f"{early:.1%}", ">= 50%", early >= 0.5)
    row("average MACs per digit", f"{o['macs']:,.0f} vs {costs[-1]:,} ({costs[-1] / o['macs']:.1f}x fewer)",
        "(reported)", None)
    speedups = {}
    for threads in sorted({1, torch.get_num_threads()}):
        lat = dy.per_example_latency({"full": dy.ExitPath(net), "early": dy.EarlyExitModel(net, threshold)},
                                     ds.X_test[:sample], rounds=rounds, threads=threads)
        s = lat["full"].median_ms / lat["early"].median_ms
        speedups[threads] = s
        print(f"  threads={threads}: full {lat['full'].median_ms:.3f} ms (IQR {lat['full'].iqr_ms:.3f}), early exits "
              f"{lat['early'].median_ms:.3f} ms (IQR {lat['early'].iqr_ms:.3f}) per digit over {sample} digits")
        row(f"batch-1 mean latency, full / early exits ({threads} thread{'s' if threads > 1 else ''})",
            f"{s:.2f}x lower", ">= 1.5x", s >= 1.5)
    RESULTS["early_exits"] = dict(threshold=threshold, full_accuracy=full_test, accuracy=o["accuracy"],
                                  fractions=o["fractions"], macs=o["macs"], full_macs=costs[-1], speedups=speedups)
    return threshold


def cascade(ds, sample: int, rounds: int) -> None:
    print("\n[cascade] LeNet-5 -> VGG on the small model's doubt (1 - max softmax)", flush=True)
    small, big = wb.get_baseline("lenet5"), wb.get_baseline("vgg")
    sl, bl = wb.predict(small, ds.X_test), wb.predict(big, ds.X_test)
    sm, bm = wb.count_macs(small, ds.input_shape), wb.count_macs(big, ds.input_shape)
    thresholds = [0.2, 0.05, 0.01]
    table = dy.cascade_table(sl, bl, ds.y_test, thresholds, small_macs=sm, big_macs=bm)
    runs = {"small alone": small, "big alone": big} | {f"cascade, threshold {t:g}": dy.Cascade(small, big, t)
                                                        for t in thresholds}
    lat = dy.per_example_latency(runs, ds.X_test[:sample], rounds=rounds)
    table["latency_ms"] = [lat[name].median_ms for name in table.index]
    print(table.round(4).to_string())
    for name, r in table.iterrows():
        row(f"cascade: {name}", f"accuracy {r.accuracy:.4f}, {r.macs:,.0f} MACs/digit, {r.latency_ms:.3f} ms",
            "(reported)", None)
    RESULTS["cascade"] = table.reset_index().to_dict(orient="records")


def slider(ds, net, moves: list) -> None:
    print("\n[explorer] one control move to a setting not measured yet (latency timed for real)", flush=True)
    lab = dy.make_explorer(net, ds)
    times = []
    for name, value in moves:
        start = time.perf_counter()
        lab.controls[name].value = value
        times.append(time.perf_counter() - start)
        if lab.errors:
            raise lab.errors[-1]
    med = 1e3 * statistics.median(times)
    print(f"  {len(times)} moves: median {med:.1f} ms, max {1e3 * max(times):.1f} ms")
    row("explorer move, median", f"{med:.1f} ms", "<= 250 ms", med <= 250)
    RESULTS["slider_ms"] = [1e3 * t for t in times]


MOVES = [("threshold_1", v) for v in (0.2, 0.5, 1.0, 0.05, 0.01)] + [("threshold_2", v) for v in (0.01, 0.5)] + [
    ("width", 0.5), ("threshold_1", 0.1), ("width", 0.25), ("threshold_2", 0.05)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WORKBENCH_THREADS", "0")) or None)
    parser.add_argument("--sample", type=int, default=500, help="test digits timed one at a time")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per latency comparison")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    RESULTS["environment"] = dict(torch=torch.__version__, threads=torch.get_num_threads(), load_average=load)
    wb.seed_everything(0)
    ds = wb.load()
    start = time.perf_counter()
    net = dy.notebook_network(ds)
    print(f"trained the early-exit network ({dy.NOTEBOOK_RECIPE}) in {time.perf_counter() - start:.1f} s")
    early_exits(ds, net, args.sample, args.rounds)
    cascade(ds, min(args.sample, 300), args.rounds)
    slider(ds, net, MOVES)
    load_end = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"\n=== notebook 09 goals ({time.perf_counter() - start:.0f} s; load average at the end "
          f"{load_end[0]:.2f}) ===")
    w = max(len(r[0]) for r in ROWS)
    m = max(len(r[1]) for r in ROWS)
    for goal, measured, target, verdict in ROWS:
        print(f"{goal:<{w}}  {measured:<{m}}  {target:<11}  {verdict}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    RESULTS["rows"] = ROWS
    (out / "dynamic.json").write_text(json.dumps(RESULTS, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
