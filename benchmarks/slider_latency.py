"""How fast the explorers answer a slider move (target: <= 250 ms median, post-training;
a soft-target redraw in notebook 06: <= 100 ms).

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


def _pruning_explorer(ds):
    from workbench.pruning import make_explorer

    ex = make_explorer("lenet5", ds)                 # notebook 01's explorer
    moves = [("amount", v) for v in (0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9)]
    moves += [("structure", "unstructured")] + [("amount", v) for v in (0.15, 0.35, 0.55, 0.75, 0.95)]
    return ex, moves


def _quantization_explorer(ds):
    from workbench.quantization.explorer import make_explorer

    ex = make_explorer(ds, model="lenet5")           # notebook 04's explorer
    moves = [("weight_bits", v) for v in (2, 3, 4, 5, 6, 7)] + [("activation_bits", v) for v in (4, 6, 16)]
    moves += [("granularity", "per-tensor"), ("calibration", "percentile")]
    return ex, moves


def _distillation_explorer(ds):
    from workbench.distillation.explorer import make_explorer

    lab = make_explorer(ds)                          # notebook 06's explorer; moves redraw soft targets
    return lab.explorer, [("temperature", v) for v in (2.0, 6.0, 12.0, 20.0, 1.0, 9.0, 15.0, 3.0)]


def _precision_explorer(ds):
    from workbench.precision.explorer import make_explorer

    ex = make_explorer(ds)                           # notebook 08's explorer (the train button is not timed)
    moves = [("value", v) for v in (1e-7, 1e-5, 3e-3, 1.0, 7e4)] + [("log2_scale", k) for k in (4, 8, 12, 16, 24)]
    moves += [("format", f) for f in ("bf16", "fp8_e5m2", "fp8_e4m3")] + [("log2_scale", k) for k in (6, 10)]
    return ex, moves


def _dynamic_explorer(ds):
    from workbench import dynamic as dy

    lab = dy.make_explorer(dy.notebook_network(ds), ds)     # notebook 09's explorer, after its training
    moves = [("threshold_1", v) for v in (0.2, 0.5, 1.0, 0.05, 0.01)] + [("threshold_2", v) for v in (0.01, 0.5)]
    moves += [("width", 0.5), ("threshold_1", 0.1), ("width", 0.25), ("threshold_2", 0.05)]
    return lab, moves




def _sharing_explorer(ds):
    from workbench.sharing import make_explorer

    ex = make_explorer(ds)                          # notebook 03's explorer (latency on its button)
    moves = [("sparsity", v) for v in (0.5, 0.6, 0.7, 0.9, 0.95)] + [("fc_bits", v) for v in (2, 3, 5, 6)]
    moves += [("conv_bits", v) for v in (3, 6)] + [("init", "density"), ("init", "random")]
    return ex, moves


def _regularization_explorer(ds):
    from workbench import regularization as rg

    lams = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25]                    # notebook 02's path (trained once)
    path = rg.regularization_path(wb.get_baseline("lenet5"), ds, "group-conv-filter", lams, epochs_per_lam=2,
                                  lr=0.02, optimizer="sgd")
    ex = rg.make_explorer(ds, path=path, regularizer="group-conv-filter")
    moves = [("threshold", v) for v in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)]
    moves += [("lam", 0.1)] + [("threshold", v) for v in (0.125, 0.225, 0.325)]
    return ex, moves


def _lowrank_explorer(ds):
    from workbench.lowrank import make_explorer

    ex = make_explorer(ds)                           # notebook 05's explorer (LeNet-5, SVD at 80% energy)
    moves = [("energy", v) for v in (0.5, 0.6, 0.7, 0.9, 0.95)] + [("method", "tucker")]
    moves += [("energy", v) for v in (0.6, 0.7, 0.8)] + [("method", "spatial"), ("energy", 0.5)]
    return ex, moves


def _efficient_explorer(ds):
    from workbench.efficient import make_explorer

    lab = make_explorer(ds)                          # notebook 07's explorer; moves answer from the stored grid
    moves = [("alpha", a) for a in (0.75, 0.5, 0.25)] + [("resolution", r) for r in (24, 20, 16)]
    moves += [("alpha", a) for a in (0.5, 0.75, 1.0)] + [("resolution", r) for r in (20, 24)]
    return lab.explorer, moves


# label -> (factory, target median in ms)
CASES = {
    "00 model and batch size": (_model_explorer, 250),
    "01 pruning amount (LeNet-5)": (_pruning_explorer, 250),
    "02 regularization threshold (LeNet-5)": (_regularization_explorer, 250),
    "03 weight sharing (LeNet-5)": (_sharing_explorer, 250),
    "04 quantization bits (LeNet-5)": (_quantization_explorer, 250),
    "05 low-rank energy and method (LeNet-5)": (_lowrank_explorer, 250),
    "06 distillation temperature": (_distillation_explorer, 100),
    "07 width and resolution (grid)": (_efficient_explorer, 250),
    "08 precision format, value, scale": (_precision_explorer, 250),
    "09 exit thresholds and width": (_dynamic_explorer, 250),
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
    for label, (factory, target) in CASES.items():
        explorer, moves = factory(ds)
        seconds = time_moves(explorer, moves)
        ms = sorted(1e3 * s for s in seconds)
        rows.append({"case": label, "moves": len(ms), "median_ms": statistics.median(ms), "max_ms": ms[-1],
                     "target_ms": target})
    print(f"{'explorer':34s} {'moves':>5s} {'median':>9s} {'max':>9s}  target")
    for r in rows:
        flag = "ok" if r["median_ms"] <= r["target_ms"] else "OVER"
        print(f"{r['case']:34s} {r['moves']:5d} {r['median_ms']:7.1f} ms {r['max_ms']:7.1f} ms  "
              f"<= {r['target_ms']} ms {flag}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "slider_latency.json").write_text(json.dumps(rows, indent=2))
    return 0 if all(r["median_ms"] <= r["target_ms"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
