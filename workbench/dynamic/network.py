"""An early-exit CNN whose width can also be switched: the model of notebook 09.

Three LeNet-style blocks (3x3 conv, ReLU, 2x2 max-pool), a side classifier (one
linear layer) after each of the first two and the final classifier after the
third. The later blocks hold most of the work, so leaving early saves time even
at batch 1. Every conv and classifier can run on its first ``round(c * width)``
channels (slimmable networks, Yu et al. 2019); the net has no BatchNorm, so the
widths share every weight and need no private statistics::

    >>> net = EarlyExitNet()
    >>> [tuple(o.shape) for o in net(torch.zeros(2, 1, 28, 28))]
    [(2, 10), (2, 10), (2, 10)]
    >>> net.at_width(0.5).config["channels"]
    (8, 32, 64)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice, check_int, check_number, checked
from .exits import RULES, check_thresholds

WIDTHS = (0.25, 0.5, 1.0)


@checked(width=(0, math.inf, "()"))
def scaled(channels: Sequence[int], width: float) -> tuple[int, ...]:
    """Channel counts at ``width``: ``round(c * width)``, at least 1.

    >>> scaled((16, 64, 128), 0.25)
    (4, 16, 32)
    """
    return tuple(max(1, round(c * width)) for c in channels)


@checked
class EarlyExitNet(nn.Module):
    """Blocks ``conv3x3-ReLU-maxpool`` with a linear classifier after each block (the last is the final one).

    ``seed`` fixes the initial weights (``None``: draw from the global generator).
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, channels: Sequence[int] = (16, 64, 128),
                 num_classes: int = 10, widths: Sequence[float] = WIDTHS, seed: int | None = 0):
        super().__init__()
        if seed is not None:                             # the initial weights, as in wb.build
            torch.manual_seed(seed)
        check_int("image_size", image_size, 2 ** len(channels))
        self.widths = tuple(sorted(check_number("widths", w, 0.0, 1.0, low_inclusive=False) for w in widths))
        if 1.0 not in self.widths:
            raise ValueError(f"widths must include 1.0 (the full network), got {self.widths}")
        self.channels, self.in_channels = tuple(channels), in_channels
        self.blocks = nn.ModuleList()
        self.heads = nn.ModuleList()
        c_in, side = in_channels, image_size
        for c in self.channels:
            self.blocks.append(nn.Conv2d(c_in, c, 3, padding=1))
            side //= 2
            self.heads.append(nn.Linear(c * side * side, num_classes))
            c_in = c
        self.sides = [image_size // 2 ** (k + 1) for k in range(len(self.channels))]
        self.width = 1.0
        self.config = dict(in_channels=in_channels, image_size=image_size, channels=self.channels,
                           num_classes=num_classes, widths=self.widths)

    @property
    def num_exits(self) -> int:
        return len(self.blocks)

    def set_width(self, width: float) -> "EarlyExitNet":
        """Run on the first ``round(c * width)`` channels of every layer from now on."""
        self.width = check_choice("width", width, self.widths, what="width")
        return self

    # ---------------------------------------------------------------- sliced layers
    def _block(self, k: int, x: Tensor) -> Tensor:       # (B, C_in, H, W) -> (B, C, H/2, W/2)
        conv = self.blocks[k]
        c_out = scaled([self.channels[k]], self.width)[0]
        if c_out == conv.out_channels and x.shape[1] == conv.in_channels:
            x = conv(x)                                  # full width: a module call (hooks see it)
        else:
            x = F.conv2d(x, conv.weight[:c_out, :x.shape[1]], conv.bias[:c_out], padding=1)
        return F.max_pool2d(F.relu(x), 2)

    def _head(self, k: int, h: Tensor) -> Tensor:        # (B, c, s, s) -> (B, classes)
        lin = self.heads[k]
        c = h.shape[1]
        if c == self.channels[k]:
            return lin(h.flatten(1))
        w = lin.weight.view(lin.out_features, self.channels[k], -1)[:, :c].reshape(lin.out_features, -1)
        return F.linear(h.flatten(1), w, lin.bias)

    # ---------------------------------------------------------------- forward passes
    def forward(self, x: Tensor) -> list[Tensor]:
        """Logits of every exit, every block computed (training and precomputing use this)."""
        outs = []
        for k in range(self.num_exits):
            x = self._block(k, x)
            outs.append(self._head(k, x))
        return outs

    def path(self, x: Tensor, exit: int) -> Tensor:
        """Logits of exit ``exit`` alone: the blocks up to it and its classifier, no other head."""
        check_int("exit", exit, 0, self.num_exits - 1)
        for k in range(exit + 1):
            x = self._block(k, x)
        return self._head(exit, x)

    def infer(self, x: Tensor, thresholds: Sequence[float] | float, rule: str = "entropy") -> tuple[Tensor, Tensor]:
        """Real early exits: ``(logits, exit index)`` per example; later blocks run only on who is left.

        At batch 1 an example that leaves at exit ``k`` never touches blocks ``k+1, ...``.
        """
        thresholds = check_thresholds(thresholds, self.num_exits)
        check_choice("rule", rule, RULES, what="exit rule")
        return self._infer(x, thresholds, RULES[rule])

    def _infer(self, x: Tensor, thresholds: tuple[float, ...], score) -> tuple[Tensor, Tensor]:
        n = x.shape[0]
        logits = x.new_empty(n, self.heads[0].out_features)
        chosen = torch.empty(n, dtype=torch.long)
        alive = torch.arange(n)
        for k in range(self.num_exits):
            x = self._block(k, x)
            out = self._head(k, x)
            if k == self.num_exits - 1:
                leave = torch.ones(len(alive), dtype=torch.bool)
            else:
                leave = score(out) < thresholds[k]
            if n == 1:                                   # batch 1: one branch, no indexing
                if bool(leave):
                    return out, torch.tensor([k])
                continue
            logits[alive[leave]], chosen[alive[leave]] = out[leave], k
            alive, x = alive[~leave], x[~leave]
            if len(alive) == 0:
                break
        return logits, chosen

    # ---------------------------------------------------------------- physical widths
    def at_width(self, width: float) -> "EarlyExitNet":
        """A physically smaller copy holding only the channels used at ``width`` (timed without slicing)."""
        check_choice("width", width, self.widths, what="width")
        chans = scaled(self.channels, width)
        small = EarlyExitNet(self.in_channels, self.config["image_size"], chans, self.config["num_classes"],
                             widths=(1.0,), seed=None)
        c_in = self.in_channels
        with torch.no_grad():
            for k, c in enumerate(chans):
                small.blocks[k].weight.copy_(self.blocks[k].weight[:c, :c_in])
                small.blocks[k].bias.copy_(self.blocks[k].bias[:c])
                lin = self.heads[k]
                w = lin.weight.view(lin.out_features, self.channels[k], -1)[:, :c].reshape(lin.out_features, -1)
                small.heads[k].weight.copy_(w)
                small.heads[k].bias.copy_(lin.bias)
                c_in = c
        return small.eval()


@checked
class ExitPath(nn.Module):
    """One exit of an :class:`EarlyExitNet` as a plain model (``exit=-1``: the full network, no side heads)."""

    def __init__(self, net: EarlyExitNet, exit: int = -1):
        super().__init__()
        self.net = net
        self.exit = net.num_exits - 1 if exit == -1 else check_int("exit", exit, 0, net.num_exits - 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.net.path(x, self.exit)


@checked
class EarlyExitModel(nn.Module):
    """An :class:`EarlyExitNet` with fixed thresholds: ``forward`` returns logits, exiting for real."""

    def __init__(self, net: EarlyExitNet, thresholds: Sequence[float] | float, rule: str = "entropy"):
        super().__init__()
        self.net, self.rule = net, check_choice("rule", rule, RULES, what="exit rule")
        self.thresholds = check_thresholds(thresholds, net.num_exits)
        self.last_exits: Tensor | None = None           # exit index of each example of the last call

    def forward(self, x: Tensor) -> Tensor:
        logits, self.last_exits = self.net._infer(x, self.thresholds, RULES[self.rule])
        return logits


@checked
def exit_macs(net: EarlyExitNet, width: float = 1.0) -> list[int]:
    """MACs per example of leaving at each exit at ``width``: the blocks up to it, its
    classifier, and the side classifiers passed on the way (they ran and said "not sure").

    >>> exit_macs(EarlyExitNet(channels=(4, 8, 8)))
    [36064, 96432, 125376]
    """
    from ..metrics import count_macs

    old = net.width
    net.set_width(width)
    try:
        shape = (net.in_channels, net.config["image_size"], net.config["image_size"])
        paths = [count_macs(ExitPath(net, k), shape) for k in range(net.num_exits)]
    finally:
        net.width = old
    chans = scaled(net.channels, width)
    heads = [c * s * s * net.config["num_classes"] for c, s in zip(chans, net.sides)]
    return [paths[k] + sum(heads[:k]) for k in range(net.num_exits)]


@checked(fits=("net", "X"))
def count_block_calls(net: EarlyExitNet, run: Callable[[Tensor], Tensor], X: Tensor) -> list[int]:
    """How many times each block of ``net`` ran while ``run`` saw the examples of ``X`` one at a time.

    Forward hooks count the calls: with real exits the later blocks run less often.

    >>> net = EarlyExitNet(channels=(4, 8, 8))
    >>> count_block_calls(net, EarlyExitModel(net, float("inf")), torch.zeros(3, 1, 28, 28))
    [3, 0, 0]
    """
    calls = [0] * net.num_exits

    def hook(k):
        def count(module, inputs, output):
            calls[k] += 1
        return count

    handles = [b.register_forward_hook(hook(k)) for k, b in enumerate(net.blocks)]
    try:
        with torch.no_grad():
            for i in range(len(X)):
                run(X[i:i + 1])
    finally:
        for h in handles:
            h.remove()
    return calls
