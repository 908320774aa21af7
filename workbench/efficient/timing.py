"""Fewer MACs, less time? Timing a standard block against the separable block that replaces it.

A depthwise convolution does k² MACs per value it reads, where a standard one does
k²·M: it is memory-bound, and the pointwise 1×1 that follows is a small matrix
product. So the latency cut is usually smaller than the MAC cut. ``time_blocks``
measures both blocks interleaved (``wb.compare_latency``: warm-up, medians) at each
batch size and prints nothing; the notebook reads the table::

    >>> t = time_blocks(16, 8, batches=(1,), repeats=3)
    >>> list(t.columns)[:4]
    ['batch', 'threads', 'standard_ms', 'separable_ms']
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .._checks import check_int, checked
from ..latency import compare_latency
from ..metrics import count_macs
from .blocks import BLOCKS


@checked
def time_blocks(channels: int = 64, size: int = 14, *, batches: Sequence[int] = (1, 32), repeats: int = 30,
                warmup: int = 5, threads: int | None = None) -> pd.DataFrame:
    """Median latency of a standard and a separable 3×3 block (``channels`` in and out, stride 1).

    One row per batch size: both medians in ms, the speedup (standard / separable),
    the MAC cut (standard MACs / separable MACs) and their ratio — 1.0 would mean
    latency falls exactly as the MACs do.
    """
    check_int("channels", channels, 1)
    check_int("size", size, 1)
    blocks = {name: BLOCKS[name](channels, channels, 1) for name in ("standard", "separable")}
    shape = (channels, size, size)
    macs = {name: count_macs(b, shape) for name, b in blocks.items()}
    rows = []
    for b in batches:
        check_int("batches", b, 1)
        lat = compare_latency(blocks, shape, batch_size=b, repeats=repeats, warmup=warmup, threads=threads)
        speedup = lat["standard"].median_ms / lat["separable"].median_ms
        cut = macs["standard"] / macs["separable"]
        rows.append({"batch": b, "threads": lat["standard"].threads, "standard_ms": lat["standard"].median_ms,
                     "separable_ms": lat["separable"].median_ms, "speedup": speedup, "MAC cut": cut,
                     "speedup / MAC cut": speedup / cut})
    return pd.DataFrame(rows)
