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


# ---------------------------------------------------------------- checks from the signature
_NONE, _ANY = "None", "any"
_KINDS = {
    "float": "number", "int": "integer", "Real": "number", "Tensor": "tensor", "torch.Tensor": "tensor",
    "nn.Module": "module", "torch.nn.Module": "module", "torch.nn.modules.module.Module": "module",
    "torch.Tensor": "tensor", "builtins.float": "number", "builtins.int": "integer", "builtins.str": "str",
    "builtins.bytes": "bytes", "builtins.bool": _ANY, "builtins.dict": "mapping", "builtins.list": "sequence",
    "builtins.tuple": "sequence", "str": "str", "bytes": "bytes",
    "np.ndarray": "array", "Mapping": "mapping", "dict": "mapping", "Sequence": "sequence", "list": "sequence",
    "tuple": "sequence", "Iterable": "iterable", "Callable": "callable", "bool": _ANY, "None": _NONE, "Dataset": "dataset",
}
_WHAT = {"number": "a number", "integer": "an integer", "tensor": "a tensor", "module": "an nn.Module",
         "str": "a string", "bytes": "bytes", "array": "an array", "mapping": "a mapping (dict)",
         "sequence": "a list or tuple", "iterable": "a list, tuple or set", "callable": "a function", "dataset": "a Dataset (wb.load())"}


def _split_union(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "|" and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return parts + [cur.strip()]


def _kinds(annotation: Any, namespace: dict | None = None) -> set[str] | None:
    """The kinds an annotation allows, or ``None`` when it names something we do not check.

    A class name the function's module defines or imports (``EarlyExitNet``) is a kind too.
    """
    if isinstance(annotation, type):
        annotation = f"{annotation.__module__}.{annotation.__qualname__}"
    elif not isinstance(annotation, str):
        annotation = repr(annotation)
    annotation = annotation.replace("Optional[", "None | ").replace("typing.", "")
    kinds = set()
    for part in _split_union(annotation):
        head = part.split("[", 1)[0].strip().strip("'\"")
        kind = _KINDS.get(head)
        if kind is None and namespace is not None:
            kind = _class_kind(head, namespace)
        if kind is None or kind == _ANY:
            return None
        kinds.add(kind)
    return kinds


def _class_kind(head: str, namespace: dict) -> Any:
    """A class named in an annotation: the class itself, or its name when the module imports
    it only for type checking (then any object whose class or a base has that name fits)."""
    first, *rest = head.split(".")
    if first in namespace:
        obj = namespace[first]
        for attr in rest:
            obj = getattr(obj, attr, None)
        if isinstance(obj, type) and obj.__module__ not in ("typing", "builtins", "collections.abc"):
            return obj
        return None                                   # an alias or something we do not check
    name = head.rsplit(".", 1)[-1]
    if name[:1].isupper() and name.isidentifier() and name not in ("Any", "Literal", "Union", "Iterator"):
        return ("class", name)
    return None


def _fits(kind: Any, value: Any) -> bool:
    import numpy as np
    import torch
    from torch import nn

    if isinstance(kind, type):
        return isinstance(value, kind)
    if isinstance(kind, tuple):
        return any(c.__name__ == kind[1] for c in type(value).__mro__)
    if kind == "number":
        return (isinstance(value, Real) and not isinstance(value, bool)) or (
            isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype == torch.bool)
    if kind == "integer":
        return isinstance(value, Integral) and not isinstance(value, bool)
    if kind == "tensor":                 # a plain number works too: the functions call torch.as_tensor
        return isinstance(value, torch.Tensor) or (isinstance(value, Real) and not isinstance(value, bool))
    if kind == "module":
        return isinstance(value, nn.Module)
    if kind == "str":
        return isinstance(value, str)
    if kind == "bytes":
        return isinstance(value, (bytes, bytearray, memoryview))
    if kind == "array":
        return isinstance(value, (np.ndarray, list, tuple, torch.Tensor))
    if kind == "mapping":
        from collections.abc import Mapping
        return isinstance(value, Mapping)
    if kind == "sequence":
        from collections.abc import Sequence
        return isinstance(value, (Sequence, np.ndarray, torch.Tensor)) and not isinstance(value, (str, bytes))
    if kind == "callable":
        return callable(value)
    if kind == "iterable":
        from collections.abc import Iterable as _Iterable
        return isinstance(value, _Iterable) and not isinstance(value, (str, bytes))
    if kind == "dataset":
        return hasattr(value, "X_train") and hasattr(value, "y_train")
    return True


class ArgumentError(ValueError, TypeError):
    """A bad argument: both a ValueError and a TypeError, so either ``except`` catches it."""


def check_dataset(name: str, data: Any) -> Any:
    """``data`` if it is a Dataset (it has ``X_train`` and ``y_train``), else one sentence naming ``name``."""
    if not (hasattr(data, "X_train") and hasattr(data, "y_train")):
        raise TypeError(f"{name} must be a Dataset (wb.load()), got {type(data).__name__}")
    return data


def _what(kinds: set) -> str:
    names = sorted(f"a {k.__name__}{' layer' if k.__module__.startswith('torch.nn') else ''}" if isinstance(k, type) else f"a {k[1]}" if isinstance(k, tuple) else _WHAT[k]
                   for k in kinds if k != _NONE)
    return " or ".join(names)


def _check_value(name: str, value: Any, kinds: set[str], allow_nan: bool, rng, empty_ok: bool = False) -> None:
    import numpy as np
    import torch

    if value is None:
        if _NONE in kinds:
            return
        raise ArgumentError(f"{name} must be {_what(kinds)}, got None")
    fitting = [k for k in kinds if k != _NONE and _fits(k, value)]
    if not fitting:
        what = _what(kinds)
        raise ArgumentError(f"{name} must be {what}, got {type(value).__name__}")
    kind = fitting[0]
    if kind in ("number", "integer"):
        v = float(value)
        if rng is not None:
            low, high, bounds = (*rng, "[]")[:3]
            check_number(name, v, low, high, low_inclusive=bounds[0] == "[", high_inclusive=bounds[-1] == "]")
        elif not allow_nan and (math.isnan(v) or math.isinf(v) and name not in INF_OK):
            raise ValueError(f"{name} must be a finite number, got {v}")
    elif kind in ("tensor", "array") and not isinstance(value, (list, tuple)):
        t = value if isinstance(value, torch.Tensor) else None
        size = value.numel() if t is not None else np.asarray(value).size
        if size == 0 and not empty_ok:
            raise ValueError(f"{name} must hold at least one value, got shape {tuple(np.shape(value))}")
        if not allow_nan and (t is None or t.device.type != "meta"):
            floating = t.is_floating_point() if t is not None else np.issubdtype(np.asarray(value).dtype, np.floating)
            if floating and not (bool(torch.isfinite(t).all()) if t is not None
                                 else bool(np.isfinite(np.asarray(value)).all())):
                raise ValueError(f"{name} holds nan or inf; it must hold finite values")


_INF = math.inf
NAMED_RANGES = {   # intervals a parameter name means everywhere it is used (``checked`` applies them)
    "seed": (0, 2**32 - 1), "num_epochs": (0, _INF), "batch_size": (1, _INF),
    "max_iter": (1, _INF), "n_iter_max": (1, _INF), "c_in": (1, _INF), "c_out": (1, _INF), "stride": (1, _INF),
    "num_classes": (1, _INF), "min_keep": (0, _INF), "exits": (1, _INF), "per_exit": (1, _INF),
    "per_class": (1, _INF), "repeats": (1, _INF), "conv_bits": (1, 32), "fc_bits": (1, 32), "index_bits": (1, 32),
    "conv_index_bits": (1, 32), "fc_index_bits": (1, 32), "max_layer_amount": (0, 1), "rank": (1, _INF),
"resolution": (1, _INF), "groups": (1, _INF), "kernel_size": (1, _INF),
}


def _compiling() -> bool:
    import torch
    return bool(getattr(torch.compiler, "is_compiling", lambda: False)())


SELF_CHECKED = {"input_shape"}
INF_OK = {"threshold", "thresholds"}     # an infinite threshold means "never" (exit, prune)     # names whose own checks (with pinned messages) come first


def checked(fn=None, *, allow_nan: Iterable[str] = (), own_nan_check: Iterable[str] = (), skip: Iterable[str] = (),
            empty_ok: Iterable[str] = (),
            ndim: dict | None = None,
            fits: tuple[str, str] | None = None, **ranges):
    """Check a public function's arguments against its annotations before it runs.

    Each argument must be of an annotated kind (number, integer, tensor, module, str,
    mapping, sequence, callable, bytes, array; ``None`` only where the annotation or the
    default allows it); numbers finite, tensors and arrays non-empty and finite. A
    keyword ``name=(low, high)`` or ``(low, high, "[)")`` declares a number's interval.
    ``allow_nan`` names arguments where nan/inf are meaningful; ``own_nan_check`` ones
    whose nan/inf the function refuses itself (in its own words); ``skip`` ones checked
    by the function itself; ``empty_ok`` tensors that may be empty (or whose emptiness the
    function reports itself); ``ndim={"y": 1}`` the number of dimensions a tensor must have;
    ``fits=("model", "X")`` runs the model on one example of ``X`` first, so a batch that
    does not fit gets one sentence naming ``X``. Every error is one sentence that names the argument.

    >>> @checked(amount=(0, 1))
    ... def prune(amount: float) -> float:
    ...     return amount
    >>> prune(1.5)
    Traceback (most recent call last):
    ...
    ValueError: amount must be in [0, 1], got 1.5
    """
    if fn is None:
        return lambda f: checked(f, allow_nan=allow_nan, own_nan_check=own_nan_check, skip=skip, empty_ok=empty_ok,
                                 ndim=ndim, fits=fits, **ranges)
    import functools
    import inspect

    target = fn.__init__ if inspect.isclass(fn) else fn
    sig = inspect.signature(target)
    allow_nan, skip, ndim, empty_ok = set(allow_nan), set(skip) | SELF_CHECKED, dict(ndim or {}), set(empty_ok)
    namespace = getattr(inspect.unwrap(target), "__globals__", None)
    unknown = (set(ranges) | set(ndim) | set(fits or ())) - set(sig.parameters)
    if unknown:
        raise TypeError(f"checked: {sorted(unknown)} are not parameters of {fn.__qualname__}")
    plan = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in skip or p.name == "self":
            continue
        kinds = _kinds(p.annotation, namespace) if p.annotation is not p.empty else (
            {"dataset"} if p.name == "data" else None)
        if kinds is None and p.name not in ranges and p.name not in NAMED_RANGES:
            continue
        kinds = set(kinds or {"number"})
        if p.default is None:
            kinds.add(_NONE)
        plan.append((p.name, kinds, p.name in allow_nan or p.name in set(own_nan_check), ranges.get(p.name, NAMED_RANGES.get(p.name)),
                     p.name in empty_ok))

    @functools.wraps(target)
    def wrapper(*args, **kwargs):
        if _compiling():                       # inside torch.compile / export tracing: values are symbolic
            return target(*args, **kwargs)
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as err:
            raise TypeError(f"{fn.__qualname__}(): {err}") from None
        arguments = bound.arguments
        for name, kinds, nan_ok, rng, may_be_empty in plan:
            if name in arguments:
                _check_value(name, arguments[name], kinds, nan_ok, rng, may_be_empty)
        for name, n in ndim.items():
            value = arguments.get(name)
            if value is not None and getattr(value, "ndim", n) != n:
                raise ValueError(f"{name} must be {n}-D, got shape {tuple(value.shape)}")
        if fits is not None and arguments.get(fits[0]) is not None and arguments.get(fits[1]) is not None:
            from torch import nn

            from .metrics import check_input_fits
            model, x = arguments[fits[0]], arguments[fits[1]]
            if isinstance(model, nn.Module) and hasattr(x, "shape"):
                check_input_fits(model, x[:1], name=fits[1])
        return target(*args, **kwargs)

    wrapper.__checked__ = {"empty_ok": empty_ok, "allow_nan": allow_nan, "skip": skip}
    if inspect.isclass(fn):
        fn.__init__ = wrapper
        return fn
    return wrapper


def decodes(param: str):
    """Decoder decorator: a payload that is cut short or corrupt gets one sentence naming ``param``
    (instead of numpy's or struct's error from deep inside the decoding)."""
    import functools
    import struct

    def wrap(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except ArgumentError:
                raise
            except (ValueError, RuntimeError, IndexError, KeyError, struct.error) as err:
                raise ValueError(f"{param} is cut short or corrupt: it does not decode ({err})") from err
        return wrapper
    return wrap
