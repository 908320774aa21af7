"""Measure every target of issue 4 (notebook 04, quantization) and print them next to the targets.

    python benchmarks/quantization.py            # several minutes: trains, compiles, times
    python benchmarks/quantization.py --quick    # skip torch.compile and the VGG training

This is the one place each target is measured. Latencies are interleaved medians
(``workbench.compare_latency``) and every speedup names its baseline: fp32 eager,
fp32 channels-last (the layout the int8 kernels get), fp32 compiled with inductor
freezing (the compiler help PT2E int8 gets). Results also go to
``benchmarks/results/quantization.json`` (git-ignored); notebook 04 shows that file,
labelled, when it exists.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import workbench as wb  # noqa: E402
from workbench import encodings  # noqa: E402
from workbench.quantization import binary, fake, integer, real  # noqa: E402
from workbench.quantization.explorer import make_explorer  # noqa: E402
from workbench.weights import plain_copy  # noqa: E402

SLIDER_MOVES = [("weight_bits", 4), ("weight_bits", 2), ("granularity", "per-tensor"), ("weight_bits", 3),
                ("activation_bits", 4), ("calibration", "percentile"), ("weight_bits", 6), ("activation_bits", 2),
                ("calibration", "mse"), ("granularity", "per-channel"), ("weight_bits", 1)]


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _vnni() -> bool:
    try:
        return "avx512_vnni" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


class Table:
    def __init__(self):
        self.rows, self.notes = [], []

    def add(self, target: str, measured: str, met: bool | None, how: str = "") -> None:
        met = None if met is None else bool(met)
        self.rows.append({"target": target, "measured": measured, "met": met, "how": how})
        flag = "—" if met is None else ("met" if met else "NOT MET")
        print(f"  {target:<58s} {measured:>24s}  {flag:>7s}   {how}", flush=True)


def ptq_and_real(ds, table: Table, compiled: bool) -> None:
    vgg = wb.get_baseline("vgg")
    fq = fake.quantize_model(integer.fold_batchnorm(vgg), ds.X_val, weight_bits=8, activation_bits=8)
    rows = real.compare(vgg, ds, fake=fq, compiled=compiled, batch_sizes=(1, 32), repeats=50, warmup=10)
    rep = wb.report(rows, baseline="fp32")
    print(rep, flush=True)
    t = rep.table
    fp32, fq_acc, int8_acc = t.accuracy["fp32"], t.accuracy["fake-quant"], t.accuracy["int8 eager"]
    table.add("int8 PTQ within 0.5 pp of fp32 (VGG, fake-quant w8a8)", f"{100 * (fq_acc - fp32):+.2f} pp",
              abs(fq_acc - fp32) <= 0.005, f"{fq_acc:.3f} vs {fp32:.3f} on 1,000 test digits")
    table.add("real int8 (eager) within 0.5 pp of fp32 (VGG)", f"{100 * (int8_acc - fp32):+.2f} pp",
              abs(int8_acc - fp32) <= 0.005, f"{int8_acc:.3f}")
    agree = (wb.predict(real.to_int8(vgg, ds.X_val[:500]), ds.X_test).argmax(1)
             == wb.predict(fq, ds.X_test).argmax(1)).float().mean().item()
    table.add("real int8 agrees with fake-quant predictions", f"{100 * agree:.1f} %", agree >= 0.99, "VGG, test")
    lat = lambda name, b: t.loc[name, f"latency_ms_b{b}"]
    for b in (32, 1):
        r = lat("fp32", b) / lat("int8 eager", b)
        table.add(f"real int8 >= 2.5x faster than fp32 eager, batch {b}" if b == 32 else
                  "  (batch 1, for the record)", f"{r:.2f}x", r >= 2.5 if b == 32 else None,
                  f"{lat('fp32', b):.3f} ms -> {lat('int8 eager', b):.3f} ms, median of 50 interleaved")
        r = lat("fp32 channels-last", b) / lat("int8 eager", b)
        table.add(f"  int8 eager vs fp32 channels-last, batch {b}", f"{r:.2f}x", None,
                  f"{lat('fp32 channels-last', b):.3f} ms -> {lat('int8 eager', b):.3f} ms")
        if compiled:
            r = lat("fp32 compiled", b) / lat("int8 PT2E compiled", b)
            table.add(f"  int8 PT2E compiled vs fp32 compiled (freezing), batch {b}", f"{r:.2f}x", None,
                      f"{lat('fp32 compiled', b):.3f} ms -> {lat('int8 PT2E compiled', b):.3f} ms")
            r = lat("fp32", b) / lat("int8 PT2E compiled", b)
            table.add(f"  int8 PT2E compiled vs fp32 eager, batch {b}", f"{r:.2f}x", None, "")
    r = t.size_ratio["int8 eager"]
    table.add("real int8 >= 3.5x smaller on disk (torch.save)", f"{r:.2f}x", r >= 3.5,
              f"{t.size_bytes['fp32']:,} -> {t.size_bytes['int8 eager']:,} bytes")


def qat(ds, table: Table, vgg_too: bool) -> None:
    lenet5 = wb.get_baseline("lenet5")
    base = wb.evaluate(lenet5, ds.X_test, ds.y_test)
    m = fake.quantize_model(wb.get_baseline("lenet5"), ds.X_val, weight_bits=4, activation_bits=8)
    ptq = wb.evaluate(m, ds.X_test, ds.y_test)
    wb.fine_tune(m, ds, num_epochs=2, lr=1e-4, progress=False)         # the notebook's recipe
    acc = wb.evaluate(m, ds.X_test, ds.y_test)
    size = encodings.size_bytes(m, "packed")
    table.add("4-bit weights with QAT within 1 pp of fp32 (LeNet-5)", f"{100 * (acc - base):+.2f} pp",
              base - acc <= 0.01, f"PTQ {ptq:.3f} -> QAT {acc:.3f} vs {base:.3f}; {size:,} bytes packed")
    if vgg_too:
        vgg = wb.get_baseline("vgg")
        base = wb.evaluate(vgg, ds.X_test, ds.y_test)
        m = fake.quantize_model(integer.fold_batchnorm(vgg), ds.X_val, weight_bits=4, activation_bits=8)
        ptq = wb.evaluate(m, ds.X_test, ds.y_test)
        start = time.perf_counter()
        wb.fine_tune(m, ds, num_epochs=1, lr=1e-4, progress=False)
        acc = wb.evaluate(m, ds.X_test, ds.y_test)
        table.add("4-bit weights with QAT within 1 pp of fp32 (VGG)", f"{100 * (acc - base):+.2f} pp",
                  base - acc <= 0.01, f"PTQ {ptq:.3f} -> QAT {acc:.3f} vs {base:.3f}; "
                  f"1 epoch, {time.perf_counter() - start:.0f} s")


def binary_nets(ds, table: Table, vgg_too: bool) -> None:
    mlp = wb.get_baseline("lenet300")
    base, fp32 = wb.evaluate(mlp, ds.X_test, ds.y_test), encodings.size_bytes(mlp, "fp32")
    m = binary.binarize_model(wb.get_baseline("lenet300"), "xnor")
    wb.fine_tune(m, ds, num_epochs=2, lr=1e-3, on_step=binary.clip_latent, progress=False)   # notebook's recipe
    size = encodings.size_bytes(m, "packed")
    acc = wb.evaluate(encodings.decoded_model(m, encodings.encode(m, "packed")), ds.X_test, ds.y_test)
    table.add("binary (XNOR) LeNet-300-100: size >= 25x smaller than fp32", f"{fp32 / size:.1f}x", fp32 / size >= 25,
              f"{fp32:,} -> {size:,} bytes; accuracy {acc:.3f} vs {base:.3f}")
    if vgg_too:
        vgg = wb.get_baseline("vgg")
        base, fp32 = wb.evaluate(vgg, ds.X_test, ds.y_test), encodings.size_bytes(vgg, "fp32")
        m = binary.binarize_model(integer.fold_batchnorm(vgg), "xnor")    # BN folded: scale + bias per channel
        start = time.perf_counter()
        wb.fine_tune(m, ds, num_epochs=3, lr=1e-3, schedule="cosine", on_step=binary.clip_latent, progress=False)
        blob = encodings.encode(m, "packed")
        acc = wb.evaluate(encodings.decoded_model(m, blob), ds.X_test, ds.y_test)
        table.add("binary (XNOR) VGG: size >= 25x smaller than fp32", f"{fp32 / len(blob):.1f}x",
                  fp32 / len(blob) >= 25, f"{fp32:,} -> {len(blob):,} bytes; accuracy {acc:.3f} vs {base:.3f}; "
                  f"3 epochs, {time.perf_counter() - start:.0f} s")
        lat = wb.compare_latency({"fp32": integer.fold_batchnorm(vgg), "xnor": plain_copy(m)}, ds.input_shape,
                                 batch_size=32, repeats=50, warmup=10)
        r = lat["fp32"].median_ms / lat["xnor"].median_ms
        table.add("  binary (XNOR) VGG latency vs fp32 (BN folded), batch 32", f"{r:.2f}x", None,
                  "the same dense float kernels: PyTorch has no binary CPU kernels")


def slider(ds, table: Table) -> None:
    ex = make_explorer(ds, model="lenet5")
    times = []
    for name, value in SLIDER_MOVES[:10]:
        start = time.perf_counter()
        ex.controls[name].value = value                      # the callbacks run synchronously
        times.append(time.perf_counter() - start)
    if ex.errors:
        raise ex.errors[-1]
    med = 1e3 * statistics.median(times)
    table.add("explorer slider response, post-training moves (median)", f"{med:.0f} ms", med <= 250,
              f"10 new settings, LeNet-5; max {1e3 * max(times):.0f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip torch.compile and the VGG training")
    parser.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/quantization.json")
    args = parser.parse_args(argv)
    wb.setup(seed=0)
    print(f"CPU: {_cpu()} (AVX-512 VNNI: {'yes' if _vnni() else 'no'}), quantized engine x86")
    ds = wb.load("digits")
    table = Table()
    start = time.perf_counter()
    print(f"\n  {'target':<58s} {'measured':>24s}  {'':>7s}   how")
    slider(ds, table)
    ptq_and_real(ds, table, compiled=not args.quick)
    qat(ds, table, vgg_too=not args.quick)
    binary_nets(ds, table, vgg_too=not args.quick)
    seconds = time.perf_counter() - start
    print(f"\nall measured in {seconds:.0f} s, {torch.get_num_threads()} threads; timings are medians of "
          "interleaved runs: compare ratios within this run.")
    if not args.no_save:
        out = real.results_path()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({
            "when": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": _cpu(),
            "threads": torch.get_num_threads(), "quick": args.quick, "seconds": round(seconds),
            "targets": table.rows, "notes": table.notes}, indent=2))
        print(f"wrote {out}")
    return 0 if all(r["met"] is not False for r in table.rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
