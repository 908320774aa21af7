"""Measure every numeric target of issue 3 (notebook 01, pruning) and print them next to the targets.

    python benchmarks/pruning.py                 # everything (a few minutes on 2 cores)
    python benchmarks/pruning.py --only latency  # one part: lenet300, vgg, criteria, oracle, slider, latency, csr
    python benchmarks/pruning.py --threads 1     # thread count for every measurement

This script is the single place where the targets are measured; the notebook shows
the same experiments (some on the validation split, to stay within its time budget).
Latencies are medians of interleaved runs; every ratio is measured within one run.
Results also go to benchmarks/results/pruning.json (git-ignored).
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
from workbench import pruning as pr  # noqa: E402
from workbench.weights import deep_copy, plain_copy  # noqa: E402

RESULTS: dict = {}
ROWS: list[tuple[str, str, str, str]] = []   # (target, measured, goal, verdict)


def row(target: str, measured: str, goal: str, ok: bool | None) -> None:
    verdict = "n/a" if ok is None else ("MET" if ok else "NOT MET")
    ROWS.append((target, measured, goal, verdict))
    print(f"  -> {target}: {measured} (target {goal}) {verdict}", flush=True)


def lenet300_unstructured(ds) -> None:
    """LeNet-300-100, global magnitude pruning to 92% of weights, 5 epochs of masked fine-tuning."""
    print("\n[lenet300] global magnitude 92%, fine-tune 5 epochs at lr 1e-3 (the notebook's recipe)", flush=True)
    base = wb.get_baseline("lenet300")
    base_acc = wb.evaluate(base, ds.X_test, ds.y_test)
    model = pr.mask_weights(deep_copy(base), pr.weight_scores(base, "l1"), 0.92, scope="global")
    one_shot = wb.evaluate(model, ds.X_test, ds.y_test)
    start = time.perf_counter()
    wb.fine_tune(model, ds, num_epochs=5, lr=1e-3, progress=False)
    seconds = time.perf_counter() - start
    acc = wb.evaluate(model, ds.X_test, ds.y_test)
    w_sparsity = float(pr.masks.layer_sparsity(model)["all weights"])
    p_sparsity = wb.sparsity(model)
    RESULTS["lenet300"] = dict(baseline_acc=base_acc, one_shot_acc=one_shot, fine_tuned_acc=acc,
                               weight_sparsity=w_sparsity, param_sparsity=p_sparsity, fine_tune_s=seconds)
    print(f"  baseline {base_acc:.4f}; one shot {one_shot:.4f}; after fine-tuning {acc:.4f} "
          f"({seconds:.1f} s); weight sparsity {w_sparsity:.4f}, all parameters {p_sparsity:.4f}")
    row("LeNet-300-100 unstructured sparsity", f"{w_sparsity:.1%} of weights ({p_sparsity:.1%} of all params)",
        ">= 90%", p_sparsity >= 0.90 or w_sparsity >= 0.90)
    row("LeNet-300-100 accuracy after fine-tuning", f"{100 * (acc - base_acc):+.2f} pp ({acc:.3f} vs {base_acc:.3f})",
        "within 0.5 pp", acc >= base_acc - 0.005)


def vgg_structured(ds, repeats: int) -> None:
    """Half of VGG's filters removed (L1, layer-wise), fine-tuned; latency against unstructured at equal sparsity."""
    print("\n[vgg] half the filters of every layer (L1, Li et al.), fine-tune 3 epochs lr 2e-3 cosine", flush=True)
    vgg = wb.get_baseline("vgg")
    base_acc = wb.evaluate(vgg, ds.X_test, ds.y_test)
    half = pr.prune_channels(deep_copy(vgg), pr.channel_scores(vgg, "l1"), 0.5)
    wb.fine_tune(half, ds, num_epochs=3, lr=2e-3, schedule="cosine", progress=False)
    acc = wb.evaluate(half, ds.X_test, ds.y_test)
    same = 1 - wb.count_params(half) / wb.count_params(vgg)
    uns = pr.mask_weights(deep_copy(vgg), pr.weight_scores(vgg, "l1"), same, scope="global")
    wb.fine_tune(uns, ds, num_epochs=1, lr=1e-3, progress=False)
    uns = plain_copy(uns)
    uns_acc = wb.evaluate(uns, ds.X_test, ds.y_test)
    macs = {n: wb.count_macs(m, ds.input_shape) for n, m in (("vgg", vgg), ("half", half), ("uns", uns))}
    mac_cut = macs["vgg"] / macs["half"]
    print(f"  channels {half.config['channels']}; MACs {macs['vgg']:,} -> {macs['half']:,} ({mac_cut:.2f}x); "
          f"accuracy {acc:.4f} vs {base_acc:.4f}; unstructured at {same:.1%}: {uns_acc:.4f}, MACs {macs['uns']:,}")
    out = dict(baseline_acc=base_acc, half_acc=acc, unstructured_acc=uns_acc, unstructured_sparsity=same,
               macs=macs, mac_reduction=mac_cut, latency={})
    for fmt, cl in (("NCHW", False), ("channels_last", True)):
        models = {"vgg": deep_copy(vgg), "half": deep_copy(half), "uns": deep_copy(uns)}
        if cl:
            for m in models.values():
                m.to(memory_format=torch.channels_last)
        for batch in (1, 32):
            lat = wb.compare_latency(models, ds.input_shape, batch_size=batch, repeats=repeats, warmup=10,
                                     channels_last=cl)
            sp_half = lat["vgg"].median_ms / lat["half"].median_ms
            sp_uns = lat["vgg"].median_ms / lat["uns"].median_ms
            out["latency"][f"{fmt}_b{batch}"] = {n: v.median_ms for n, v in lat.items()}
            print(f"  {fmt:13s} batch {batch:2d}: vgg {lat['vgg'].median_ms:.3f} ms (IQR {lat['vgg'].iqr_ms:.3f}), "
                  f"half {lat['half'].median_ms:.3f} ms -> {sp_half:.2f}x, unstructured "
                  f"{lat['uns'].median_ms:.3f} ms -> {sp_uns:.2f}x  [{lat['vgg'].runs} runs, "
                  f"{lat['vgg'].threads} threads]", flush=True)
            if batch == 32:
                row(f"VGG half filters: batch-32 speedup ({fmt})",
                    f"{sp_half:.2f}x = {sp_half / mac_cut:.2f} x MAC cut {mac_cut:.2f}x",
                    ">= 0.70 x MAC cut", sp_half >= 0.7 * mac_cut)
                row(f"VGG unstructured {same:.0%}: batch-32 speedup ({fmt})", f"{sp_uns:.2f}x, MACs unchanged",
                    "no speedup (shown)", None)
    ops = pr.sparse.op_times({"vgg": vgg, "half": half}, ds.input_shape, batch_size=32)
    ops["ratio"] = ops["vgg"] / ops["half"]
    print("  where the time goes (profiler, NCHW, batch 32, ms per forward):")
    print(ops.round(3).to_string())
    out["op_ms"] = ops.round(4).to_dict()
    RESULTS["vgg"] = out
    row("VGG half filters: accuracy after fine-tuning", f"{100 * (acc - base_acc):+.2f} pp ({acc:.3f} vs {base_acc:.3f})",
        "within 1 pp", acc >= base_acc - 0.01)


def criteria_before_fine_tuning(ds) -> dict:
    print("\n[criteria] VGG, filters removed with one global threshold, no fine-tuning, TEST accuracy", flush=True)
    vgg = wb.get_baseline("vgg")
    scores = {name: pr.channel_scores(vgg, name, ds) for name in pr.CRITERIA}
    scores.update({f"random{s}": pr.channel_scores(vgg, "random", seed=s) for s in (1, 2)})
    amounts = [0.1, 0.2, 0.3, 0.4, 0.5]
    table = pr.sensitivity.one_shot(vgg, ds, scores, amounts, structure="structured", scope="global", split="test")
    chance = table.loc[[n for n in table.index if n.startswith("random")]].mean()
    print(table.round(3).to_string())
    print(f"  random, mean of 3 draws: {[round(v, 3) for v in chance]}")
    RESULTS["criteria_test_acc"] = {k: {str(a): v for a, v in r.items()} for k, r in table.iterrows()}
    for name in ("l1", "taylor"):
        wins = int((table.loc[name] > chance).sum())
        row(f"{name} beats random before fine-tuning", f"at {wins}/{len(amounts)} amounts "
            f"(mean {table.loc[name].mean():.3f} vs random {chance.mean():.3f})", "beats random", wins == len(amounts))
    return scores


def oracle_correlation(ds, scores: dict | None, num_examples: int) -> None:
    print(f"\n[oracle] VGG, |loss change| per removed filter on {num_examples} val digits; Spearman rho", flush=True)
    vgg = wb.get_baseline("vgg")
    if scores is None:
        scores = {name: pr.channel_scores(vgg, name, ds) for name in pr.CRITERIA}
    start = time.perf_counter()
    oracle = pr.oracle.oracle(vgg, ds, num_examples=num_examples)
    seconds = time.perf_counter() - start
    corr = pr.oracle.rank_correlation({n: scores[n] for n in pr.CRITERIA}, oracle)
    print(corr.round(3).to_string())
    print(f"  oracle took {seconds:.1f} s")
    RESULTS["oracle_spearman"] = corr.round(4).to_dict(orient="index")
    row("rank correlation with the oracle (mean over layers)",
        ", ".join(f"{n} {corr.loc[n, 'mean']:.2f}" for n in corr.index), "printed", None)


def slider(ds, models: list[str], moves: int) -> None:
    print("\n[slider] explorer: time of `explorer.controls['amount'].value = v` (new values, scores cached)",
          flush=True)
    values = [round(0.05 * i, 2) for i in range(1, 20) if i != 10]   # 0.5 is measured when the explorer is built
    RESULTS["slider_ms"] = {}
    for name in models:
        explorer = pr.make_explorer(name, ds)
        for structure in ("structured", "unstructured"):
            explorer.set(structure=structure, amount=0.0)             # scores for this structure: computed now
            times = []
            for v in values[:moves]:
                start = time.perf_counter()
                explorer.controls["amount"].value = v
                times.append(time.perf_counter() - start)
            assert not explorer.errors, explorer.errors
            med = 1e3 * statistics.median(times)
            RESULTS["slider_ms"][f"{name}/{structure}"] = [round(1e3 * t, 1) for t in times]
            print(f"  {name:9s} {structure:12s} median {med:6.1f} ms  (min {1e3 * min(times):.0f}, "
                  f"max {1e3 * max(times):.0f}, {len(times)} moves)", flush=True)
            default = " (the notebook's explorer)" if name == "lenet5" else ""
            row(f"slider median, {name} {structure}{default}", f"{med:.0f} ms", "<= 250 ms", med <= 250)


def csr(threads_list: list[int]) -> None:
    print("\n[csr] 2048x2048 @ vector, dense vs CSR, interleaved", flush=True)
    RESULTS["csr"] = {}
    for threads in threads_list:
        table = pr.sparse.csr_vs_dense(size=2048, threads=threads, repeats=30)
        print(f"  threads={threads}")
        print(pr.sparse.formatted(table).to_string())
        cross = pr.sparse.crossover(table)
        RESULTS["csr"][threads] = {"crossover": cross, "speedup": table["speedup"].round(3).to_dict()}
        row(f"CSR matmul crossover ({threads} thread{'s' if threads > 1 else ''})", f"from {cross} sparsity",
            "measured", None)
    overhead = pr.sparse.mask_overhead(wb.get_baseline("lenet300"), (1, 28, 28), amount=0.92)
    print(pr.sparse.formatted(overhead).to_string())
    RESULTS["mask_overhead"] = overhead.round(4).to_dict(orient="index")
    row("masks (torch.nn.utils.prune) vs dense", f"{overhead.loc['torch.nn.utils.prune', 'speedup']:.2f}x speed, "
        f"{overhead.loc['torch.nn.utils.prune', 'bytes_ratio']:.2f}x checkpoint", "slower, larger (shown)", None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None,
                        choices=["lenet300", "vgg", "criteria", "oracle", "slider", "csr"])
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WORKBENCH_THREADS", "0")) or None)
    parser.add_argument("--repeats", type=int, default=50, help="timed runs per latency comparison")
    parser.add_argument("--moves", type=int, default=10, help="slider moves per explorer series")
    parser.add_argument("--slider-models", nargs="*", default=["lenet5", "lenet300", "vgg"])
    parser.add_argument("--oracle-examples", type=int, default=500)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    wb.seed_everything(0)
    parts = set(args.only or ["lenet300", "vgg", "criteria", "oracle", "slider", "csr"])
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    RESULTS["environment"] = dict(torch=torch.__version__, threads=torch.get_num_threads(), cpus=os.cpu_count(),
                                  load_average=load)
    ds = wb.load("digits")
    start = time.perf_counter()
    scores = None
    if "lenet300" in parts:
        lenet300_unstructured(ds)
    if "vgg" in parts:
        vgg_structured(ds, args.repeats)
    if "criteria" in parts:
        scores = criteria_before_fine_tuning(ds)
    if "oracle" in parts:
        oracle_correlation(ds, scores, args.oracle_examples)
    if "slider" in parts:
        slider(ds, args.slider_models, args.moves)
    if "csr" in parts:
        csr(sorted({1, torch.get_num_threads()}))
    load_end = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"\n=== issue 3 targets ({time.perf_counter() - start:.0f} s; load average at the end "
          f"{load_end[0]:.2f}) ===")
    w = max(len(r[0]) for r in ROWS)
    m = max(len(r[1]) for r in ROWS)
    for target, measured, goal, verdict in ROWS:
        print(f"{target:<{w}}  {measured:<{m}}  {goal:<20}  {verdict}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    RESULTS["rows"] = ROWS
    (out / "pruning.json").write_text(json.dumps(RESULTS, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
