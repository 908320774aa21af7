"""Exercises of notebook 05: the break-even rank, the rank that keeps an energy, two Linear layers from an SVD."""

from __future__ import annotations

from numbers import Real

import torch
from torch import nn

from ..solutions import lowrank as ref
from . import Case, Exercise, Feedback


def _int_compare(got, expected) -> str | None:
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, Real) or float(got) != int(float(got)):
        return f"got {got!r} ({type(got).__name__}), expected a whole number like {expected}"
    if int(got) != int(expected):
        return f"got {int(got)}, expected {int(expected)}"
    return None


_break_even = Exercise(
    "break_even_rank",
    reference=ref.break_even_rank,
    cases=[Case((784, 300), label="LeNet-300-100's first layer, 784 x 300"),
           Case((4, 4), label="4 x 4: m·n/(m+n) = 2 exactly"),
           Case((100, 10), label="100 x 10"),
           Case((1000, 1), label="1000 x 1")],
    compare=_int_compare,
    mistakes={
        "the factors must hold strictly FEWER numbers: when m·n/(m+n) is a whole number, that rank only ties.":
            lambda m, n: (m * n) // (m + n),
        "the two factors hold r·m + r·n numbers: count both, not just one of them.":
            lambda m, n: min(m, n) - 1,
        "round down, not to the nearest integer: a rank above m·n/(m+n) costs more than the dense layer.":
            lambda m, n: round(m * n / (m + n)),
        "half the smaller side is a rule of thumb, not the break-even: solve r·(m + n) < m·n.":
            lambda m, n: min(m, n) // 2,
    })


def check_break_even_rank(fn) -> Feedback:
    """Check ``fn(m, n) -> int``: the largest rank whose factors hold fewer numbers than m x n."""
    return _break_even.check(fn)


_spectrum = torch.tensor([5.0, 3.0, 2.0, 1.0, 0.5, 0.25])
_flat = torch.ones(10)
_energy = Exercise(
    "rank_for_energy",
    reference=ref.rank_for_energy,
    cases=[Case((_spectrum, 0.9), label="s = [5, 3, 2, 1, 0.5, 0.25], 90%"),
           Case((_spectrum, 0.5), label="same s, 50%"),
           Case((_flat, 0.3), label="ten equal values, 30% (exactly 3 of them)"),
           Case((_spectrum, 1.0), label="all the energy")],
    compare=_int_compare,
    mistakes={
        "energy is the sum of SQUARED singular values (the squared Frobenius norm), not of the values themselves.":
            lambda s, f: int((torch.cumsum(s.double(), 0) / s.double().sum() < f - 1e-12).sum()) + 1,
        "ranks count from 1: the rank is the number of values kept, one more than the last index.":
            lambda s, f: ref.rank_for_energy(s, f) - 1,
        "'at least the fraction' includes reaching it exactly (>=, not >).":
            lambda s, f: int((torch.cumsum(s.double() ** 2, 0) / (s.double() ** 2).sum() <= f + 1e-12).sum()) + 1,
    })


def check_rank_for_energy(fn) -> Feedback:
    """Check ``fn(s, fraction) -> int``: the smallest rank keeping ``fraction`` of the energy."""
    return _energy.check(fn)


_x = torch.randn(7, 12, generator=torch.Generator().manual_seed(5))


def _layer(m, n, seed, bias=True):
    torch.manual_seed(seed)
    return nn.Linear(n, m, bias=bias)


def _compare_layers(got, expected) -> str | None:
    if not isinstance(got, nn.Module):
        return f"got a {type(got).__name__}, expected an nn.Module (two Linear layers in an nn.Sequential)"
    linears = [m for m in got.modules() if isinstance(m, nn.Linear)]
    want = [m for m in expected.modules() if isinstance(m, nn.Linear)]
    shapes = [tuple(m.weight.shape) for m in linears]
    if shapes != [tuple(m.weight.shape) for m in want]:
        return f"got Linear weights of shapes {shapes}, expected {[tuple(m.weight.shape) for m in want]}"
    n = want[0].weight.shape[1]
    x = _x[:, :n] if n <= _x.shape[1] else torch.randn(7, n, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        g, e = got(x), expected(x)
    if not torch.allclose(g, e, atol=1e-4, rtol=1e-4):
        return f"outputs differ from the rank-{want[0].weight.shape[0]} reference by up to {(g - e).abs().max():.3g}"
    return None


def _twice_s(layer, rank):
    two = ref.low_rank_linear(layer, rank)
    s = torch.linalg.svdvals(layer.weight.detach())[:rank]
    with torch.no_grad():
        two[1].weight.mul_(s)                                   # S in both factors
    return two


def _smallest(layer, rank):
    W = layer.weight.detach()
    U, s, Vh = torch.linalg.svd(W, full_matrices=False)
    two = ref.low_rank_linear(layer, rank)
    with torch.no_grad():
        two[0].weight.copy_(s[-rank:, None] * Vh[-rank:])
        two[1].weight.copy_(U[:, -rank:])
    return two


def _no_bias(layer, rank):
    two = ref.low_rank_linear(layer, rank)
    with torch.no_grad():
        two[1].bias.zero_()
    return two


_linear = Exercise(
    "low_rank_linear",
    reference=ref.low_rank_linear,
    cases=[Case((_layer(5, 12, 0), 3), label="Linear(12 -> 5), rank 3"),
           Case((_layer(8, 12, 1), 8), label="Linear(12 -> 8), full rank 8: must reproduce the layer"),
           Case((_layer(6, 10, 2), 1), label="Linear(10 -> 6), rank 1")],
    compare=_compare_layers,
    mistakes={
        "S appears twice: put S (or √S on each side) into the factors once in all.": _twice_s,
        "keep the LARGEST singular values: torch.linalg.svd sorts them in descending order, so take the first r.":
            _smallest,
        "the bias belongs to the second layer (the one that produces the outputs); copy it there.": _no_bias,
    })


def check_low_rank_linear(fn) -> Feedback:
    """Check ``fn(layer: nn.Linear, rank) -> nn.Sequential`` of two Linear layers."""
    return _linear.check(fn)


__all__ = ["check_break_even_rank", "check_low_rank_linear", "check_rank_for_energy"]
