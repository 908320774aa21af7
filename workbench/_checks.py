"""Argument checks shared by every public function.

Each check raises a ``ValueError`` whose message names the argument, the allowed
range or choices, and the value it got, so a learner can fix the call from the
message alone::

    >>> check_fraction("amount", 1.5, high_inclusive=False)
    Traceback (most recent call last):
    ...
    ValueError: amount must be in [0, 1), got 1.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any, TypeVar

T = TypeVar("T")


def _interval(low: float, high: float, low_inclusive: bool, high_inclusive: bool) -> str:
    left = "[" if low_inclusive else "("
    right = "]" if high_inclusive else ")"
    def fmt(v: float) -> str:
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if isinstance(v, Integral):                         # integer bounds print in full
            return str(int(v))
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e6 else f"{v:g}"

    return f"{left}{fmt(low)}, {fmt(high)}{right}"


def check_number(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` as a float if it is a real number inside the interval."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a number in "
                         f"{_interval(low, high, low_inclusive, high_inclusive)}, got {value!r}")
    value = float(value)
    ok_low = value >= low if low_inclusive else value > low
    ok_high = value <= high if high_inclusive else value < high
    if math.isnan(value) or not (ok_low and ok_high):
        raise ValueError(f"{name} must be in "
                         f"{_interval(low, high, low_inclusive, high_inclusive)}, got {value:g}")
    return value


def check_fraction(name: str, value: Any, *, high_inclusive: bool = True) -> float:
    """A number in [0, 1] (or [0, 1) with ``high_inclusive=False``)."""
    return check_number(name, value, 0.0, 1.0, high_inclusive=high_inclusive)


def check_int(name: str, value: Any, low: int = 0, high: float = math.inf) -> int:
    """Return ``value`` if it is an integer in [low, high] (booleans are refused)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer in "
                         f"{_interval(low, high, True, True)}, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {_interval(low, high, True, True)}, got {value}")
    return int(value)


def check_choice(name: str, value: Any, choices: Iterable[T], *, what: str | None = None) -> T:
    """Return ``value`` if it is one of ``choices``; the error lists the valid ones."""
    choices = list(choices)
    if value not in choices:
        listed = ", ".join(str(c) for c in choices)
        label = what or name
        raise ValueError(f"unknown {label} {value!r}; {name} must be one of: {listed}")
    return value


def check_labels(name: str, y: Any, n: int | None = None, num_classes: int | None = None):
    """``y`` as an int64 tensor of class indices: 1-D, ``n`` long, each in [0, num_classes).

    Integer labels of any width (int32 from NumPy, int16, uint8) are accepted and widened;
    float, bool or out-of-range labels get one sentence instead of an IndexError from the loss.

    >>> check_labels("y", [3, 1], n=2, num_classes=10).dtype
    torch.int64
    >>> check_labels("y", [3, 12], num_classes=10)
    Traceback (most recent call last):
    ...
    ValueError: y must hold class indices in [0, 9], got 12
    """
    import torch

    if not isinstance(y, torch.Tensor):
        try:
            y = torch.as_tensor(y)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{name} must be a tensor of class indices, got {type(y).__name__}") from None
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class indices, got dtype {str(y.dtype).replace('torch.', '')}")
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per example), got shape {tuple(y.shape)}")
    if n is not None and len(y) != n:
        raise ValueError(f"{name} must hold one label per example ({n}), got shape {tuple(y.shape)}")
    y = y.long()
    if len(y) and (int(y.min()) < 0 or (num_classes is not None and int(y.max()) >= num_classes)):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        top = f"{num_classes - 1}" if num_classes is not None else "..."
        raise ValueError(f"{name} must hold class indices in [0, {top}], got {bad}")
    return y
