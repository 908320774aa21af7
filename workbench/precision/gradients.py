"""Real gradients, recorded in fp32, and what a low-precision format does to them.

Micikevicius et al. (2018) plotted the gradients of a real network against fp16's
range: many are smaller than fp16's smallest subnormal (2^-24) and become zero
when stored in fp16. Loss scaling multiplies the loss (hence every gradient) by
``scale`` before the backward pass so they land inside the range::

    >>> g = torch.tensor([1e-9, 1e-6, 1e-3, 0.0])
    >>> flush_fractions(g, "fp16")["underflow"]          # of the 3 non-zero values, 1e-9 flushes
    0.3333333333333333
    >>> flush_fractions(g, "fp16", scale=2.0**16)["underflow"]
    0.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_int, check_number, checked
from .formats import Format, get_format, round_to


def check_scale(scale: float) -> float:
    """``scale`` must be a finite number > 0 (a NaN, 0 or negative scale is refused).

    >>> check_scale(1024)
    1024.0
    """
    return check_number("scale", scale, 0.0, math.inf, low_inclusive=False, high_inclusive=False)


@checked
def record_gradients(model: nn.Module, data, *, batches: int = 4, batch_size: int = 64,
                     activations: bool = True, seed: int = 0) -> dict[str, Tensor]:
    """Gradients of a real backward pass in fp32, flattened: ``{"weights": …, "activations": …}``.

    Each of ``batches`` training batches gives its own gradients (not summed), as each
    step of mixed-precision training would store them. ``activations=True`` also keeps
    the gradients flowing into every layer's output (the other half of the backward pass).
    The model is left unchanged (its ``.grad`` fields are cleared).
    """
    check_int("batches", batches, 1)
    check_int("batch_size", batch_size, 1)
    weights, acts, handles = [], [], []
    if activations:
        def keep(module, inputs, output):
            if isinstance(output, Tensor) and output.requires_grad:
                output.register_hook(lambda g: acts.append(g.detach().flatten().clone()))
        handles = [m.register_forward_hook(keep) for m in model.modules() if not list(m.children())]
    was_training = model.training
    model.train()
    try:
        for i, (X, y) in enumerate(data.loader("train", batch_size=batch_size, seed=seed)):
            if i >= batches:
                break
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(X), y).backward()
            weights += [p.grad.detach().flatten().clone() for p in model.parameters() if p.grad is not None]
    finally:
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    out = {"weights": torch.cat(weights)}
    if activations:
        out["activations"] = torch.cat(acts)
    return out


@checked
def flush_fractions(grads: Tensor, fmt: str | Format, scale: float = 1.0) -> dict[str, float]:
    """What storing ``grads × scale`` in ``fmt`` does, as fractions of the non-zero values.

    - ``underflow``: became exactly zero (information lost for good);
    - ``subnormal``: survived with reduced precision, below the smallest normal;
    - ``overflow``: became inf/NaN, or beyond the format's max (fp8 e4m3 saturates);
    - ``kept``: non-zero, finite and in range.

    >>> flush_fractions(torch.tensor([1.0, 1e5]), "fp16")["overflow"]
    0.5
    """
    f = get_format(fmt)
    scale = check_scale(scale)
    g = grads.detach().float().flatten()
    g = g[g != 0]
    if g.numel() == 0:
        raise ValueError("grads must hold at least one non-zero value")
    scaled = g * scale
    stored = round_to(scaled, f)
    over = ~torch.isfinite(stored) | (scaled.abs() >= overflow_threshold(f))
    under = (stored == 0) & ~over
    sub = (stored != 0) & (stored.abs() < f.smallest_normal) & ~over
    n = g.numel()
    fractions = {"underflow": int(under.sum()) / n, "subnormal": int(sub.sum()) / n, "overflow": int(over.sum()) / n}
    fractions["kept"] = 1.0 - fractions["underflow"] - fractions["overflow"]
    return fractions


def overflow_threshold(fmt: str | Format) -> float:
    """The magnitude from which a value no longer rounds to a finite value ≤ max: max + half an ulp.

    IEEE formats round it to inf; fp8 e4m3 (no inf) saturates it to ±448 in PyTorch's cast.

    >>> overflow_threshold("fp16")
    65520.0
    """
    f = get_format(fmt)
    return f.max + 2.0 ** (math.floor(math.log2(f.max)) - f.mantissa_bits) / 2


@checked
class FlushCounter:
    """:func:`flush_fractions` for many scales and formats at once: thresholds on sorted magnitudes.

    Rounding to nearest makes each outcome an interval of ``|g × scale|``: zero up to
    half the smallest subnormal (a tie rounds to the even 0), subnormal below the
    smallest normal minus half a subnormal step, overflow from :func:`overflow_threshold`.
    Sorting once turns every query into two binary searches (what the explorer needs
    to answer a slider move at once); the tests check it against the cast.

    >>> c = FlushCounter(torch.tensor([1e-9, 1e-6, 1e-3, 0.0]))
    >>> c.fractions("fp16", 1.0) == flush_fractions(torch.tensor([1e-9, 1e-6, 1e-3]), "fp16")
    True
    """

    def __init__(self, grads: Tensor):
        g = grads.detach().float().abs().flatten()
        self.magnitudes = torch.sort(g[g != 0]).values.double()
        if self.magnitudes.numel() == 0:
            raise ValueError("grads must hold at least one non-zero value")

    def _count_below(self, x: float, *, inclusive: bool) -> int:
        t = torch.tensor([x], dtype=torch.float64)
        return int(torch.searchsorted(self.magnitudes, t, right=inclusive))

    def fractions(self, fmt: str | Format, scale: float = 1.0) -> dict[str, float]:
        """Fractions of the non-zero values that underflow, stay subnormal, overflow, are kept."""
        f = get_format(fmt)
        scale = check_scale(scale)
        n = self.magnitudes.numel()
        zero = self._count_below(f.smallest_subnormal / 2 / scale, inclusive=True)
        below_normal = self._count_below((f.smallest_normal - f.smallest_subnormal / 2) / scale, inclusive=False)
        over = n - self._count_below(overflow_threshold(f) / scale, inclusive=False)
        out = {"underflow": zero / n, "subnormal": (below_normal - zero) / n, "overflow": over / n}
        out["kept"] = 1.0 - out["underflow"] - out["overflow"]
        return out


@checked
def lost_updates(weights: Tensor, updates: Tensor, fmt: str | Format = "fp16") -> float:
    """Fraction of non-zero updates that vanish when added to weights *stored* in ``fmt``.

    ``w + u`` rounds back to ``w`` when ``|u|`` is below half the gap between ``w`` and
    its neighbour: why mixed precision keeps fp32 master weights (Micikevicius et al. 2018).

    >>> lost_updates(torch.tensor([1.0, 1.0]), torch.tensor([1e-4, 1e-2]), "fp16")
    0.5
    """
    f = get_format(fmt)
    if weights.shape != updates.shape:
        raise ValueError(f"weights and updates must have the same shape, got {tuple(weights.shape)} "
                         f"and {tuple(updates.shape)}")
    w = round_to(weights.detach().float(), f)
    u = updates.detach().float()
    moved = u != 0
    if not moved.any():
        raise ValueError("updates must hold at least one non-zero value")
    lost = (round_to(w + u, f) == w) & moved
    return int(lost.sum()) / int(moved.sum())


@checked
def largest_safe_scale(grads: Tensor, fmt: str | Format = "fp16") -> float:
    """The largest power of two ``2^k`` for which no ``|g| × 2^k`` exceeds the format's max.

    >>> largest_safe_scale(torch.tensor([0.5, -3.0]), "fp16")     # 3 × 2^14 = 49152 ≤ 65504
    16384.0
    """
    f = get_format(fmt)
    top = float(grads.detach().abs().max())
    if not math.isfinite(top) or top == 0:
        raise ValueError("grads must hold a finite non-zero value")
    k = math.floor(math.log2(f.max / top))
    while top * 2.0 ** (k + 1) <= f.max:          # guard against log2 rounding
        k += 1
    while top * 2.0 ** k > f.max:
        k -= 1
    return 2.0 ** k


@checked
def scale_sweep(grads: Tensor, fmt: str | Format = "fp16", log2_scales: Sequence[int] = range(0, 33, 2)):
    """Underflow / overflow fractions for each loss scale ``2^k`` (a DataFrame indexed by k).

    >>> float(scale_sweep(torch.tensor([1e-8, 1.0]), "fp16", [0, 10]).loc[10, "underflow"])
    0.0
    """
    import pandas as pd

    rows = {k: flush_fractions(grads, fmt, 2.0 ** k) for k in log2_scales}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("log2 scale")


@checked
def log2_histogram(grads: Tensor, *, low: int = -48, high: int = 8) -> tuple[Tensor, Tensor]:
    """Counts of ``log2 |g|`` in unit bins from ``low`` to ``high`` (zeros left out).

    Values below ``low`` go into the first bin, above ``high`` into the last.

    >>> edges, counts = log2_histogram(torch.tensor([0.5, 0.75, 2.0**-30]), low=-32, high=0)
    >>> int(counts.sum()), int(counts[edges[:-1].tolist().index(-1)])
    (3, 2)
    """
    check_int("high", high, low + 1)
    g = grads.detach().float().abs()
    e = torch.log2(g[g > 0]).clamp(low, high - 1e-3)
    counts = torch.histc(e, bins=high - low, min=low, max=high)
    return torch.arange(low, high + 1, dtype=torch.float32), counts
