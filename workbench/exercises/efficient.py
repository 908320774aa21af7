"""Exercises of notebook 07: separable MACs, the channel shuffle, choosing α and ρ for a MAC budget."""

from __future__ import annotations

import pandas as pd
import torch

from ..solutions import efficient as ref
from . import Case, Exercise, Feedback, close


def _same_tensor(got, expected) -> str | None:
    if not isinstance(got, torch.Tensor):
        return f"got a {type(got).__name__}, expected a tensor of shape {tuple(expected.shape)}"
    if got.shape != expected.shape:
        return f"got shape {tuple(got.shape)}, expected {tuple(expected.shape)} (the shuffle keeps the shape)"
    if not torch.equal(got, expected):
        order = got[0, :, 0, 0].int().tolist()
        want = expected[0, :, 0, 0].int().tolist()
        return f"channel order {order}, expected {want}"
    return None


_macs = Exercise(
    "separable_macs",
    reference=ref.separable_macs,
    cases=[Case((32, 64, 3, 14, 14), label="32 -> 64 channels, 3x3, 14x14"),
           Case((3, 5, 5, 4, 2), label="3 -> 5 channels, 5x5, 4x2"),
           Case((64, 64, 3, 7, 7), label="64 -> 64 channels, 3x3, 7x7")],
    compare=close(rtol=0, atol=0, what="MACs"),
    mistakes={
        "that is only the pointwise 1x1 part; add the depthwise k x k part (k²·M·H·W).":
            lambda m, n, k, h, w: m * n * h * w,
        "that is only the depthwise part; add the pointwise 1x1 that mixes channels (M·N·H·W).":
            lambda m, n, k, h, w: k * k * m * h * w,
        "that is the standard convolution, k²·M·N·H·W: the separable one splits it into two cheap steps.":
            lambda m, n, k, h, w: k * k * m * n * h * w,
        "the depthwise convolution has one k x k filter per INPUT channel (M of them), not per output channel.":
            lambda m, n, k, h, w: k * k * n * h * w + m * n * h * w,
        "a k x k filter has k² weights, not k.":
            lambda m, n, k, h, w: k * m * h * w + m * n * h * w,
    })


def check_separable_macs(fn) -> Feedback:
    """Check ``fn(c_in, c_out, kernel_size, h, w) -> int`` (MACs of depthwise + pointwise)."""
    return _macs.check(fn)


def _channels(c: int) -> torch.Tensor:
    return torch.arange(float(c)).view(1, c, 1, 1).repeat(2, 1, 2, 3)     # channel i holds the value i


def _inverse(x, groups):
    b, c, h, w = x.shape
    return x.view(b, c // groups, groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def _no_transpose(x, groups):
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).reshape(b, c, h, w)


_shuffle = Exercise(
    "channel_shuffle",
    reference=ref.channel_shuffle,
    cases=[Case((_channels(6), 2), label="6 channels, 2 groups"),
           Case((_channels(12), 3), label="12 channels, 3 groups"),
           Case((_channels(8), 4), label="8 channels, 4 groups")],
    compare=_same_tensor,
    mistakes={
        "you split the channels as (C/g, g) instead of (g, C/g): that is the inverse shuffle. View them as "
        "(groups, channels per group), then transpose.": _inverse,
        "reshaping alone changes nothing: transpose the two channel axes between the two reshapes.": _no_transpose,
    })


def check_channel_shuffle(fn) -> Feedback:
    """Check ``fn(x: (B, C, H, W), groups) -> (B, C, H, W)`` against ShuffleNet's shuffle."""
    return _shuffle.check(fn)


def _table(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["alpha", "resolution", "macs", "val_acc", "test_acc"])


_GRID = _table([(1.0, 28, 400, 0.970, 0.960), (0.75, 28, 230, 0.962, 0.968), (0.5, 28, 110, 0.955, 0.950),
                (1.0, 20, 210, 0.958, 0.952), (0.5, 20, 60, 0.930, 0.935), (0.25, 28, 35, 0.900, 0.905),
                (0.75, 20, 120, 0.960, 0.950), (1.0, 24, 125, 0.950, 0.940)])


def _by_test(table, budget):
    fits = table[table["macs"] <= budget].sort_values(["test_acc", "macs"], ascending=[False, True])
    return float(fits.iloc[0]["alpha"]), int(fits.iloc[0]["resolution"])


def _strict(table, budget):
    return ref.best_under_budget(table[table["macs"] < budget], budget)


def _ignore_budget(table, budget):
    return ref.best_under_budget(table, int(table["macs"].max()))


def _most_macs(table, budget):
    fits = table[table["macs"] <= budget].sort_values("macs", ascending=False)
    return float(fits.iloc[0]["alpha"]), int(fits.iloc[0]["resolution"])


def _compare_setting(got, expected) -> str | None:
    try:
        a, r = got
        got = (float(a), int(r))
    except (TypeError, ValueError):
        return f"got {got!r}, expected a pair (alpha, resolution) such as {expected}"
    return None if got == expected else f"got alpha={got[0]:g}, resolution={got[1]}; " \
                                         f"expected alpha={expected[0]:g}, resolution={expected[1]}"


_budget = Exercise(
    "best_under_budget",
    reference=ref.best_under_budget,
    cases=[Case((_GRID, 230), label="budget 230 MACs (one setting costs exactly 230)"),
           Case((_GRID, 130), label="budget 130 MACs"),
           Case((_GRID, 1000), label="budget above every setting")],
    compare=_compare_setting,
    mistakes={
        "you chose by TEST accuracy; choices are made on the validation split (the test split only reports).":
            _by_test,
        "a setting that costs exactly the budget fits it: use <=, not <.": _strict,
        "that setting costs more than the budget: keep only the rows with macs <= budget first.": _ignore_budget,
        "the most MACs under the budget is not the most accurate setting: pick by validation accuracy.":
            _most_macs,
    })


def check_best_under_budget(fn) -> Feedback:
    """Check ``fn(table, budget) -> (alpha, resolution)``: best validation accuracy within the MAC budget."""
    return _budget.check(fn)
