"""Exercises of notebook 03: linear initialization, the centroid gradient, relative indices, the rate formula."""

from __future__ import annotations

import math

import torch

from ..solutions import sharing as ref
from . import Case, Exercise, Feedback, close


def _gaussian(*shape, scale=1.0, seed=0):
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


_linear = Exercise(
    "linear_init",
    reference=ref.linear_init,
    cases=[Case((torch.tensor([0.5, -1.0, 2.0]), 4), label="3 weights, k=4"),
           Case((_gaussian(50, 20, scale=0.1, seed=1), 8), label="a (50, 20) layer, k=8"),
           Case((_gaussian(300, seed=2) ** 3, 16), label="heavy tails, k=16")],
    compare=close(rtol=1e-5, atol=1e-6),
    mistakes={
        "those are quantiles of the weights: that is the density initialization. Linear spaces the "
        "centroids evenly over [min, max], whatever the weights' distribution.":
            lambda w, k: torch.quantile(w.reshape(-1).float(), torch.linspace(0, 1, k)),
        "the last centroid must be the largest weight: torch.linspace(min, max, k) includes both ends.":
            lambda w, k: torch.linspace(float(w.min()), float(w.max()), k + 1)[:-1],
        "span the weights themselves, not their magnitudes: negative weights need centroids too.":
            lambda w, k: torch.linspace(float(w.abs().min()), float(w.abs().max()), k),
    })


def check_linear_init(fn) -> Feedback:
    """Check ``fn(weights: Tensor, k) -> Tensor`` of ``k`` centroids, ascending."""
    return _linear.check(fn)


_index = torch.tensor([2, 0, 2, 1, 2, 0])
_grad = torch.tensor([0.5, -1.0, 0.25, 2.0, -0.75, 3.0])

_gradient = Exercise(
    "centroid_gradient",
    reference=ref.centroid_gradient,
    cases=[Case((_grad, _index, 3), label="6 weights, 3 centroids"),
           Case((_grad, _index, 5), label="5 centroids, two of them unused"),
           Case((_gaussian(20, 30, seed=3), torch.randint(0, 8, (20, 30), generator=torch.Generator().manual_seed(4)),
                 8), label="a (20, 30) layer, 8 centroids")],
    compare=close(rtol=1e-5, atol=1e-6),
    mistakes={
        "that is the mean of each cluster's gradients; Han et al. (2016) use their sum (the derivative of the "
        "loss with respect to a value shared by several weights).":
            lambda g, i, k: ref.centroid_gradient(g, i, k) / torch.bincount(i.reshape(-1), minlength=k).clamp_min(1),
        "you counted the weights in each cluster; add up their gradients instead.":
            lambda g, i, k: torch.bincount(i.reshape(-1), minlength=k).to(g.dtype),
        "the result needs one entry per centroid (k of them), including centroids no weight uses.":
            lambda g, i, k: ref.centroid_gradient(g, i, int(i.max()) + 1),
    })


def check_centroid_gradient(fn) -> Feedback:
    """Check ``fn(grad: Tensor, index: Tensor, k) -> Tensor`` of shape ``(k,)``."""
    return _gradient.check(fn)


def _compare_relative(got, expected) -> str | None:
    if not (isinstance(got, tuple) and len(got) == 2):
        return f"got {type(got).__name__}, expected a tuple (gaps, filler)"
    gaps, filler = [int(g) for g in got[0]], [bool(f) for f in got[1]]
    if len(gaps) != len(filler):
        return f"gaps has {len(gaps)} entries but filler has {len(filler)}; one flag per entry"
    if gaps != expected[0]:
        if len(gaps) != len(expected[0]):
            return f"got {len(gaps)} entries, expected {len(expected[0])} (non-zeros plus fillers)"
        return f"got gaps {gaps[:12]}, expected {expected[0][:12]}"
    if filler != expected[1]:
        return f"the gaps are right, but the filler flags are {filler[:12]}, expected {expected[1][:12]}"
    return None


def _no_fillers(positions, bits):
    gaps = [p - q for p, q in zip(positions, [-1, *positions[:-1]])]
    return gaps, [False] * len(gaps)


def _loop(positions, bits, *, start=-1, span=None):
    """Relative indices by a loop, with a different start or filler spacing (models of two mistakes)."""
    span = span or 2**bits
    gaps, filler, prev = [], [], start
    for p in positions:
        d = p - prev
        while d > span:
            gaps.append(span)
            filler.append(True)
            d -= span
        gaps.append(d)
        filler.append(False)
        prev = p
    return gaps, filler


def _from_zero(positions, bits):
    return _loop(positions, bits, start=0)


def _short_span(positions, bits):
    return _loop(positions, bits, span=2**bits - 1)


_relative = Exercise(
    "relative_indices",
    reference=ref.relative_indices,
    cases=[Case(([1, 2, 40], 4), label="positions [1, 2, 40], 4 bits"),
           Case(([0, 3, 8, 9], 2), label="positions [0, 3, 8, 9], 2 bits"),
           Case(([15, 16, 100, 101], 3), label="long gaps, 3 bits"),
           Case(([], 5), label="no non-zeros")],
    compare=_compare_relative,
    mistakes={
        "a gap longer than 2**index_bits does not fit in index_bits bits: insert filler zeros, each "
        "2**index_bits positions on.":
            _no_fillers,
        "the first gap counts from position -1 (a non-zero at position 0 has gap 1).":
            _from_zero,
        "the largest gap that fits is 2**index_bits (stored as gap - 1), so a filler sits 2**index_bits "
        "positions on, not 2**index_bits - 1.":
            _short_span,
    })


def check_relative_indices(fn) -> Feedback:
    """Check ``fn(positions: list[int], index_bits) -> (gaps: list[int], filler: list[bool])``."""
    return _relative.check(fn)


_rate = Exercise(
    "compression_rate",
    reference=ref.compression_rate,
    cases=[Case((1000, 32, 16), label="n=1000, 32 bits, k=16"),
           Case((235200, 32, 32), label="LeNet-300-100's first layer, k=32"),
           Case((64, 32, 64), label="a tiny layer: the codebook dominates")],
    compare=close(rtol=1e-6, what="×"),
    mistakes={
        "you left out the codebook: k centroids of b bits each are stored too (the k·b term).":
            lambda n, b, k: n * b / (n * math.log2(k)),
        "each index needs log2(k) bits, not k bits.":
            lambda n, b, k: n * b / (n * k + k * b),
        "that is the inverse: compressed size over original size. The rate is original over compressed.":
            lambda n, b, k: 1 / ref.compression_rate(n, b, k),
    })


def check_compression_rate(fn) -> Feedback:
    """Check ``fn(n, bits, k) -> float``, the compression rate of sharing ``n`` weights."""
    return _rate.check(fn)
