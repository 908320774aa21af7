"""Reference solutions for notebook 02 (sparsity regularization)."""

from __future__ import annotations

import torch
from torch import Tensor


def soft_threshold(w: Tensor, threshold: float) -> Tensor:
    """The proximal step of ``threshold·|w|``: shrink every entry towards 0 by ``threshold``, stop at 0.

    >>> soft_threshold(torch.tensor([0.5, -0.1, -2.0]), 0.25).tolist()
    [0.25, -0.0, -1.75]
    """
    return torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0)


def filter_group_lasso(weight: Tensor, lam: float) -> Tensor:
    """``λ · Σ_filters ‖W[f]‖₂`` for a conv weight ``(out, in, kh, kw)`` (a 0-d tensor).

    >>> filter_group_lasso(torch.ones(2, 1, 2, 2), 0.5).item()
    2.0
    """
    return lam * weight.reshape(weight.shape[0], -1).norm(dim=1).sum()


def filters_removed(weight: Tensor, threshold: float) -> list[int]:
    """Indices of the filters whose L2 norm is at most ``threshold`` (ascending).

    >>> filters_removed(torch.tensor([[[[3.0]]], [[[0.125]]], [[[-0.25]]]]), 0.25)
    [1, 2]
    """
    norms = weight.reshape(weight.shape[0], -1).norm(dim=1)
    return [i for i, n in enumerate(norms.tolist()) if n <= threshold]
