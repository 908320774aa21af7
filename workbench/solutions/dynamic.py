"""Reference solutions for notebook 09 (dynamic computation)."""

from __future__ import annotations



import torch
from torch import Tensor


def softmax_entropy(logits: Tensor) -> Tensor:
    """Entropy in nats of ``softmax(logits)`` per row, ``(N, C) -> (N,)``.

    >>> round(softmax_entropy(torch.zeros(1, 2)).item(), 4)       # log 2
    0.6931
    """
    p = torch.softmax(logits, dim=1)
    return -(p * torch.log(p.clamp_min(1e-30))).sum(dim=1)


def first_exit(uncertainties: Tensor, thresholds: list[float]) -> Tensor:
    """Exit index per example: the first ``k`` with ``uncertainties[n, k] < thresholds[k]``, else the last exit.

    ``uncertainties`` is ``(N, exits)``; ``thresholds`` has ``exits - 1`` values.

    >>> first_exit(torch.tensor([[0.1, 0.5, 2.0], [0.9, 0.2, 2.0], [0.9, 0.9, 2.0]]), [0.3, 0.3]).tolist()
    [0, 1, 2]
    """
    n, exits = uncertainties.shape
    out = torch.full((n,), exits - 1, dtype=torch.long)
    for i in range(n):
        for k in range(exits - 1):
            if uncertainties[i, k] < thresholds[k]:
                out[i] = k
                break
    return out


def average_macs_per_example(fractions: list[float], block_macs: list[float], head_macs: list[float]) -> float:
    """Average MACs when ``fractions[k]`` of the examples leave at exit ``k``.

    Leaving at exit ``k`` costs blocks ``0..k`` and heads ``0..k`` (the rejected heads ran too).

    >>> average_macs_per_example([0.5, 0.5], [100, 1000], [10, 20])
    620.0
    """
    total = 0.0
    for k, f in enumerate(fractions):
        total += f * (sum(block_macs[:k + 1]) + sum(head_macs[:k + 1]))
    return total



