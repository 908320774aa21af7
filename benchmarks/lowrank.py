"""Measure every numeric goal of notebook 05 (low-rank decomposition) and print each next to its goal.

    python benchmarks/lowrank.py                   # everything (a few minutes on 2 cores)
    python benchmarks/lowrank.py --only vgg        # one part: lenet300, vgg, identity, crossover, slider
    python benchmarks/lowrank.py --threads 1       # thread count for every measurement

The experiments are the notebook's, through the same package functions; accuracy is
reported on the test split, choices are made on the validation split. Latencies are
medians of interleaved runs; every ratio is measured within one run. Results also go
to benchmarks/results/lowrank.json (git-ignored).
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
from workbench import lowrank as lr  # noqa: E402
from workbench.lowrank import experiments, timing  # noqa: E402

RESULTS: dict = {}
ROWS: list[tuple[str, str, str, str]] = []   # (goal, measured, wanted, verdict)


def row(goal: str, measured: str, wanted: str, ok: bool | None) -> None:
    verdict = "n/a" if ok is None else ("MET" if ok else "NOT MET")
    ROWS.append((goal, measured, wanted, verdict))
    print(f"  -> {goal}: {measured} (goal {wanted}) {verdict}", flush=True)


def identity() -> None:
    print("\n[identity] |W - W_r|_F against sqrt(sum of discarded s^2), float64", flush=True)
    worst = 0.0
    mats = {"random 300x784": torch.randn(300, 784, generator=torch.Generator().manual_seed(0), dtype=torch.float64),
            "LeNet-300-100 fc1": wb.get_baseline("lenet300", progress=False).classifier[1].weight.detach().double()}
    for name, W in mats.items():
        s = torch.linalg.svdvals(W)
        for r in (1, 10, 50, 100, 299):
            err = (W - lr.truncated(W, r)).norm().item()
            worst = max(worst, abs(err - lr.truncation_error(s, r).item()) / err)
    RESULTS["identity_worst_relative_gap"] = worst
    row("SVD Frobenius error identity", f"worst relative gap {worst:.1e}", "equal (test)", worst < 1e-9)


def lenet300(ds) -> None:
    print("\n[lenet300] truncated SVD, ranks chosen on validation (within 0.5 pp), fine-tune 2 epochs lr 1e-4",
          flush=True)
    base = wb.get_baseline("lenet300", progress=False)
    dec = lr.Decomposer(base)
    settings = {r: {"classifier.1": r, "classifier.3": max(1, r // 2)} for r in (5, 10, 20, 30, 40, 60)}
    sweep = experiments.rank_sweep(dec, ds, "svd", settings)
    print(sweep.round(4).to_string())
    rank = experiments.smallest_within(sweep, tolerance=0.005)
    model = dec.decompose("svd", ranks=settings[rank])
    one_shot = wb.evaluate(model, ds.X_test, ds.y_test)
    wb.fine_tune(model, ds, num_epochs=2, lr=1e-4, progress=False)
    acc, base_acc = wb.evaluate(model, ds.X_test, ds.y_test), wb.evaluate(base, ds.X_test, ds.y_test)
    cut = wb.count_params(base) / wb.count_params(model)
    RESULTS["lenet300"] = dict(rank=rank, param_cut=cut, baseline=base_acc, one_shot=one_shot, fine_tuned=acc)
    print(f"  rank {rank}/{rank // 2}: params {wb.count_params(model):,}; test {base_acc:.4f} -> one-shot "
          f"{one_shot:.4f} -> fine-tuned {acc:.4f}")
    row("LeNet-300-100 SVD: fewer parameters", f"{cut:.2f}x", ">= 5x", cut >= 5)
    row("LeNet-300-100 SVD: accuracy after fine-tuning", f"{100 * (acc - base_acc):+.2f} pp ({acc:.3f} vs "
        f"{base_acc:.3f})", "within 1 pp", acc >= base_acc - 0.01)


def vgg(ds, repeats: int) -> None:
    print("\n[vgg] Tucker-2 of features.4 and features.8 at 80% energy, fine-tune 1 epoch lr 1e-3 cosine", flush=True)
    base = wb.get_baseline("vgg", progress=False)
    dec = lr.Decomposer(base)
    ranks = dec.ranks("tucker", energy=0.8, layers=["features.4", "features.8"])
    model = dec.decompose("tucker", ranks=ranks)
    one_shot = wb.evaluate(model, ds.X_test, ds.y_test)
    start = time.perf_counter()
    wb.fine_tune(model, ds, num_epochs=1, lr=1e-3, schedule="cosine", progress=False)
    seconds = time.perf_counter() - start
    acc, base_acc = wb.evaluate(model, ds.X_test, ds.y_test), wb.evaluate(base, ds.X_test, ds.y_test)
    out = dict(ranks={k: list(v) for k, v in ranks.items()}, baseline=base_acc, one_shot=one_shot, fine_tuned=acc,
               fine_tune_s=seconds, latency={})
    print(f"  ranks {ranks}; test {base_acc:.4f} -> one-shot {one_shot:.4f} -> fine-tuned {acc:.4f} ({seconds:.1f} s)")
    for batch in (1, 32):
        sp = timing.model_speedup(base, model, ds.input_shape, batch_size=batch, repeats=repeats)
        out["latency"][batch] = sp
        print(f"  batch {batch:2d}: VGG {sp['dense_ms']:.3f} ms, Tucker-2 {sp['factored_ms']:.3f} ms -> "
              f"{sp['speedup']:.2f}x; MAC cut {sp['mac_cut']:.2f}x", flush=True)
    sp = out["latency"][32]
    RESULTS["vgg"] = out
    row("VGG Tucker-2: fewer MACs", f"{sp['mac_cut']:.2f}x", ">= 2x", sp["mac_cut"] >= 2)
    row("VGG Tucker-2: accuracy after fine-tuning", f"{100 * (acc - base_acc):+.2f} pp ({acc:.3f} vs {base_acc:.3f})",
        "within 1 pp", acc >= base_acc - 0.01)
    row("VGG Tucker-2: batch-32 speedup", f"{sp['speedup']:.2f}x = {sp['speedup_per_mac_cut']:.2f} x MAC cut "
        f"{sp['mac_cut']:.2f}x", "measured, ratio printed", None)


def crossover(repeats: int) -> None:
    print("\n[crossover] single layers, batch 32, interleaved medians", flush=True)
    conv = timing.conv_sweep(channels=(8, 16, 32, 64, 128, 256), rank_fraction=0.5, size=14, batch_size=32,
                             repeats=repeats)
    print(timing.formatted(conv).to_string())
    lin = timing.linear_sweep(784, 300, ranks=(10, 25, 50, 100, 150, 200), batch_size=32, repeats=repeats)
    print(timing.formatted(lin).to_string())
    c, r = timing.crossover(conv), timing.crossover(lin)
    RESULTS["crossover"] = dict(conv=conv.round(4).to_dict(orient="index"), linear=lin.round(4).to_dict(orient="index"),
                                conv_channels=c, linear_rank=r)
    row("crossover: C->C 3x3 conv vs Tucker-2 (C/2, C/2), 14x14", f"faster from C = {c}" if c else "never faster",
        "measured", None)
    row("crossover: Linear 784->300 vs SVD pair", f"faster up to rank {r}" if r else "never faster", "measured", None)


def slider(ds, moves: int) -> None:
    print("\n[slider] the notebook's explorer (LeNet-5): time of one control move to an unmeasured setting",
          flush=True)
    explorer = lr.make_explorer(ds)
    values = [0.3, 0.35, 0.4, 0.45, 0.55, 0.6, 0.65, 0.7, 0.75, 0.85, 0.9, 0.95]
    RESULTS["slider_ms"] = {}
    for method in lr.METHODS:
        explorer.set(method=method, energy=0.5)                 # the spectra for this method: computed now
        times = []
        for v in values[:moves]:
            start = time.perf_counter()
            explorer.controls["energy"].value = v
            times.append(time.perf_counter() - start)
        assert not explorer.errors, explorer.errors
        med = 1e3 * statistics.median(times)
        RESULTS["slider_ms"][method] = [round(1e3 * t, 1) for t in times]
        print(f"  {method:8s} median {med:6.1f} ms (min {1e3 * min(times):.0f}, max {1e3 * max(times):.0f}, "
              f"{len(times)} moves)", flush=True)
        row(f"explorer move, {method}", f"{med:.0f} ms median", "<= 250 ms", med <= 250)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, choices=["identity", "lenet300", "vgg", "crossover", "slider"])
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WORKBENCH_THREADS", "0")) or None)
    parser.add_argument("--repeats", type=int, default=50, help="timed runs per latency comparison")
    parser.add_argument("--moves", type=int, default=8, help="explorer moves per method")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    wb.seed_everything(0)
    parts = set(args.only or ["identity", "lenet300", "vgg", "crossover", "slider"])
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    RESULTS["environment"] = dict(torch=torch.__version__, threads=torch.get_num_threads(), cpus=os.cpu_count(),
                                  load_average=load)
    ds = wb.load()
    start = time.perf_counter()
    if "identity" in parts:
        identity()
    if "lenet300" in parts:
        lenet300(ds)
    if "vgg" in parts:
        vgg(ds, args.repeats)
    if "crossover" in parts:
        crossover(args.repeats)
    if "slider" in parts:
        slider(ds, args.moves)
    load_end = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"\n=== notebook 05 goals ({time.perf_counter() - start:.0f} s; load average at the end "
          f"{load_end[0]:.2f}) ===")
    w = max(len(r[0]) for r in ROWS)
    m = max(len(r[1]) for r in ROWS)
    for goal, measured, wanted, verdict in ROWS:
        print(f"{goal:<{w}}  {measured:<{m}}  {wanted:<24}  {verdict}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    RESULTS["rows"] = ROWS
    (out / "lowrank.json").write_text(json.dumps(RESULTS, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
