"""Measure every numeric goal of notebook 08 (mixed precision) and print each next to its goal.

    python benchmarks/precision.py                  # everything (a few minutes on 2 cores)
    python benchmarks/precision.py --epochs 5       # longer training runs
    python benchmarks/precision.py --only cost      # one part: training, underflow, cost, gpu, slider

The notebook shows the same experiments with the same functions (``workbench.precision``).
Accuracies are on the test split, from the same initial weights, data order and epochs.
Step times are medians of interleaved runs; memory is counted tensor by tensor on the CPU
and read from the allocator (``torch.cuda.max_memory_allocated``) on a GPU.
Results also go to benchmarks/results/precision.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import workbench as wb  # noqa: E402
from workbench import precision as mp  # noqa: E402

RESULTS: dict = {}
ROWS: list[tuple[str, str, str, str]] = []


def row(goal: str, measured: str, wanted: str, ok: bool | None) -> None:
    verdict = "n/a" if ok is None else ("MET" if ok else "NOT MET")
    ROWS.append((goal, measured, wanted, verdict))
    print(f"  -> {goal}: {measured} (goal {wanted}) {verdict}", flush=True)


def training(ds, epochs: int, batch_size: int = 128) -> None:
    print(f"\n[training] LeNet-5, {epochs} epochs, seed 0, Adam lr 2e-3, batch {batch_size}: fp32 / bf16 / fp16 / "
          "fp16 + dynamic scaling (the notebook's recipe)", flush=True)
    start = time.perf_counter()
    runs = mp.train_recipes(ds, num_epochs=epochs, batch_size=batch_size)
    table = mp.accuracy_table(runs, ds)
    print(table.to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"  ({time.perf_counter() - start:.0f} s)")
    RESULTS["training"] = table.reset_index().to_dict(orient="records")
    gap = table["Δ vs fp32 (pp)"]
    row("bf16 autocast vs fp32, test accuracy", f"{gap['bf16']:+.2f} pp", "within 0.5 pp", abs(gap["bf16"]) <= 0.5)
    row("fp16 + dynamic scaling vs fp32, test accuracy", f"{gap['fp16 + dynamic scaling']:+.2f} pp",
        "within 0.5 pp", abs(gap["fp16 + dynamic scaling"]) <= 0.5)
    row("fp16 without scaling vs fp32 (for reference)", f"{gap['fp16']:+.2f} pp", "printed", None)


def underflow(ds) -> None:
    print("\n[underflow] gradients of the trained LeNet-5 (2 batches of 64), recorded in fp32, stored in fp16",
          flush=True)
    grads = mp.record_gradients(wb.get_baseline("lenet5"), ds, batches=2)
    out = {}
    for kind, g in grads.items():
        fr = mp.flush_fractions(g, "fp16")
        scaled = mp.flush_fractions(g, "fp16", 2.0**16)
        safe = mp.largest_safe_scale(g, "fp16")
        out[kind] = dict(values=g.numel(), unscaled=fr, scaled_2_16=scaled, largest_safe_scale=safe)
        print(f"  {kind:11s} ({g.numel():,} values): no scaling -> {fr['underflow']:.2%} flushed to zero, "
              f"{fr['subnormal']:.2%} subnormal; x 2^16 -> {scaled['underflow']:.2%} zero, "
              f"{scaled['overflow']:.2%} overflow; largest safe scale 2^{math.log2(safe):.0f}")
        row(f"fp16 without scaling, {kind} gradients flushed to zero", f"{fr['underflow']:.2%}", "printed", None)
    RESULTS["underflow"] = out


def cost(ds) -> None:
    support = mp.cpu_support()
    print(f"\n[cost] {support}", flush=True)
    RESULTS["cpu_support"] = support
    row("CPU bf16 support (oneDNN)", str(support["bf16 native (oneDNN)"]), "printed", None)
    row("CPU fp16 support (oneDNN)", str(support["fp16 native (oneDNN)"]), "printed", None)
    RESULTS["step_time_cpu"] = {}
    for batch in (64, 256):
        t = mp.time_training_steps(lambda: wb.build("lenet5"), ds, ("fp32", "bf16", "fp16"), batch_size=batch,
                                   repeats=20, warmup=3)
        RESULTS["step_time_cpu"][batch] = {p: dict(median_ms=v.median_ms, iqr_ms=v.iqr_ms) for p, v in t.items()}
        text = ", ".join(f"{p} {v.median_ms:.1f} ms (IQR {v.iqr_ms:.1f})" for p, v in t.items())
        ratio = ", ".join(f"{p} {t['fp32'].median_ms / t[p].median_ms:.2f}x of fp32 speed" for p in ("bf16", "fp16"))
        row(f"CPU training step, batch {batch}", f"{text}; {ratio}", "measured", None)
    X, y = ds.X_train[:256], ds.y_train[:256]
    mem = {p: mp.step_memory(wb.build("lenet5"), X, y, p) for p in ("fp32", "bf16", "fp16")}
    RESULTS["step_memory_cpu"] = mem
    for p, m in mem.items():
        print(f"  {p}: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in m.items()))
    row("CPU step memory, batch 256 (counted tensors)",
        ", ".join(f"{p} {m['total'] / 1e6:.2f} MB" for p, m in mem.items()) +
        f"; activations bf16/fp32 {mem['bf16']['activations'] / mem['fp32']['activations']:.2f}", "measured", None)


def gpu(ds) -> None:
    if not torch.cuda.is_available():
        print("\n[gpu] no CUDA device: GPU figures skipped", flush=True)
        row("GPU step time and peak memory", "no GPU present", "when a GPU is present", None)
        return
    name = torch.cuda.get_device_name()
    print(f"\n[gpu] {name}", flush=True)
    out = {}
    for batch in (256, 1024):
        t = mp.time_training_steps(lambda: wb.build("lenet5"), ds, ("fp32", "bf16", "fp16"), batch_size=batch,
                                   repeats=30, warmup=5, device="cuda")
        peaks = {}
        for p in ("fp32", "bf16", "fp16"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            mp.time_training_steps(lambda: wb.build("lenet5"), ds, (p,), batch_size=batch, repeats=2, warmup=0,
                                   device="cuda")
            peaks[p] = torch.cuda.max_memory_allocated()
        out[batch] = {p: dict(median_ms=t[p].median_ms, peak_bytes=peaks[p]) for p in t}
        row(f"GPU training step, batch {batch}", ", ".join(
            f"{p} {t[p].median_ms:.2f} ms, peak {peaks[p] / 1e6:.1f} MB" for p in t), "measured", None)
    RESULTS["gpu"] = dict(device=name, **{str(b): v for b, v in out.items()})


def slider(ds) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from slider_latency import CASES, time_moves

    label = next(k for k in CASES if k.startswith("08"))
    factory, target = CASES[label]
    explorer, moves = factory(ds)
    ms = sorted(1e3 * s for s in time_moves(explorer, moves))
    med = statistics.median(ms)
    RESULTS["slider"] = dict(median_ms=med, max_ms=ms[-1], moves=len(ms))
    row("explorer move (format, value, log2 scale)", f"median {med:.1f} ms, max {ms[-1]:.1f} ms over {len(ms)} moves",
        f"<= {target} ms median", med <= target)


PARTS = {"training": training, "underflow": underflow, "cost": cost, "gpu": gpu, "slider": slider}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--only", choices=list(PARTS))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    wb.setup(seed=0, threads=args.threads)
    ds = wb.load()
    for name, fn in PARTS.items():
        if args.only in (None, name):
            fn(ds, args.epochs, args.batch_size) if name == "training" else fn(ds)
    print("\nsummary")
    for goal, measured, wanted, verdict in ROWS:
        print(f"  {verdict:8s} {goal}: {measured} (goal {wanted})")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "precision.json").write_text(json.dumps(RESULTS, indent=2, default=str))
    return 0 if all(v != "NOT MET" for *_, v in ROWS) else 1


if __name__ == "__main__":
    sys.exit(main())
