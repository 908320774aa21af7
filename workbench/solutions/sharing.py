"""Reference solutions for notebook 03 (weight sharing and Deep Compression)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def linear_init(weights: Tensor, k: int) -> Tensor:
    """``k`` centroids evenly spaced from the smallest to the largest weight (Han et al. 2016).

    >>> linear_init(torch.tensor([0.5, -1.0, 2.0]), 4).tolist()
    [-1.0, 0.0, 1.0, 2.0]
    """
    return torch.linspace(float(weights.min()), float(weights.max()), k)


def centroid_gradient(grad: Tensor, index: Tensor, k: int) -> Tensor:
    """Each centroid's gradient: the sum of the gradients of the weights that share it.

    >>> centroid_gradient(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0, 1, 0]), 3).tolist()
    [4.0, 2.0, 0.0]
    """
    return torch.zeros(k, dtype=grad.dtype).index_add_(0, index.reshape(-1), grad.reshape(-1))


def relative_indices(positions: list[int], index_bits: int) -> tuple[list[int], list[bool]]:
    """Gaps from the previous entry (the first from -1), a filler zero wherever a gap exceeds ``2**index_bits``.

    >>> relative_indices([1, 2, 40], 4)
    ([2, 1, 16, 16, 6], [False, False, True, True, False])
    """
    span = 2**index_bits
    gaps, filler, prev = [], [], -1
    for p in positions:
        d = p - prev
        while d > span:                       # too far: a zero entry span positions on
            gaps.append(span)
            filler.append(True)
            d -= span
        gaps.append(d)
        filler.append(False)
        prev = p
    return gaps, filler


def compression_rate(n: int, bits: int, k: int) -> float:
    """``n`` weights of ``bits`` bits shared by ``k`` centroids: ``n·b / (n·log2 k + k·b)``.

    >>> round(compression_rate(1000, 32, 16), 3)
    7.092
    """
    return n * bits / (n * math.log2(k) + k * bits)
