"""A small CNN with MobileNet's two knobs: the width multiplier α and the resolution multiplier ρ.

Howard et al. (2017) shrink a MobileNet with α (every layer keeps a fraction α of its
channels: MACs and parameters fall by about α²) and ρ (the image is fed at a fraction
ρ of its resolution: MACs fall by ρ², parameters stay). ``TinyNet`` is that network
at digit size: a 3×3 stem, three blocks of any type in ``BLOCKS``, global average
pooling and a linear classifier::

    >>> net = build_net("separable", alpha=0.5, resolution=20)
    >>> net.channels, net.resolution
    ((8, 16, 32, 32), 20)
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])

The network takes the 28×28 digits the course uses and resizes them to
``resolution`` pixels itself, so every workbench measurement (``count_macs``,
``measure_all``, the explorer) sees the cost of the resolution it was built for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice, check_int, check_number, checked
from .blocks import BLOCKS, conv_bn

WIDTHS = (16, 32, 64, 64)        # stem and the three blocks at alpha = 1
STRIDES = (2, 2, 1)              # 28 -> 14 -> 7 -> 7 at full resolution
MIN_RESOLUTION = 8               # two stride-2 blocks leave a 2x2 map
DIVISOR = 4                      # channel counts are multiples of 4 (the shuffle's groups)


@checked(alpha=(0, math.inf, "(]"))
def scaled_widths(alpha: float, widths: Sequence[int] = WIDTHS, divisor: int = DIVISOR) -> tuple[int, ...]:
    """Channel counts at width multiplier ``alpha``, rounded to a multiple of ``divisor`` (at least one).

    >>> scaled_widths(0.25), scaled_widths(0.75)
    ((4, 8, 16, 16), (12, 24, 48, 48))
    """
    check_number("alpha", alpha, 0.0, 4.0, low_inclusive=False)
    return tuple(max(divisor, divisor * round(w * alpha / divisor)) for w in widths)


class Resize(nn.Module):
    """Bilinear (antialiased) resize to ``size``×``size``: the resolution multiplier as a layer."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:       # (B, C, H, W) -> (B, C, size, size)
        if x.shape[-1] == self.size and x.shape[-2] == self.size:
            return x
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)

    def extra_repr(self) -> str:
        return f"size={self.size}"


@checked(alpha=(0, math.inf, "(]"))
class TinyNet(nn.Module):
    """Stem conv, three blocks of type ``block``, pooling and a linear classifier, at (α, resolution)."""

    def __init__(self, block: str = "separable", alpha: float = 1.0, resolution: int = 28, *,
                 in_channels: int = 1, image_size: int = 28, num_classes: int = 10):
        super().__init__()
        check_choice("block", block, BLOCKS, what="block")
        check_int("image_size", image_size, MIN_RESOLUTION)
        check_int("resolution", resolution, MIN_RESOLUTION, image_size)
        self.channels = scaled_widths(alpha)
        stem, *outs = self.channels
        self.resolution = resolution
        self.resize = Resize(resolution)
        self.stem = nn.Sequential(*conv_bn(in_channels, stem, 3))        # a standard conv, as in MobileNet
        blocks, c_in = [], stem
        for c_out, s in zip(outs, STRIDES):
            blocks.append(BLOCKS[block](c_in, c_out, s))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)
        self.config = dict(block=block, alpha=float(alpha), resolution=resolution, in_channels=in_channels,
                           image_size=image_size, num_classes=num_classes)

    @property
    def rho(self) -> float:
        """The resolution multiplier ρ = resolution / image size."""
        return self.resolution / self.config["image_size"]

    def forward(self, x: Tensor) -> Tensor:      # (B, C, 28, 28) -> (B, classes)
        x = self.blocks(self.stem(self.resize(x)))
        return self.classifier(self.pool(x).flatten(1))


@checked(alpha=(0, math.inf, "(]"))
def build_net(block: str = "separable", alpha: float = 1.0, resolution: int = 28, *, seed: int | None = 0,
              **config) -> TinyNet:
    """Build a ``TinyNet`` with seeded initial weights; ``build_net(**net.config)`` rebuilds it.

    >>> build_net("standard", 0.25).channels
    (4, 8, 16, 16)
    """
    if seed is not None:
        torch.manual_seed(seed)
    return TinyNet(block, alpha, resolution, **config)
