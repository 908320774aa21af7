"""Measure every numeric target of notebook 07 (efficient architectures) and print them next to the targets.

    python benchmarks/efficient.py                # everything (a few minutes on 2 cores)
    python benchmarks/efficient.py --threads 1    # thread count for every measurement

The experiments are the notebook's own functions (``workbench.efficient``); the
α × resolution grid is the stored one (``python -m workbench.efficient.grid``
retrains it). Latencies are medians of interleaved runs; each ratio is measured
within one run. Results also go to benchmarks/results/efficient.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import workbench as wb  # noqa: E402
from workbench import efficient as ef  # noqa: E402

RESULTS: dict = {}
ROWS: list[tuple[str, str, str, str]] = []   # (target, measured, goal, verdict)


def row(target: str, measured: str, goal: str, ok: bool | None) -> None:
    verdict = "n/a" if ok is None else ("MET" if ok else "NOT MET")
    ROWS.append((target, measured, goal, verdict))
    print(f"  -> {target}: {measured} (target {goal}) {verdict}", flush=True)


def macs_against_formula() -> None:
    print("\n[macs] the notebook's blocks, counted by wb.count_macs against the formulas", flush=True)
    net = ef.build_net("separable")
    c, sizes = net.channels, (14, 7, 7)
    exact, cuts = True, []
    for c_in, c_out, size in zip(c[:-1], c[1:], sizes):
        t = ef.block_costs(c_in, c_out, size)
        exact &= bool((t["macs"] == t["formula"]).all())
        cuts.append(float(t.loc["separable", "MAC cut"]))
        print(f"  {c_in} -> {c_out} on {size}x{size}: standard {t.loc['standard', 'macs']:,}, separable "
              f"{t.loc['separable', 'macs']:,} ({cuts[-1]:.2f}x fewer)")
    RESULTS["macs"] = dict(exact=exact, cuts=cuts)
    row("separable MACs equal the formula (count_macs)", "exact" if exact else "differ", "exact", exact)
    row("3x3 separable block MAC cut at the notebook's widths", f"{min(cuts):.2f}x to {max(cuts):.2f}x",
        ">= 7x", min(cuts) >= 7.0)


def mac_shares() -> None:
    print("\n[shares] torchvision reference networks (untrained, 224 px): where the MACs go", flush=True)
    shares = ef.reference_shares()
    print(shares.round(3).to_string())
    RESULTS["shares"] = shares.to_dict(orient="index")
    row("MobileNetV2 MACs in 1x1 convolutions", f"{shares.loc['mobilenet_v2', '1x1 conv']:.1%}",
        "printed (paper: ~95% for MobileNet v1)", None)


def grid(ds) -> None:
    print("\n[grid] stored alpha x resolution grid, measured now on the test split", flush=True)
    g = ef.load_grid(ds.name)
    table = ef.grid_table(g, ds)
    print(table.round(4).to_string(index=False))
    size = ef.grid.grid_path(ds.name).stat().st_size
    alphas, resolutions = table["alpha"].nunique(), table["resolution"].nunique()
    close = ef.cheap_and_close(table, pp=1.0, cut=3.0, full=(1.0, 28))
    RESULTS["grid"] = dict(table=table.to_dict(orient="records"), bytes=size,
                           close=close.to_dict(orient="records"))
    row("alpha x resolution grid", f"{alphas} x {resolutions} = {len(table)} trained networks", ">= 4 x 4",
        alphas >= 4 and resolutions >= 4)
    designs = ef.grid.designs_path(ds.name).stat().st_size
    row("stored networks (grid + the other designs)", f"{size:,} + {designs:,} = {size + designs:,} bytes",
        "<= ~300 KB", size + designs <= 300_000)
    recorded = {**ef.grid.recorded_accuracy(ef.grid.grid_path(ds.name)),
                **ef.grid.recorded_accuracy(ef.grid.designs_path(ds.name))}
    drift = max(abs(v["stored"] - v["trained"]) for v in recorded.values())
    row("stored (int8/fp16) against trained test accuracy, worst network", f"{100 * drift:.1f} pp",
        "<= 0.1 pp", drift <= 0.001 + 1e-9)
    if len(close):
        best = close.sort_values("MAC cut").iloc[-1]
        text = (f"{len(close)} points; e.g. alpha {best['alpha']:g}, {int(best['resolution'])} px: "
                f"{best['MAC cut']:.1f}x fewer MACs, {best['Δ acc (pp)']:+.2f} pp")
    else:
        text = "no point"
    row("within 1 pp of the full network at >= 3x fewer MACs", text, ">= 1 point", len(close) >= 1)


def latency(threads: int | None, repeats: int) -> None:
    print("\n[latency] standard vs separable 3x3 block, 64 -> 64 channels on 14x14, interleaved", flush=True)
    t = ef.time_blocks(64, 14, batches=(1, 32), repeats=repeats, threads=threads)
    print(t.round(4).to_string(index=False))
    RESULTS["latency"] = t.to_dict(orient="records")
    for _, r in t.iterrows():
        row(f"block latency at batch {int(r['batch'])} ({int(r['threads'])} threads)",
            f"standard {r['standard_ms']:.3f} ms, separable {r['separable_ms']:.3f} ms: {r['speedup']:.2f}x "
            f"faster for {r['MAC cut']:.2f}x fewer MACs (speedup / MAC cut {r['speedup / MAC cut']:.2f})",
            "measured and printed", None)


def shuffle(ds) -> None:
    print("\n[shuffle] shuffle block with and without the channel shuffle, alpha 0.5, 20 px, 3 seeds", flush=True)
    runs, _ = ef.shuffle_comparison(ds, alpha=0.5, resolution=20, seeds=(0, 1, 2))
    print(runs.round(4).to_string(index=False))
    means = runs.groupby("block")["test_acc"].agg(["mean", "std"])
    RESULTS["shuffle"] = runs.to_dict(orient="records")
    row("shuffle vs no shuffle (mean of 3 seeds)",
        f"{means.loc['shuffle', 'mean']:.4f} ± {means.loc['shuffle', 'std']:.4f} vs "
        f"{means.loc['noshuffle', 'mean']:.4f} ± {means.loc['noshuffle', 'std']:.4f}", "both printed", None)


def matched(ds, threads: int | None, repeats: int) -> None:
    print("\n[matched] designed separable network vs the standard one pruned / distilled to its MACs", flush=True)
    grid, designs = ef.load_grid(ds.name), ef.load_designs(ds.name)
    table, _ = ef.matched_budget(ds, grid[(1.0, 28)], designs[("standard", 1.0, 28, 0)], repeats=repeats,
                                 threads=threads)
    print(table.round(4).to_string())
    RESULTS["matched"] = table.reset_index().to_dict(orient="records")
    gap = abs(table.loc["pruned", "MACs / designed"] - 1)
    row("pruned network's MACs against the designed one's", f"{table.loc['pruned', 'MACs / designed']:.3f}",
        "within a few %", gap <= 0.05)
    accs = ", ".join(f"{name} {acc:.3f}" for name, acc in table["test_acc"].items())
    row("test accuracy at matched MACs", accs, "printed", None)
    lat = ", ".join(f"{name} {ms:.3f} ms" for name, ms in table["latency_ms"].items())
    row("latency at batch 1 (interleaved)", lat, "printed", None)


def slider(ds) -> None:
    print("\n[slider] explorer moves to grid settings not shown yet", flush=True)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from slider_latency import _efficient_explorer, time_moves      # the same case as the slider benchmark

    explorer, moves = _efficient_explorer(ds)
    seconds = time_moves(explorer, moves)
    ms = sorted(1e3 * s for s in seconds)
    RESULTS["slider"] = dict(ms=ms)
    row("explorer move (median)", f"{statistics.median(ms):.1f} ms (max {ms[-1]:.1f} ms, {len(ms)} moves)",
        "<= 250 ms", statistics.median(ms) <= 250)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WORKBENCH_THREADS", "0")) or None)
    parser.add_argument("--repeats", type=int, default=50, help="timed runs per latency comparison")
    args = parser.parse_args(argv)
    wb.setup(seed=0, threads=args.threads)
    ds = wb.load()
    start = time.perf_counter()
    macs_against_formula()
    mac_shares()
    grid(ds)
    latency(args.threads, args.repeats)
    shuffle(ds)
    matched(ds, args.threads, args.repeats)
    slider(ds)
    print(f"\n{'target':55s} {'measured':70s} {'goal':28s} verdict")
    for target, measured, goal, verdict in ROWS:
        print(f"{target:55s} {measured:70s} {goal:28s} {verdict}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {time.perf_counter() - start:.0f} s")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "efficient.json").write_text(json.dumps(RESULTS, indent=2, default=str))
    return 0 if all(v != "NOT MET" for *_, v in ROWS) else 1


if __name__ == "__main__":
    sys.exit(main())
