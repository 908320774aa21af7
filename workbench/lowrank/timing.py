"""What factoring buys in time, measured: single layers swept over size and rank, and whole models.

Fewer MACs are not fewer milliseconds. A factored layer runs two to four thinner
operators instead of one; each has a fixed cost (dispatch, memory traffic for its
output), and thin 1×1 or depthwise convolutions use the CPU's vector units poorly.
Below some size the overhead wins and the factored layer is *slower*; the sweeps
below find where, on this machine::

    >>> table = conv_sweep(channels=(8, 16), size=7, batch_size=4, repeats=3)
    >>> list(table.columns)[:4]
    ['rank', 'dense_macs', 'factored_macs', 'mac_cut']

Every latency is a median of interleaved runs (``workbench.compare_latency``).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

from .._checks import check_int, check_number
from ..latency import compare_latency
from ..metrics import count_macs
from .layers import svd_linear, tucker_conv


def _timed(dense: nn.Module, factored: nn.Module, input_shape, batch_size: int, repeats: int) -> dict:
    lat = compare_latency({"dense": dense, "factored": factored}, input_shape, batch_size=batch_size,
                          repeats=repeats, warmup=3)
    dm, fm = count_macs(dense, input_shape), count_macs(factored, input_shape)
    speedup = lat["dense"].median_ms / lat["factored"].median_ms
    return dict(dense_macs=dm, factored_macs=fm, mac_cut=dm / fm, dense_ms=lat["dense"].median_ms,
                factored_ms=lat["factored"].median_ms, speedup=speedup, speedup_per_mac_cut=speedup / (dm / fm))


def conv_sweep(channels: Sequence[int] = (8, 16, 32, 64, 128), *, rank_fraction: float = 0.5, size: int = 14,
               kernel_size: int = 3, batch_size: int = 32, repeats: int = 20, seed: int = 0) -> pd.DataFrame:
    """A C→C k×k conv against its Tucker-2 at ranks (f·C, f·C), for each C in ``channels``.

    One row per C: MACs of both, the MAC cut, both medians and the speedup
    (> 1: the factored layer is faster).
    """
    if not channels:
        raise ValueError("channels must list at least one channel count")
    check_number("rank_fraction", rank_fraction, 0.0, 1.0, low_inclusive=False)
    check_int("size", size, 1)
    check_int("kernel_size", kernel_size, 2, 11)
    rows = {}
    for c in channels:
        check_int("channels", c, 1, 4096)
        torch.manual_seed(seed)
        dense = nn.Conv2d(c, c, kernel_size, padding=kernel_size // 2, bias=False)
        rank = max(1, round(rank_fraction * c))
        factored = tucker_conv(dense, (rank, rank))
        rows[c] = dict(rank=rank, **_timed(dense, factored, (c, size, size), batch_size, repeats))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "channels"
    return table


def linear_sweep(in_features: int = 784, out_features: int = 300, ranks: Sequence[int] = (10, 25, 50, 100, 150, 200),
                 *, batch_size: int = 32, repeats: int = 30, seed: int = 0) -> pd.DataFrame:
    """A Linear layer against its rank-r SVD factors, for each r in ``ranks``."""
    if not ranks:
        raise ValueError("ranks must list at least one rank")
    check_int("in_features", in_features, 1)
    check_int("out_features", out_features, 1)
    torch.manual_seed(seed)
    dense = nn.Linear(in_features, out_features)
    rows = {}
    for r in ranks:
        factored = svd_linear(dense, r)
        rows[r] = _timed(dense, factored, (in_features,), batch_size, repeats)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "rank"
    return table


def crossover(table: pd.DataFrame) -> object | None:
    """Where the factored layer stops being slower.

    For a sweep over sizes (index ``channels``): the smallest size from which every
    larger one is faster factored. For a sweep over ranks: the largest rank up to
    which every smaller one is faster. ``None`` if the factored layer never wins.

    >>> crossover(pd.DataFrame({"speedup": [0.5, 0.9, 1.3, 1.6]}, index=pd.Index([8, 16, 32, 64], name="channels")))
    32
    """
    if "speedup" not in table or table.empty:
        raise ValueError("table must be a sweep with a 'speedup' column")
    faster = (table["speedup"] > 1.0).tolist()
    keys = list(table.index)
    if table.index.name == "rank":
        best = None
        for k, ok in zip(keys, faster):
            if not ok:
                break
            best = k
        return best
    for i in range(len(keys)):
        if all(faster[i:]):
            return keys[i]
    return None


def model_speedup(baseline: nn.Module, model: nn.Module, input_shape: Sequence[int], *, batch_size: int = 32,
                  repeats: int = 30) -> dict:
    """The measured speedup of ``model`` over ``baseline`` at ``batch_size``, beside their MAC cut."""
    return _timed(baseline, model, tuple(input_shape), batch_size, repeats)


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """A sweep for printing: MACs in thousands, ms and ratios rounded, speedups as "…× faster"/"…× slower"."""
    out = pd.DataFrame(index=table.index)
    if "rank" in table:
        out["rank"] = table["rank"]
    out["MACs dense"] = (table["dense_macs"] / 1e3).round().astype(int).map("{:,}k".format)
    out["MACs factored"] = (table["factored_macs"] / 1e3).round().astype(int).map("{:,}k".format)
    out["MAC cut"] = table["mac_cut"].map("{:.1f}×".format)
    out["dense"] = table["dense_ms"].map("{:.3f} ms".format)
    out["factored"] = table["factored_ms"].map("{:.3f} ms".format)
    out["measured"] = table["speedup"].map(lambda s: f"{s:.2f}× faster" if s >= 1 else f"{1 / s:.2f}× slower")
    return out
