"""The building blocks of efficient CNNs, and the formulas for what they cost.

A standard k×k convolution from M to N channels on an H×W map costs
``k²·M·N·H·W`` multiply-accumulates. MobileNet (Howard et al. 2017) splits it into a
depthwise k×k convolution (one filter per channel: ``k²·M·H·W``) and a pointwise 1×1
convolution that mixes channels (``M·N·H·W``), so the cost falls by the ratio
``1/N + 1/k²``::

    >>> standard_macs(64, 64, 3, 7, 7), separable_macs(64, 64, 3, 7, 7)
    (1806336, 228928)
    >>> round(separable_ratio(64, 3), 4)
    0.1267

The blocks below are conv-BN-ReLU units with the same interface
``block(c_in, c_out, stride)``, kept in ``BLOCKS`` so that a network (and the
explorer's dropdown) can take any of them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .._checks import check_int, checked


def _check_shape(c_in: int, c_out: int, kernel_size: int, h: int, w: int) -> None:
    check_int("c_in", c_in, 1)
    check_int("c_out", c_out, 1)
    check_int("kernel_size", kernel_size, 1)
    check_int("h", h, 1)
    check_int("w", w, 1)


def standard_macs(c_in: int, c_out: int, kernel_size: int, h: int, w: int) -> int:
    """MACs of a standard ``kernel_size``² convolution producing an ``h``×``w`` map: k²·M·N·H·W.

    >>> standard_macs(1, 1, 3, 2, 2)
    36
    """
    _check_shape(c_in, c_out, kernel_size, h, w)
    return kernel_size * kernel_size * c_in * c_out * h * w


def separable_macs(c_in: int, c_out: int, kernel_size: int, h: int, w: int) -> int:
    """MACs of depthwise k×k + pointwise 1×1 on an ``h``×``w`` output map: k²·M·H·W + M·N·H·W.

    >>> separable_macs(2, 4, 3, 1, 1)
    26
    """
    _check_shape(c_in, c_out, kernel_size, h, w)
    return kernel_size * kernel_size * c_in * h * w + c_in * c_out * h * w


def separable_ratio(c_out: int, kernel_size: int = 3) -> float:
    """Separable over standard MACs, 1/N + 1/k² (Howard et al. 2017, eq. 5); independent of M, H, W.

    >>> round(1 / separable_ratio(512, 3), 2)   # MobileNet's deep layers: 8-9x fewer
    8.84
    """
    check_int("c_out", c_out, 1)
    check_int("kernel_size", kernel_size, 1)
    return 1.0 / c_out + 1.0 / kernel_size ** 2


@checked(ndim={"x": 4})
def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """ShuffleNet's channel shuffle (Zhang et al. 2018): reshape, transpose, reshape.

    Channel ``i`` of group ``j`` moves to position ``i·groups + j``, so the next grouped convolution
    sees channels from every group. Same result as ``nn.ChannelShuffle(groups)``.

    >>> channel_shuffle(torch.arange(6.).view(1, 6, 1, 1), 2).flatten().tolist()
    [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    """
    check_int("groups", groups, 1)
    b, c, h, w = x.shape                                   # (B, C, H, W)
    if c % groups:
        raise ValueError(f"groups must divide the channels ({c}), got {groups}")
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def conv_bn(c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1, groups: int = 1,
            relu: bool = True) -> list[nn.Module]:
    """Conv (no bias: BatchNorm's shift replaces it) + BatchNorm (+ ReLU)."""
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups must divide c_in ({c_in}) and c_out ({c_out}), got {groups}")
    layers = [nn.Conv2d(c_in, c_out, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
              nn.BatchNorm2d(c_out)]
    return layers + [nn.ReLU()] if relu else layers


@checked
class StandardBlock(nn.Sequential):
    """One 3×3 convolution from ``c_in`` to ``c_out`` channels: k²·M·N·H·W MACs."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__(*conv_bn(c_in, c_out, 3, stride))


@checked
class SeparableBlock(nn.Sequential):
    """MobileNet's block (Howard et al. 2017): depthwise 3×3, then pointwise 1×1."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__(*conv_bn(c_in, c_in, 3, stride, groups=c_in),   # depthwise: one filter per channel
                         *conv_bn(c_in, c_out, 1))                       # pointwise: mixes channels


@checked
class ShuffleBlock(nn.Module):
    """ShuffleNet's unit without the shortcut (Zhang et al. 2018): grouped 1×1, shuffle, depthwise 3×3,
    grouped 1×1. ``shuffle=False`` leaves each group of channels isolated from the others."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, groups: int = 4, shuffle: bool = True):
        super().__init__()
        check_int("groups", groups, 1)
        g_in = groups if c_in % groups == 0 else 1             # the 1-channel image cannot be grouped
        self.groups = groups
        self.reduce = nn.Sequential(*conv_bn(c_in, c_out, 1, groups=g_in))
        self.shuffle = nn.ChannelShuffle(groups) if shuffle else nn.Identity()
        self.depthwise = nn.Sequential(*conv_bn(c_out, c_out, 3, stride, groups=c_out, relu=False))
        self.expand = nn.Sequential(*conv_bn(c_out, c_out, 1, groups=groups))

    def forward(self, x: Tensor) -> Tensor:
        return self.expand(self.depthwise(self.shuffle(self.reduce(x))))


@checked(squeeze_ratio=(0, 1, "(]"))
class FireBlock(nn.Module):
    """SqueezeNet's fire module (Iandola et al. 2016): squeeze with 1×1 to ``c_out/4`` channels,
    then expand with 1×1 and 3×3 filters side by side (half the output channels each)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, squeeze_ratio: float = 0.25):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"c_out must be even (two expand branches), got {c_out}")
        s = max(1, round(c_out * squeeze_ratio))
        self.pool = nn.MaxPool2d(2) if stride == 2 else nn.Identity()   # SqueezeNet downsamples by pooling
        self.squeeze = nn.Sequential(*conv_bn(c_in, s, 1))
        self.expand1 = nn.Sequential(*conv_bn(s, c_out // 2, 1))
        self.expand3 = nn.Sequential(*conv_bn(s, c_out // 2, 3))

    def forward(self, x: Tensor) -> Tensor:
        x = self.squeeze(self.pool(x))
        return torch.cat([self.expand1(x), self.expand3(x)], dim=1)      # (B, c_out, H, W)


BLOCKS: dict[str, Callable[..., nn.Module]] = {
    "standard": StandardBlock,
    "separable": SeparableBlock,
    "shuffle": ShuffleBlock,
    "noshuffle": lambda c_in, c_out, stride=1: ShuffleBlock(c_in, c_out, stride, shuffle=False),
    "fire": FireBlock,
}
