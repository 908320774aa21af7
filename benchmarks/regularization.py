"""Measure every numeric goal of notebook 02 (sparsity regularization) and print each next to its goal.

    python benchmarks/regularization.py                # everything (several minutes on 2 cores)
    python benchmarks/regularization.py --only dns     # one part: l1, lenet5, vgg, dns, slider

The experiments are the notebook's own (same functions, same recipes); the VGG runs
only here, to keep the notebook within its time budget. Latencies are medians of
interleaved runs; every ratio is measured within one run. Results also go to
benchmarks/results/regularization.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import workbench as wb  # noqa: E402
from workbench import regularization as rg  # noqa: E402
from workbench.pruning.schedules import fine_tune_masked  # noqa: E402
from workbench.weights import deep_copy  # noqa: E402

RESULTS: dict = {}
ROWS: list[tuple[str, str, str, str]] = []   # (goal, measured, target, verdict)
PARTS = ("l1", "lenet5", "vgg", "dns", "slider")


def row(goal: str, measured: str, target: str, ok: bool | None) -> None:
    verdict = "n/a" if ok is None else ("MET" if ok else "NOT MET")
    ROWS.append((goal, measured, target, verdict))
    print(f"  -> {goal}: {measured} (goal {target}) {verdict}", flush=True)


def l1(ds) -> None:
    """Section 1: L1 penalty vs proximal L1 on LeNet-300-100, same λ, same SGD; then masked fine-tuning."""
    print("\n[l1] LeNet-300-100, λ=2.5e-3, 3 epochs SGD lr 0.02; proximal + 2 masked epochs", flush=True)
    base = wb.get_baseline("lenet300")
    base_acc = wb.evaluate(base, ds.X_test, ds.y_test)
    kw = dict(num_epochs=3, lr=0.02, optimizer="sgd", progress=False)
    plain, prox = deep_copy(base), deep_copy(base)
    rg.train_sparse(plain, ds, "l1", 2.5e-3, **kw)
    rg.train_sparse(prox, ds, "l1-prox", 2.5e-3, **kw)
    prox_ft = fine_tune_masked(deep_copy(prox), ds, num_epochs=2, lr=1e-3, progress=False)
    accs = {n: wb.evaluate(m, ds.X_test, ds.y_test) for n, m in (("plain", plain), ("prox", prox), ("prox_ft", prox_ft))}
    zeros = {n: rg.exact_zeros(m) for n, m in (("plain", plain), ("prox", prox), ("prox_ft", prox_ft))}
    RESULTS["l1"] = dict(baseline_acc=base_acc, acc=accs, exact_zeros=zeros, plain_near_zeros=rg.near_zeros(plain))
    print(f"  baseline {base_acc:.4f}; accuracy {accs}; exact zeros {zeros}")
    drop = 100 * (base_acc - accs["prox_ft"])
    row("proximal L1, LeNet-300-100", f"{zeros['prox_ft']:.1%} exact zeros, {-drop:+.2f} pp",
        ">= 90% exact zeros within 1 pp", zeros["prox_ft"] >= 0.9 and drop <= 1.0)
    row("plain-gradient L1 at the same λ", f"{zeros['plain']:.3%} exact zeros "
        f"({RESULTS['l1']['plain_near_zeros']:.1%} below 1e-3)", "printed (expected ≈ 0)", None)


def group_lasso(ds, name: str, lams, epochs_per_lam: int, ft_epochs: int) -> None:
    """Section 2: SSL on the conv filters; every snapshot removed and fine-tuned; λ chosen on val (within 1 pp)."""
    print(f"\n[{name}] group lasso on conv filters along λ={lams}, {epochs_per_lam} epochs each (SGD lr 0.02); "
          f"every snapshot removed and fine-tuned {ft_epochs} epochs (Adam 1e-3); λ: the largest conv-MAC cut "
          "within 1 pp of the baseline on val", flush=True)
    base = wb.get_baseline(name)
    base_acc, base_val = wb.evaluate(base, ds.X_test, ds.y_test), wb.evaluate(base, ds.X_val, ds.y_val)
    start = time.perf_counter()
    path, candidates, chosen = rg.structured_sparsity(base, ds, lams, epochs_per_lam=epochs_per_lam,
                                                      ft_epochs=ft_epochs)
    seconds = time.perf_counter() - start
    table = rg.path_table(path).join(rg.candidates_table(candidates))
    table["test_acc_fine_tuned"] = [wb.evaluate(c.model, ds.X_test, ds.y_test) for c in candidates]
    print(f"  baseline: test {base_acc:.4f}, val {base_val:.4f}")
    print(table.round(3).to_string())
    small = chosen.model
    acc = wb.evaluate(small, ds.X_test, ds.y_test)
    cut = chosen.conv_mac_cut
    scattered = deep_copy(base)
    rg.train_sparse(scattered, ds, "l1-prox", 2.5e-3, num_epochs=2, lr=0.02, optimizer="sgd", progress=False)
    rows = wb.measure_all({"base": base, "ssl": small, "scattered": scattered}, ds, latency_batches=(32,),
                          repeats=50, warmup=5)
    mac_ratio = rows["base"].macs / rows["ssl"].macs
    speed = rows["base"].latency_ms(32) / rows["ssl"].latency_ms(32)
    speed_scattered = rows["base"].latency_ms(32) / rows["scattered"].latency_ms(32)
    RESULTS[name] = dict(lam=chosen.lam, config=small.config, baseline_acc=base_acc, acc=acc, val_acc=chosen.val_acc,
                         conv_mac_cut=cut, mac_ratio=mac_ratio, speedup_b32=speed, speed_to_mac_ratio=speed / mac_ratio,
                         scattered_sparsity=rows["scattered"].sparsity, scattered_speedup_b32=speed_scattered,
                         seconds=seconds, candidates=table.reset_index().to_dict("records"))
    print(f"  chosen λ={chosen.lam}: {small.config}; baseline {base_acc:.4f}, after {acc:.4f}; "
          f"path + candidates {seconds:.0f} s")
    drop = 100 * (base_acc - acc)
    row(f"group lasso on {name}: conv MACs removed", f"λ={chosen.lam:g}: {cut:.1%}, {-drop:+.2f} pp after fine-tuning",
        ">= 60% within 1 pp", cut >= 0.6 and drop <= 1.0 + 1e-6)
    row(f"group lasso on {name}: batch-32 speedup", f"{speed:.2f}× faster for {mac_ratio:.2f}× fewer MACs "
        f"(ratio {speed / mac_ratio:.2f}); scattered L1 zeros ({rows['scattered'].sparsity:.0%}): {speed_scattered:.2f}×",
        "printed", None)


DNS_EPOCHS, DNS_SEEDS = 6, (0, 1, 2)


def dns(ds) -> None:
    """Section 3: DNS (the notebook's recipe: sparsity ramped up while the mask moves, in the first 30% of the
    steps, then a fixed mask) against one-shot magnitude pruning + masked fine-tuning, one global threshold,
    the same epochs, optimiser (Adam 1e-3) and seeds for both; mean test accuracy over the seeds."""
    print(f"\n[dns] LeNet-300-100 at 95% and 98%, {DNS_EPOCHS} epochs of Adam 1e-3 each, seeds {DNS_SEEDS}",
          flush=True)
    base = wb.get_baseline("lenet300")
    out = {}
    for amount in (0.95, 0.98):
        a_one, a_dns, spliced = [], [], []
        for seed in DNS_SEEDS:
            one = rg.one_shot_magnitude(base, ds, amount, num_epochs=DNS_EPOCHS, lr=1e-3, seed=seed)
            model, surgery = rg.dynamic_surgery(deep_copy(base), ds, amount, num_epochs=DNS_EPOCHS, lr=1e-3,
                                                seed=seed, progress=False)
            a_one.append(wb.evaluate(one, ds.X_test, ds.y_test))
            a_dns.append(wb.evaluate(model, ds.X_test, ds.y_test))
            spliced.append(surgery.spliced)
            assert abs(rg.exact_zeros(model) - amount) < 1e-3 and abs(rg.exact_zeros(one) - amount) < 1e-3
        m_one, m_dns = statistics.mean(a_one), statistics.mean(a_dns)
        out[amount] = dict(one_shot=a_one, dns=a_dns, one_shot_mean=m_one, dns_mean=m_dns, spliced=spliced)
        print(f"  {amount:.0%}: one-shot {[round(a, 4) for a in a_one]}, DNS {[round(a, 4) for a in a_dns]}, "
              f"spliced back {spliced}")
        row(f"DNS vs one-shot at {amount:.0%}", f"DNS {m_dns:.4f}, one-shot {m_one:.4f} (mean of {len(DNS_SEEDS)} "
            f"seeds; {100 * (m_dns - m_one):+.2f} pp)", "DNS not worse", m_dns >= m_one)
    RESULTS["dns"] = out


def slider(ds) -> None:
    """The explorer's threshold slider over a path (as the notebook builds it), timed per move."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from slider_latency import _regularization_explorer, time_moves

    explorer, moves = _regularization_explorer(ds)
    ms = sorted(1e3 * s for s in time_moves(explorer, moves))
    RESULTS["slider"] = dict(median_ms=statistics.median(ms), max_ms=ms[-1], moves=len(ms))
    row("threshold slider (LeNet-5)", f"median {statistics.median(ms):.0f} ms over {len(ms)} moves", "<= 250 ms",
        statistics.median(ms) <= 250)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=PARTS, action="append")
    args = parser.parse_args()
    wb.setup(seed=0)
    ds = wb.load()
    parts = args.only or PARTS
    if "l1" in parts:
        l1(ds)
    if "lenet5" in parts:
        group_lasso(ds, "lenet5", [0.0, 0.05, 0.1, 0.15, 0.2, 0.25], 2, 3)
    if "vgg" in parts:
        group_lasso(ds, "vgg", [0.0, 0.02, 0.04, 0.06, 0.07, 0.08], 2, 8)   # groups: the BN scale and shift
    if "dns" in parts:
        dns(ds)
    if "slider" in parts:
        slider(ds)
    print(f"\n{'goal':45s} {'measured':80s} {'goal':32s} verdict")
    for goal, measured, target, verdict in ROWS:
        print(f"{goal:45s} {measured:80s} {target:32s} {verdict}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; the nbval time is measured separately "
          "(python -m pytest notebooks/02_sparsity_regularization.ipynb)")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "regularization.json").write_text(json.dumps(RESULTS, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
