"""Reference solutions for notebook 05 (low-rank decomposition)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def break_even_rank(m: int, n: int) -> int:
    """The largest rank r whose two factors (m x r and r x n) hold strictly fewer numbers than m x n.

    >>> break_even_rank(784, 300), break_even_rank(4, 4)
    (216, 1)
    """
    r = (m * n) // (m + n)
    return r if r * (m + n) < m * n else r - 1


def rank_for_energy(s: Tensor, fraction: float) -> int:
    """The smallest rank r whose first r singular values keep at least ``fraction`` of Σ s_i².

    >>> rank_for_energy(torch.tensor([3.0, 1.0, 0.5]), 0.85)
    1
    """
    kept = torch.cumsum(s.double() ** 2, 0) / (s.double() ** 2).sum()
    return int((kept < fraction - 1e-12).sum().item()) + 1


def low_rank_linear(layer: nn.Linear, rank: int) -> nn.Sequential:
    """Two Linear layers (n -> rank without bias, rank -> m with the layer's bias) from the truncated SVD.

    >>> two = low_rank_linear(nn.Linear(6, 4), 2)
    >>> [tuple(l.weight.shape) for l in two]
    [(2, 6), (4, 2)]
    """
    W = layer.weight.detach()                                   # (m, n)
    U, s, Vh = torch.linalg.svd(W, full_matrices=False)
    first = nn.Linear(W.shape[1], rank, bias=False)
    second = nn.Linear(rank, W.shape[0], bias=layer.bias is not None)
    with torch.no_grad():
        first.weight.copy_(s[:rank, None] * Vh[:rank])         # (rank, n): S_r Vh_r
        second.weight.copy_(U[:, :rank])                        # (m, rank): U_r
        if layer.bias is not None:
            second.bias.copy_(layer.bias)
    return nn.Sequential(first, second)
