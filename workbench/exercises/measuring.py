"""Exercises of notebook 00: counting MACs, sizing a sparse format, reading timings."""

from __future__ import annotations

import statistics

import torch

from ..solutions import measuring as ref
from . import Case, Exercise, Feedback, close

_conv = Exercise(
    "conv_macs",
    reference=ref.conv_macs,
    cases=[Case((1, 6, 5, 28, 28), label="LeNet-5 conv1"),
           Case((6, 16, 5, 10, 10), label="LeNet-5 conv2"),
           Case((32, 32, 3, 14, 14), {"groups": 32}, label="depthwise 3x3, 32 channels"),
           Case((64, 128, 1, 7, 7), label="pointwise 1x1")],
    compare=close(rtol=0, atol=0.5, what="MACs"),
    mistakes={
        "a MAC is one multiply *and* one add; FLOP counters report 2 FLOPs per MAC, so halve FLOPs.":
            lambda ci, co, k, h, w, groups=1: 2 * ref.conv_macs(ci, co, k, h, w, groups),
        "each output value sums over the input channels too: multiply by c_in / groups.":
            lambda ci, co, k, h, w, groups=1: co * h * w * k * k,
        "with groups, each filter sees only c_in / groups input channels.":
            lambda ci, co, k, h, w, groups=1: co * h * w * ci * k * k,
        "a k x k kernel has k * k taps: square the kernel size.":
            lambda ci, co, k, h, w, groups=1: co * h * w * (ci // groups) * k,
    })


def check_conv_macs(fn) -> Feedback:
    """Check ``fn(c_in, c_out, kernel_size, h_out, w_out, groups=1) -> MACs``."""
    return (_conv.check(fn))


def _sparse(rows: int, cols: int, density: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g)
    return w * (torch.rand(rows, cols, generator=g) < density)


_csr = Exercise(
    "csr_bytes",
    reference=ref.csr_bytes,
    cases=[Case((torch.tensor([[0., 2.], [3., 0.]]),), label="2x2, two non-zeros"),
           Case((_sparse(300, 784, 0.1, 0),), label="LeNet-300 fc1 at 90% sparsity"),
           Case((_sparse(100, 300, 0.5, 1),), label="fc2 at 50% sparsity"),
           Case((torch.zeros(10, 84),), label="all zeros")],
    compare=close(rtol=0, atol=0.5, what="bytes"),
    mistakes={
        "CSR needs rows + 1 row pointers (the last one marks the end), 4 bytes each.":
            lambda w: 8 * int((w != 0).sum()) + 4 * w.shape[0],
        "did you forget the row pointers? CSR stores values, column indices *and* row pointers.":
            lambda w: 8 * int((w != 0).sum()),
        "did you forget the column indices? Each stored value needs its column (4 bytes as int32).":
            lambda w: 4 * int((w != 0).sum()) + 4 * (w.shape[0] + 1),
        "count only the non-zero entries: zeros are what CSR leaves out.":
            lambda w: 8 * w.numel() + 4 * (w.shape[0] + 1),
    })


def check_csr_bytes(fn) -> Feedback:
    """Check ``fn(weight) -> bytes`` of CSR with fp32 values and int32 indices."""
    return (_csr.check(fn))


_speed = Exercise(
    "speedup",
    reference=ref.speedup,
    cases=[Case(([10.0, 10.0, 10.0], [5.0, 5.0, 5.0]), label="steady timings"),
           Case(([10.0, 11.0, 95.0, 10.5, 10.2], [5.0, 5.1, 5.2, 4.9, 40.0]), label="with outliers"),
           Case(([2.0, 2.1, 1.9], [4.0, 4.2, 3.8]), label="candidate slower")],
    compare=close(rtol=1e-6, what="×"),
    mistakes={
        "a speedup is baseline time / candidate time (> 1 means faster).":
            lambda b, c: statistics.median(c) / statistics.median(b),
        "the mean is pulled by outliers (another process woke up); use the median.":
            lambda b, c: statistics.mean(b) / statistics.mean(c),
        "the minimum hides the spread a user sees; compare medians.":
            lambda b, c: min(b) / min(c),
    })


def check_speedup(fn) -> Feedback:
    """Check ``fn(baseline_ms, candidate_ms) -> speedup``."""
    return (_speed.check(fn))

