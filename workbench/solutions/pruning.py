"""Reference solutions for notebook 01 (pruning criteria)."""

from __future__ import annotations

import pandas as pd
import torch
from torch import Tensor


def global_magnitude_masks(weights: dict[str, Tensor], amount: float) -> dict[str, Tensor]:
    """Keep-masks removing the ``round(amount * n)`` smallest |w| over all tensors together.

    >>> m = global_magnitude_masks({"a": torch.tensor([0.1, -2.0]), "b": torch.tensor([0.5, -0.05])}, 0.5)
    >>> m["a"].tolist(), m["b"].tolist()
    ([False, True], [True, False])
    """
    return lowest_scores_removed({name: w.abs() for name, w in weights.items()}, amount)


def lowest_scores_removed(scores: dict[str, Tensor], amount: float) -> dict[str, Tensor]:
    """Keep-masks removing the ``round(amount * n)`` lowest scores over all tensors together (ties: first wins)."""
    flat = torch.cat([s.reshape(-1) for s in scores.values()])
    k = round(amount * flat.numel())
    keep = torch.ones(flat.numel(), dtype=torch.bool)
    keep[torch.argsort(flat, stable=True)[:k]] = False
    out, start = {}, 0
    for name, s in scores.items():
        out[name] = keep[start:start + s.numel()].reshape(s.shape)
        start += s.numel()
    return out


def apoz(activation: Tensor) -> Tensor:
    """Average Percentage of Zeros per channel of post-ReLU activations ``(N, C, H, W) -> (C,)``, a fraction.

    >>> apoz(torch.tensor([[[[0.0, 1.0]]], [[[0.0, 0.0]]]]))
    tensor([0.7500])
    """
    return (activation == 0).float().mean(dim=(0, 2, 3))


def cubic_sparsity(step: int, final: float, begin: int, end: int) -> float:
    """Zhu & Gupta's gradual schedule from 0 at ``begin`` to ``final`` at ``end``.

    >>> round(cubic_sparsity(50, 0.8, 0, 100), 6)
    0.7
    """
    if step <= begin:
        return 0.0
    if step >= end:
        return final
    progress = (step - begin) / (end - begin)
    return final * (1.0 - (1.0 - progress) ** 3)


def choose_amounts(curves: pd.DataFrame, floor: float) -> dict[str, float]:
    """Per layer (row), the largest amount (column) whose accuracy is at least ``floor``; 0.0 if none.

    >>> choose_amounts(pd.DataFrame({0.5: [0.95, 0.90], 0.9: [0.93, 0.40]}, index=["fc1", "fc2"]), 0.92)
    {'fc1': 0.9, 'fc2': 0.0}
    """
    out = {}
    for name, row in curves.iterrows():
        ok = [float(a) for a, acc in row.items() if acc >= floor]
        out[name] = max(ok) if ok else 0.0
    return out
