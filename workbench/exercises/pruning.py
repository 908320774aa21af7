"""Exercises of notebook 01: a global magnitude threshold, APoZ, the cubic schedule, per-layer amounts."""

from __future__ import annotations

import pandas as pd
import torch

from ..solutions import pruning as ref
from . import Case, Exercise, Feedback, close


def _compare_masks(got, expected) -> str | None:
    if not isinstance(got, dict):
        return f"got a {type(got).__name__}, expected a dict of masks keyed like the weights"
    if set(got) != set(expected):
        return f"got masks for {sorted(got)}, expected one for each of {sorted(expected)}"
    for name, exp in expected.items():
        g = got[name]
        if not isinstance(g, torch.Tensor):
            return f"mask {name!r} is a {type(g).__name__}, expected a tensor"
        if g.shape != exp.shape:
            return f"mask {name!r} has shape {tuple(g.shape)}, expected {tuple(exp.shape)}"
        g = g.bool()
        if not torch.equal(g, exp):
            kept, want = int(g.sum()), int(exp.sum())
            if kept != want:
                return f"mask {name!r} keeps {kept} of {exp.numel()} weights, expected {want}"
            return f"mask {name!r} keeps the right number of weights ({kept}) but not the right ones"
    return None


def _gaussian(*shape, scale=1.0, seed=0):
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _signed(weights, amount):
    return ref.lowest_scores_removed(weights, amount)          # sorted by w, not |w|


def _truncated(weights, amount):
    n = sum(w.numel() for w in weights.values())
    return ref.global_magnitude_masks(weights, int(amount * n) / n)


_masks = Exercise(
    "global_magnitude_masks",
    reference=ref.global_magnitude_masks,
    cases=[Case(({"a": torch.tensor([0.1, -2.0, 0.3]), "b": torch.tensor([[0.5, -0.05], [1.0, 0.2]])}, 0.4),
                label="7 weights, amount 0.4"),
           Case(({"fc1": _gaussian(30, 20, scale=0.05, seed=1), "fc2": _gaussian(10, 30, scale=0.5, seed=2)}, 0.8),
                label="two layers of different scales, amount 0.8"),
           Case(({"fc": _gaussian(4, 5, seed=3)}, 0.0), label="amount 0: keep everything")],
    compare=_compare_masks,
    mistakes={
        "that is a layer-wise threshold (each layer loses the same fraction); use ONE threshold over the "
        "weights of all layers together.":
            lambda w, a: {n: ref.global_magnitude_masks({n: t}, a)[n] for n, t in w.items()},
        "you removed the largest weights; magnitude pruning removes the smallest |w|.":
            lambda w, a: ref.global_magnitude_masks({n: 1.0 / (t.abs() + 1e-12) for n, t in w.items()}, a),
        "rank by magnitude |w|, not by the signed value: a large negative weight matters as much as a large "
        "positive one.":
            _signed,
        "amount is the fraction REMOVED (as in torch.nn.utils.prune), not the fraction kept.":
            lambda w, a: ref.global_magnitude_masks(w, 1.0 - a),
        "int() truncates; remove exactly round(amount * n) weights.":
            _truncated,
    })


def check_global_magnitude_masks(fn) -> Feedback:
    """Check ``fn(weights: dict[str, Tensor], amount) -> dict[str, bool Tensor]`` (True = keep)."""
    return _masks.check(fn)


_relu = torch.relu(_gaussian(8, 4, 5, 5, seed=4) - 0.3)
_dead = _relu.clone()
_dead[:, 2] = 0.0

_apoz = Exercise(
    "apoz",
    reference=ref.apoz,
    cases=[Case((torch.tensor([[[[0.0, 1.0]], [[2.0, 3.0]]], [[[0.0, 0.0]], [[0.0, 5.0]]]]),),
                label="N=2, C=2, 1x2 maps"),
           Case((_relu,), label="random post-ReLU maps (8, 4, 5, 5)"),
           Case((_dead,), label="channel 2 never fires")],
    compare=close(rtol=1e-5, atol=1e-6),
    mistakes={
        "that is the fraction of NON-zeros; APoZ counts the zeros.":
            lambda a: 1.0 - ref.apoz(a),
        "return a fraction in [0, 1], not a percentage.":
            lambda a: 100.0 * ref.apoz(a),
        "average over the examples too (dim 0): the result has one value per channel, shape (C,).":
            lambda a: (a == 0).float().mean(dim=(2, 3)),
        "average per channel (dim 1 is the channel), over examples and positions: shape (C,).":
            lambda a: (a == 0).float().mean(dim=(1, 2, 3)),
    })


def check_apoz(fn) -> Feedback:
    """Check ``fn(activation (N, C, H, W)) -> (C,)`` fraction of zeros per channel."""
    return _apoz.check(fn)


_cubic = Exercise(
    "cubic_sparsity",
    reference=ref.cubic_sparsity,
    cases=[Case((0, 0.9, 0, 100), label="at the start"),
           Case((25, 0.9, 0, 100), label="a quarter of the way"),
           Case((50, 0.8, 10, 110), label="begin=10, end=110"),
           Case((5, 0.9, 10, 100), label="before begin"),
           Case((150, 0.9, 0, 100), label="after end")],
    compare=close(rtol=1e-6, atol=1e-9),
    mistakes={
        "that is a linear ramp; Zhu & Gupta's schedule is cubic: final * (1 - (1 - progress)^3).":
            lambda t, f, b, e: f * min(1.0, max(0.0, (t - b) / (e - b))),
        "that rises slowly at first; the schedule prunes fast early (many weights are redundant) and slowly "
        "at the end: use 1 - (1 - progress)^3, not progress^3.":
            lambda t, f, b, e: f * min(1.0, max(0.0, (t - b) / (e - b))) ** 3,
        "after `end` the sparsity stays at `final`; before `begin` it is 0.":
            lambda t, f, b, e: f * (1.0 - (1.0 - (t - b) / (e - b)) ** 3),
        "progress is measured from `begin`: (step - begin) / (end - begin).":
            lambda t, f, b, e: 0.0 if t <= b else f if t >= e else f * (1.0 - (1.0 - t / e) ** 3),
    })


def check_cubic_sparsity(fn) -> Feedback:
    """Check ``fn(step, final, begin, end) -> sparsity``."""
    return _cubic.check(fn)


def _compare_amounts(got, expected) -> str | None:
    if not isinstance(got, dict):
        return f"got a {type(got).__name__}, expected a dict layer -> amount"
    missing = [k for k in expected if k not in got]
    if missing:
        return f"no amount for layer(s) {', '.join(map(repr, missing))}"
    for name, exp in expected.items():
        try:
            g = float(got[name])
        except (TypeError, ValueError):
            return f"layer {name!r}: got {got[name]!r}, expected a number like {exp}"
        if abs(g - exp) > 1e-9:
            return f"layer {name!r}: got amount {g:g}, expected {exp:g}"
    return None


_curves_1 = pd.DataFrame({0.2: [0.96, 0.95, 0.96], 0.4: [0.96, 0.93, 0.95], 0.6: [0.95, 0.80, 0.94],
                          0.8: [0.94, 0.40, 0.90]}, index=["conv1", "conv2", "fc"])
_curves_2 = pd.DataFrame({0.25: [0.970, 0.91], 0.5: [0.965, 0.70], 0.75: [0.940, 0.30]}, index=["a", "b"])

_amounts = Exercise(
    "choose_amounts",
    reference=ref.choose_amounts,
    cases=[Case((_curves_1, 0.94), label="floor 0.94 (one curve touches it exactly)"),
           Case((_curves_2, 0.95), label="floor 0.95: layer 'b' never reaches it"),
           Case((_curves_2, 0.0), label="floor 0: prune everything as far as measured")],
    compare=_compare_amounts,
    mistakes={
        "take the LARGEST amount that still meets the floor (prune each layer as far as it allows).":
            lambda c, f: {n: min([float(a) for a, v in r.items() if v >= f], default=0.0) for n, r in c.iterrows()},
        "'at least the floor' includes accuracy equal to the floor (>=, not >).":
            lambda c, f: {n: max([float(a) for a, v in r.items() if v > f], default=0.0) for n, r in c.iterrows()},
    })


def check_choose_amounts(fn) -> Feedback:
    """Check ``fn(curves: DataFrame layers x amounts, floor) -> {layer: amount}``."""
    return _amounts.check(fn)
