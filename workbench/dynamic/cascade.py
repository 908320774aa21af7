"""Cascades: a small model answers when it is sure and hands the rest to a big one.

The confidence rule of cascades (e.g. Wang et al. 2018, *IDK Cascades*): the small
model's doubt ``1 - max softmax`` below a threshold keeps its answer; otherwise the
big model runs too, so a deferred example pays for both::

    >>> small = [torch.tensor([[5.0, 0.0], [0.2, 0.0]])]
    >>> big = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    >>> out = cascade_outcome(small[0], big, torch.tensor([0, 1]), 0.1, small_macs=10, big_macs=100)
    >>> out["accuracy"], out["deferred"], out["macs"]
    (1.0, 0.5, 60.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._checks import check_choice, check_number, checked
from .exits import RULES, uncertainty


@checked(ndim={"y": 1})
def cascade_outcome(small_logits: Tensor, big_logits: Tensor, y: Tensor, threshold: float, *,
                    small_macs: float, big_macs: float, rule: str = "confidence") -> dict:
    """Accuracy, fraction deferred to the big model and average MACs per example of one threshold."""
    check_number("threshold", threshold, 0.0, math.inf)
    if small_logits.shape != big_logits.shape:
        raise ValueError(f"small_logits and big_logits must have the same shape, got "
                         f"{tuple(small_logits.shape)} and {tuple(big_logits.shape)}")
    defer = ~(uncertainty(small_logits, rule) < threshold)
    pred = torch.where(defer, big_logits.argmax(1), small_logits.argmax(1))
    frac = float(defer.float().mean())
    return dict(accuracy=float((pred == y).float().mean()), deferred=frac,
                macs=float(small_macs) + frac * float(big_macs))


@checked(ndim={"y": 1})
def cascade_table(small_logits: Tensor, big_logits: Tensor, y: Tensor, thresholds: Sequence[float], *,
                  small_macs: float, big_macs: float, rule: str = "confidence"):
    """One row per threshold, plus the small and the big model alone (a DataFrame)."""
    import pandas as pd

    rows = [dict(setting="small alone", threshold=float("nan"), deferred=0.0,
                 accuracy=float((small_logits.argmax(1) == y).float().mean()), macs=float(small_macs))]
    for t in thresholds:
        rows.append(dict(setting=f"cascade, threshold {t:g}", threshold=float(t),
                         **cascade_outcome(small_logits, big_logits, y, t, small_macs=small_macs,
                                           big_macs=big_macs, rule=rule)))
    rows.append(dict(setting="big alone", threshold=float("nan"), deferred=1.0,
                     accuracy=float((big_logits.argmax(1) == y).float().mean()), macs=float(big_macs)))
    return pd.DataFrame(rows).set_index("setting")


@checked
class Cascade(nn.Module):
    """``small`` then, for the examples it is unsure of, ``big``: the big model really runs only for them."""

    def __init__(self, small: nn.Module, big: nn.Module, threshold: float, rule: str = "confidence"):
        super().__init__()
        self.small, self.big = small, big
        self.threshold = check_number("threshold", threshold, 0.0, math.inf)
        self.score = RULES[check_choice("rule", rule, RULES, what="exit rule")]

    def forward(self, x: Tensor) -> Tensor:
        out = self.small(x)
        defer = ~(self.score(out) < self.threshold)
        if x.shape[0] == 1:                              # batch 1: one branch, no indexing
            return self.big(x) if bool(defer) else out
        if bool(defer.any()):
            out = out.clone()
            out[defer] = self.big(x[defer])
        return out
