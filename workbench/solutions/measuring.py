"""Reference solutions for notebook 00 (baselines and how we measure)."""

from __future__ import annotations

import statistics

from torch import Tensor


def conv_macs(c_in: int, c_out: int, kernel_size: int, h_out: int, w_out: int, groups: int = 1) -> int:
    """MACs of one Conv2d on one example: every output value is a dot product of length
    ``(c_in / groups) * k * k``.

    >>> conv_macs(1, 6, 5, 28, 28)
    117600
    """
    return c_out * h_out * w_out * (c_in // groups) * kernel_size * kernel_size


def csr_bytes(weight: Tensor) -> int:
    """Bytes of a matrix in CSR with fp32 values, int32 column indices and int32 row pointers.

    >>> import torch
    >>> csr_bytes(torch.tensor([[0., 2.], [3., 0.]]))
    28
    """
    rows = weight.shape[0]
    nnz = int((weight != 0).sum())
    return 4 * nnz + 4 * nnz + 4 * (rows + 1)


def speedup(baseline_ms: list[float], candidate_ms: list[float]) -> float:
    """How many times faster the candidate is: ratio of medians (robust to outliers).

    >>> speedup([10.0, 10.0, 90.0], [5.0, 5.0, 5.0])
    2.0
    """
    return statistics.median(baseline_ms) / statistics.median(candidate_ms)
