"""What sparsity buys on a CPU, measured: CSR kernels against dense ones, and the cost of masks.

A zero in a dense matrix still costs its multiply-add. A sparse format skips it,
but pays an index per value and irregular memory access, so it only wins once
most entries are zero::

    >>> table = csr_vs_dense(size=256, sparsities=(0.0, 0.99), repeats=3)
    >>> list(table.columns)
    ['dense_ms', 'csr_ms', 'speedup', 'dense_bytes', 'csr_bytes']

Masks alone (``torch.nn.utils.prune``, or parametrizations) make things worse:
the forward pass computes ``weight * mask`` every time, and the checkpoint holds
both the original weights and the masks.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from .._checks import check_fraction, check_int
from ..encodings import torch_save_bytes
from ..latency import compare_latency
from ..report import format_bytes
from ..weights import deep_copy, plain_copy
from .groups import weight_layers
from .masks import apply_masks

SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


class _MatMul(nn.Module):
    """``x -> W @ x`` for a dense or a sparse CSR ``W`` (so ``compare_latency`` can time it)."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # x: (1, in, batch) -> (out, batch)
        return self.weight @ x[0]


def random_sparse(size: int, sparsity: float, seed: int = 0) -> torch.Tensor:
    """A ``size x size`` Gaussian matrix with a random ``sparsity`` fraction of zeros."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(size, size, generator=g)
    return w * (torch.rand(size, size, generator=g) >= sparsity)


def csr_vs_dense(size: int = 2048, sparsities: Sequence[float] = SPARSITIES, *, batch_size: int = 1,
                 repeats: int = 30, threads: int | None = 1, seed: int = 0) -> pd.DataFrame:
    """Time ``W @ x`` with ``W`` dense and in CSR, interleaved, at each sparsity.

    ``threads=1`` by default: on a shared machine a multi-threaded sparse kernel can
    stall waiting for a busy core, which measures the neighbours, not the format.
    ``speedup`` > 1 means CSR is faster; bytes are CSR with int64 indices, as PyTorch stores it.
    """
    check_int("size", size, 2, 16384)
    check_int("batch_size", batch_size, 1)
    if not sparsities:
        raise ValueError("sparsities must list at least one sparsity")
    rows = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
        for s in sparsities:
            check_fraction("sparsities", s, high_inclusive=False)
            w = random_sparse(size, s, seed)
            csr = w.to_sparse_csr()
            lat = compare_latency({"dense": _MatMul(w), "csr": _MatMul(csr)}, (size, batch_size), batch_size=1,
                                  repeats=repeats, warmup=3, threads=threads)
            csr_bytes = sum(t.numel() * t.element_size() for t in (csr.values(), csr.col_indices(), csr.crow_indices()))
            rows[s] = {"dense_ms": lat["dense"].median_ms, "csr_ms": lat["csr"].median_ms,
                       "speedup": lat["dense"].median_ms / lat["csr"].median_ms,
                       "dense_bytes": w.numel() * w.element_size(), "csr_bytes": csr_bytes}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "sparsity"
    return table


def crossover(table: pd.DataFrame) -> float | None:
    """The lowest measured sparsity from which CSR is faster at every higher sparsity too.

    >>> crossover(pd.DataFrame({"speedup": [0.3, 1.2, 0.9, 1.5, 3.0]}, index=[0.0, 0.5, 0.8, 0.9, 0.99]))
    0.9
    """
    found = None
    for s, v in sorted(table["speedup"].items(), reverse=True):
        if v > 1:
            found = s
        else:
            break
    return found


def mask_overhead(model: nn.Module, input_shape: Sequence[int], amount: float = 0.9, *, batch_size: int = 32,
                  repeats: int = 30, threads: int | None = None) -> pd.DataFrame:
    """Latency and checkpoint bytes of four forms of the same pruned model, timed interleaved.

    ``dense``: the unpruned model; ``torch.nn.utils.prune``: PyTorch's masks
    (``weight_orig * weight_mask``); ``parametrized mask``: ours; ``zeros written in``:
    masks made permanent. Bytes are ``torch.save`` of the state dict.
    """
    check_fraction("amount", amount, high_inclusive=False)
    pruned_torch = deep_copy(model)
    for layer in weight_layers(pruned_torch).values():
        torch_prune.l1_unstructured(layer, "weight", amount=amount)
    masks = {f"{n}.weight": getattr(pruned_torch.get_submodule(n), "weight_mask")
             for n in weight_layers(pruned_torch)}
    parametrized = apply_masks(deep_copy(model), masks)
    variants = {"dense": deep_copy(model), "torch.nn.utils.prune": pruned_torch,
                "parametrized mask": parametrized, "zeros written in": plain_copy(parametrized)}
    lat = compare_latency(variants, input_shape, batch_size=batch_size, repeats=repeats, threads=threads)
    base_ms, base_bytes = lat["dense"].median_ms, torch_save_bytes(variants["dense"])
    rows = {}
    for name, m in variants.items():
        nbytes = torch_save_bytes(m)
        rows[name] = {"latency_ms": lat[name].median_ms, "speedup": base_ms / lat[name].median_ms,
                      "checkpoint_bytes": nbytes, "bytes_ratio": nbytes / base_bytes}
    return pd.DataFrame.from_dict(rows, orient="index")


OP_KINDS = (("convolution", ("conv",)), ("pooling", ("pool",)), ("batch norm", ("batch_norm",)),
            ("ReLU", ("relu", "clamp_min")), ("linear", ("addmm", "linear", "matmul", "mm")))


def op_times(models: dict[str, nn.Module], input_shape: Sequence[int], *, batch_size: int = 32, repeats: int = 20,
             channels_last: bool = False) -> pd.DataFrame:
    """Milliseconds per forward pass spent in each kind of operator (PyTorch's profiler, self CPU time).

    Where the time goes explains why latency does not follow MACs: pooling, BatchNorm
    and ReLU work on activations, which removing filters shrinks less than the MACs.
    Rows: operator kinds (and ``total``); columns: models. Averages of ``repeats`` runs.
    """
    from torch.profiler import ProfilerActivity, profile

    check_int("repeats", repeats, 1)
    x = torch.randn(batch_size, *input_shape, generator=torch.Generator().manual_seed(0))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    out = {}
    for name, model in models.items():
        model.eval()
        with torch.inference_mode():
            for _ in range(3):
                model(x)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(repeats):
                    model(x)
        kinds = {k: 0.0 for k, _ in OP_KINDS} | {"other": 0.0}
        for ev in prof.key_averages():
            if not ev.key.startswith("aten::"):
                continue
            kind = next((k for k, keys in OP_KINDS if any(s in ev.key for s in keys)), "other")
            kinds[kind] += ev.self_cpu_time_total / 1e3 / repeats
        kinds["total"] = sum(kinds.values())
        out[name] = kinds
    return pd.DataFrame(out)


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """Display strings: timings as ``… ms``, speedups as ``…× faster/slower``, bytes in kB/MB."""
    from ..report import _ratio

    out = pd.DataFrame(index=table.index)
    for col in table.columns:
        if col.endswith("_ms"):
            out[col.removesuffix("_ms")] = table[col].map(lambda v: f"{v:.3f} ms")
        elif col == "speedup":
            out["speedup"] = table[col].map(lambda v: _ratio(v, "faster", "slower"))
        elif col.endswith("bytes"):
            out[col.replace("_bytes", " size").replace("_", " ")] = table[col].map(format_bytes)
        elif col == "bytes_ratio":
            out["size vs dense"] = table[col].map(lambda v: f"{v:.2f}x")
        else:
            out[col] = table[col]
    return out
