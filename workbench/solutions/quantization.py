"""Reference solutions for notebook 04 (quantization)."""

from __future__ import annotations

import torch
from torch import Tensor


def scale_zero_point(x: Tensor, bits: int = 8) -> tuple[float, int]:
    """Asymmetric per-tensor scale and zero point: ``[min(x, 0), max(x, 0)]`` onto ``[0, 2^b - 1]``.

    >>> scale_zero_point(torch.tensor([-1.0, 3.0]), bits=2)
    (1.3333333333333333, 1)
    """
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    qmax = 2**bits - 1
    scale = (hi - lo) / qmax
    if scale == 0:
        return 1.0, 0
    zero_point = int(min(max(-round(lo / scale), 0), qmax))
    return scale, zero_point


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


def fake_quantize(x: Tensor, scale: float, zero_point: int, qmin: int, qmax: int) -> Tensor:
    """``(clamp(round(x / s) + z, qmin, qmax) - z) * s`` with a straight-through gradient.

    ``round`` passes the gradient unchanged; ``clamp`` blocks it for clipped values.

    >>> x = torch.tensor([0.26, 5.0], requires_grad=True)
    >>> y = fake_quantize(x, 0.1, 0, -7, 7)
    >>> y.sum().backward()
    >>> x.grad.tolist()
    [1.0, 0.0]
    """
    q = torch.clamp(_RoundSTE.apply(x / scale) + zero_point, qmin, qmax)
    return (q - zero_point) * scale


def choose_bits(layer_sizes: dict[str, int], budget_bytes: float,
                options: tuple[int, ...] = (8, 4, 2, 1)) -> dict[str, int]:
    """Greedy per-layer bits for a size budget; the first and last layers stay at ``options[0]``.

    While the weights take more than ``budget_bytes`` (``sum n * bits / 8``), lower the
    bits of the middle layer that currently takes the most bytes to the next option.

    >>> choose_bits({"first": 100, "big": 1000, "small": 200, "last": 50}, 800)
    {'first': 8, 'big': 2, 'small': 8, 'last': 8}
    """
    names = list(layer_sizes)
    bits = dict.fromkeys(names, options[0])
    middle = names[1:-1]

    def total() -> float:
        return sum(layer_sizes[n] * bits[n] / 8 for n in names)

    while total() > budget_bytes:
        lowerable = [n for n in middle if bits[n] != options[-1]]
        if not lowerable:
            raise ValueError(f"budget_bytes {budget_bytes:g} cannot be met: "
                             f"the smallest choice takes {total():g} bytes")
        worst = max(lowerable, key=lambda n: layer_sizes[n] * bits[n])
        bits[worst] = options[options.index(bits[worst]) + 1]
    return bits
