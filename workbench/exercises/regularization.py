"""Exercises of notebook 02: the soft-thresholding step, the filter group lasso, which filters a threshold removes."""

from __future__ import annotations

import torch

from ..solutions import regularization as ref
from . import Case, Exercise, Feedback, close


def _gaussian(*shape, scale=1.0, seed=0):
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


_soft = Exercise(
    "soft_threshold",
    reference=ref.soft_threshold,
    cases=[Case((torch.tensor([0.5, -0.1, -2.0, 0.0, 0.25]), 0.25), label="five weights, threshold 0.25"),
           Case((_gaussian(20, 10, scale=0.1, seed=1), 0.05), label="a (20, 10) weight, threshold 0.05"),
           Case((_gaussian(6, 3, 5, 5, seed=2), 0.0), label="threshold 0 changes nothing")],
    compare=close(rtol=1e-6, atol=1e-7),
    mistakes={
        "that is hard thresholding (small weights zeroed, the others kept as they were); the proximal step of "
        "L1 also shrinks the surviving weights by the threshold.":
            lambda w, t: w * (w.abs() > t),
        "the sign is lost: shrink |w| and give the result w's sign back (torch.sign(w) * ...).":
            lambda w, t: torch.clamp(w.abs() - t, min=0.0),
        "that is one subgradient step (w - t·sign(w)): a weight smaller than the threshold overshoots to the "
        "other side of zero; the proximal step stops at 0 (clamp |w| - threshold at 0).":
            lambda w, t: w - t * torch.sign(w),
    })


def check_soft_threshold(fn) -> Feedback:
    """Check ``fn(w: Tensor, threshold: float) -> Tensor`` (same shape as ``w``)."""
    return _soft.check(fn)


_conv = _gaussian(8, 4, 3, 3, scale=0.2, seed=3) * torch.tensor([1, 0.3, 0.05, 1, 0.4, 2, 0.1, 0.45])[:, None, None, None]
_two = torch.tensor([[[[3.0, 4.0]], [[0.0, 12.0]]], [[[1.0, 0.0]], [[0.0, 0.0]]]])     # filter norms 13 and 1
_half_dead = _conv.clone()
_half_dead[::2] = 0.0

_lasso = Exercise(
    "filter_group_lasso",
    reference=ref.filter_group_lasso,
    cases=[Case((_two, 0.5), label="two 2x1x2 filters of norms 13 and 1, λ=0.5"),
           Case((_conv, 1e-2), label="a (8, 4, 3, 3) conv weight, λ=0.01"),
           Case((_half_dead, 1.0), label="every other filter zero, λ=1")],
    compare=close(rtol=1e-5, atol=1e-7),
    mistakes={
        "that is the squared norm (weight decay on groups); group lasso sums the norms themselves, "
        "which is what drives whole groups to exactly zero.":
            lambda w, lam: lam * (w.reshape(w.shape[0], -1) ** 2).sum(),
        "that is plain L1 (Σ|w|); group lasso takes the L2 norm of each filter, then sums the norms.":
            lambda w, lam: lam * w.abs().sum(),
        "a filter is one OUTPUT channel, W[f] of shape (in, kh, kw): group along dim 0, not dim 1.":
            lambda w, lam: lam * w.transpose(0, 1).reshape(w.shape[1], -1).norm(dim=1).sum(),
        "that is the L2 norm of the whole weight; take one norm per filter and add them up.":
            lambda w, lam: lam * w.norm(),
        "multiply by λ.":
            lambda w, lam: w.reshape(w.shape[0], -1).norm(dim=1).sum(),
    })


def check_filter_group_lasso(fn) -> Feedback:
    """Check ``fn(weight (out, in, kh, kw), lam) -> 0-d tensor``."""
    return _lasso.check(fn)


def _compare_indices(got, expected) -> str | None:
    try:
        g = sorted(int(i) for i in (got.tolist() if isinstance(got, torch.Tensor) else got))
    except (TypeError, ValueError):
        return f"got {got!r}, expected a list of filter indices like {expected}"
    if g != expected:
        return f"got filters {g}, expected {expected}"
    return None


_removed = Exercise(
    "filters_removed",
    reference=ref.filters_removed,
    cases=[Case((torch.tensor([[[[3.0]]], [[[0.125]]], [[[-0.25]]]]), 0.25), label="norms 3, 0.125, 0.25; threshold 0.25"),
           Case((_half_dead, 0.0), label="every other filter exactly zero, threshold 0"),
           Case((_conv, 0.55), label="a (8, 4, 3, 3) conv weight, threshold 0.55")],
    compare=_compare_indices,
    mistakes={
        "'at most the threshold' includes a norm equal to it (<=, not <).":
            lambda w, t: [i for i, n in enumerate(w.reshape(w.shape[0], -1).norm(dim=1).tolist()) if n < t],
        "those are the filters that STAY; return the ones whose norm is at most the threshold.":
            lambda w, t: [i for i, n in enumerate(w.reshape(w.shape[0], -1).norm(dim=1).tolist()) if n > t],
        "compare each filter's L2 norm, not its largest |w|.":
            lambda w, t: [i for i, n in enumerate(w.reshape(w.shape[0], -1).abs().amax(dim=1).tolist()) if n <= t],
        "compare each filter's L2 norm, not the sum of its |w| (L1 norm).":
            lambda w, t: [i for i, n in enumerate(w.reshape(w.shape[0], -1).abs().sum(dim=1).tolist()) if n <= t],
    })


def check_filters_removed(fn) -> Feedback:
    """Check ``fn(weight (out, in, kh, kw), threshold) -> list of filter indices``."""
    return _removed.check(fn)
