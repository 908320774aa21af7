"""Reference solutions for notebook 07 (efficient architectures)."""

from __future__ import annotations

import pandas as pd
from torch import Tensor


def separable_macs(c_in: int, c_out: int, kernel_size: int, h: int, w: int) -> int:
    """MACs of a depthwise ``kernel_size``² convolution followed by a pointwise 1×1, on an ``h``×``w`` output.

    >>> separable_macs(32, 64, 3, 14, 14)
    457856
    """
    depthwise = kernel_size * kernel_size * c_in * h * w     # one k×k filter per input channel
    pointwise = c_in * c_out * h * w                         # a 1×1 convolution mixes the channels
    return depthwise + pointwise


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """ShuffleNet's channel shuffle: (B, C, H, W) -> (B, g, C/g, H, W) -> transpose -> (B, C, H, W).

    >>> import torch
    >>> channel_shuffle(torch.arange(6.).view(1, 6, 1, 1), 3).flatten().tolist()
    [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]
    """
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def best_under_budget(table: pd.DataFrame, budget: int) -> tuple[float, int]:
    """(alpha, resolution) of the most accurate setting on the validation split with at most ``budget`` MACs.

    Ties in validation accuracy go to the cheaper setting.

    >>> t = pd.DataFrame({"alpha": [0.5, 1.0], "resolution": [28, 28], "macs": [100, 400],
    ...                   "val_acc": [0.95, 0.97], "test_acc": [0.95, 0.96]})
    >>> best_under_budget(t, 200)
    (0.5, 28)
    """
    fits = table[table["macs"] <= budget]
    best = fits.sort_values(["val_acc", "macs"], ascending=[False, True]).iloc[0]
    return float(best["alpha"]), int(best["resolution"])
