"""Generic diagnosis of a wrong answer: how does it relate to the expected one?

A check first looks for a *listed* mistake of its exercise; when none matches, it
asks this module, which recognises the classes of error every exercise shares:

- a constant factor (a percentage, bits vs bytes, FLOPs vs MACs, T vs T², a sum
  where a mean was expected over a known number of values);
- a constant offset (off by one in a count or a threshold);
- a flipped sign or an absolute value too many or too few;
- a mask that keeps one element too many or too few;
- the right values in the wrong shape, order, axis or dtype.

    >>> import torch
    >>> describe(relation(torch.tensor([20.0, 40.0]), torch.tensor([0.2, 0.4])))
    'your answer is 100× the expected one: return a fraction in [0, 1], not a percentage.'
    >>> describe(relation(5, 4))
    'your answer is 1 more than expected: off by one (check < against <=, or whether an end point is counted).'
    >>> describe(relation(torch.tensor([True, True, False]), torch.tensor([True, False, False])))
    'your mask keeps one element more than expected: off by one at the threshold (< against <=, or k against k - 1)?'

A description is given only when the same one holds on every case the learner got
wrong (:func:`consistent`): a ratio seen once on one number is a coincidence, the
same ratio on every case is a diagnosis.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

Relation = tuple  # (kind, *details); kinds are the keys of _DESCRIBE below
Inputs = Mapping[str, Any] | Sequence | None  # the case's arguments, by name where known

_RTOL = 1e-4


def _as_tensor(x: Any) -> torch.Tensor | None:
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, bool):
        return torch.tensor(float(x))
    if isinstance(x, (int, float)):
        return torch.tensor(float(x), dtype=torch.float64)
    if isinstance(x, list) and x and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x):
        return torch.tensor([float(v) for v in x], dtype=torch.float64)
    try:                                   # numpy numbers and arrays
        import numpy as np

        if isinstance(x, (np.ndarray, np.generic)) and np.asarray(x).dtype.kind in "biuf":
            return torch.as_tensor(np.asarray(x))
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    return None


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), rtol=_RTOL, atol=1e-9)


def relation(got: Any, expected: Any) -> Relation | None:
    """How ``got`` relates to ``expected``: ``("factor", r)``, ``("offset", d)``, ``("sign",)``, … or None.

    Dicts are compared key by key, pairs element by element; the first part that
    differs gives the relation (with its key), unless all differing parts agree.
    """
    if isinstance(expected, Mapping) and isinstance(got, Mapping):
        if set(got) != set(expected):
            return None
        parts = [(k, relation(got[k], expected[k])) for k in expected if not _equal(got[k], expected[k])]
        return _combine(parts)
    if isinstance(expected, tuple) or (isinstance(expected, list) and _as_tensor(expected) is None):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return None
        parts = [(i, relation(g, e)) for i, (g, e) in enumerate(zip(got, expected)) if not _equal(g, e)]
        return _combine(parts)
    g, e = _as_tensor(got), _as_tensor(expected)
    if g is None or e is None:
        return None
    return _tensor_relation(g, e)


def _equal(a: Any, b: Any) -> bool:
    ta, tb = _as_tensor(a), _as_tensor(b)
    if ta is not None and tb is not None:
        return _close(ta, tb)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - incomparable parts simply differ
        return False


def _combine(parts: list) -> Relation | None:
    if not parts:
        return None
    rels = [r for _, r in parts]
    if all(r is not None for r in rels) and len({describe(r) for r in rels}) == 1 and describe(rels[0]):
        return rels[0]
    key, rel = parts[0]
    return None if rel is None else ("part", key, rel)


def _tensor_relation(g: torch.Tensor, e: torch.Tensor) -> Relation | None:
    if g.shape != e.shape:
        if g.numel() == e.numel():
            if g.dim() == 2 and e.dim() == 2 and _close(g.T, e):
                return ("transposed",)
            return ("reshape",)
        if g.dim() == e.dim() + 1:
            for axis in range(g.dim()):
                for how in ("sum", "mean"):
                    reduced = getattr(g.double(), how)(dim=axis)
                    if _close(reduced, e):
                        return ("kept_axis", axis)
        return ("shape",)
    if g.dim() == 2 and g.shape[0] == g.shape[1] > 1 and not _close(g, e) and _close(g.T, e):
        return ("transposed",)
    if g.dtype != e.dtype and _close(g, e):
        return ("dtype", str(g.dtype).replace("torch.", ""), str(e.dtype).replace("torch.", ""))
    if e.dtype == torch.bool or (g.dtype == torch.bool and e.dtype == torch.bool):
        d = int(g.bool().sum()) - int(e.bool().sum())
        return ("count", d) if d else ("positions",)
    gd, ed = g.double(), e.double()
    if not (torch.isfinite(gd).all() and torch.isfinite(ed).all()):
        return ("nonfinite",) if not torch.isfinite(gd).all() else None
    if ed.numel() == 1:
        e1, g1 = float(ed), float(gd)
        return ("scalar", g1 / e1 if e1 else math.inf, g1 - e1) if g1 != e1 else None
    if ed.abs().max() > 0 and _close(gd, -ed):
        return ("sign",)
    if (ed < 0).any() and _close(gd, ed.abs()):
        return ("abs",)
    if (gd < 0).any() and _close(gd.abs(), ed):
        return ("missing_abs",)
    nz = ed.abs() > 1e-12
    if nz.any() and torch.allclose(gd[~nz], torch.zeros(()).double(), atol=1e-9):
        ratios = gd[nz] / ed[nz]
        r = float(ratios.median())
        if r != 0 and torch.allclose(ratios, torch.full_like(ratios, r), rtol=_RTOL, atol=0) and abs(r - 1) > 1e-3:
            return ("factor", r, ed.numel())
    diff = gd - ed
    d = float(diff.median())
    if d != 0 and torch.allclose(diff, torch.full_like(diff, d), rtol=_RTOL, atol=1e-9):
        return ("offset", d, ed.numel())
    if ed.numel() > 1 and _close(gd.flatten().sort().values, ed.flatten().sort().values):
        return ("order",)
    return None


# ------------------------------------------------------------------ words
def _near(r: float, target: float) -> bool:
    return math.isclose(r, target, rel_tol=1e-3)


_KNOWN_FACTORS = {100.0: "return a fraction in [0, 1], not a percentage",
                  0.01: "a percentage was expected, or you divided by 100 once too often",
                  8.0: "bits where bytes were expected? (8 bits to a byte)",
                  0.125: "bytes where bits were expected, or a /8 too many?",
                  2.0: "a factor of 2 too many",
                  0.5: "a factor of 2 missing (or a /2 too many)"}


def _factor_words(r: float, inputs: Inputs) -> list[tuple[str, bool]]:
    """Candidate words for a ratio ``r``: (text, explained), explained first."""
    if r == 0 or not math.isfinite(r):
        return []
    times = f"{r:.4g}×" if abs(r) >= 1 else f"1/{1 / r:.4g} of"
    out = []
    if _near(r, -1.0):
        out.append(("your answer has the opposite sign: a minus sign is missing or extra.", True))
    for target, words in _KNOWN_FACTORS.items():
        if _near(r, target):
            out.append((f"your answer is {times} the expected one: {words}.", True))
    for name, s in _scalars(inputs):
        for power, label in ((1, name), (2, f"{name}²")):
            if _near(r, s ** power):
                out.append((f"your answer is a factor {label} too large.", True))
            if _near(r, s ** -power):
                out.append((f"your answer is missing a factor {label}.", True))
    for n, where in _sizes(inputs):
        if _near(r, n):
            out.append((f"your answer is a sum where a mean over {where} was expected.", True))
        if _near(r, 1 / n):
            out.append((f"your answer is a mean where a sum over {where} was expected.", True))
    out.append((f"your answer is {times} the expected one in every value: a constant factor is missing or "
                "extra (a normalisation, a unit, a power of a parameter).", False))
    return out


def _offset_words(d: float) -> list[tuple[str, bool]]:
    if _near(abs(d), 1.0):
        more = "more" if d > 0 else "less"
        return [(f"your answer is 1 {more} than expected: off by one (check < against <=, or whether an end "
                 "point is counted).", True)]
    return [(f"your answer differs from the expected one by the same constant ({d:+.4g}) everywhere: a term "
             "that does not depend on the input is added or missing.", False)]


def _items(inputs: Inputs) -> list[tuple[str, Any]]:
    if isinstance(inputs, Mapping):
        return list(inputs.items())
    return [(f"argument {i + 1}", x) for i, x in enumerate(inputs or ())]


def _scalars(inputs: Inputs):
    for name, x in _items(inputs):
        if isinstance(x, (int, float)) and not isinstance(x, bool) and x not in (0, 1, -1) and math.isfinite(x):
            yield name, float(x)


def _sizes(inputs: Inputs):
    """(count, words) for every product of a tensor argument's axes: what a sum could run over."""
    for name, x in _items(inputs):
        if isinstance(x, torch.Tensor) and 0 < x.dim() <= 5:
            for k in range(1, x.dim() + 1):
                for axes in itertools.combinations(range(x.dim()), k):
                    n = math.prod(x.shape[a] for a in axes)
                    if n > 1:
                        what = "all its values" if k == x.dim() else f"{'axis' if k == 1 else 'axes'} " + \
                            ", ".join(map(str, axes))
                        yield n, f"{what} of {name}"


def candidates(rel: Relation | None, inputs: Inputs = None) -> list[tuple[str, bool]]:
    """Every description that fits a relation, most telling first: ``(text, explained)``.

    An unexplained description (an arbitrary ratio or offset) is worth saying only
    when it holds on several values or cases.
    """
    if rel is None:
        return []
    kind = rel[0]
    if kind == "part":
        key = f"part {rel[1] + 1} of your answer" if isinstance(rel[1], int) else repr(rel[1])
        return [(f"in {key}: {text}", ok) for text, ok in candidates(rel[2], inputs)]
    if kind == "scalar":
        factor, offset = _factor_words(rel[1], inputs), _offset_words(rel[2]) if rel[2] else []
        return [c for c in factor if c[1]] + [c for c in offset if c[1]] + \
            [c for c in factor + offset if not c[1]]
    if kind == "factor":
        return [(t, ok or rel[2] > 1) for t, ok in _factor_words(rel[1], inputs)]
    if kind == "offset":
        return [(t, ok or rel[2] > 1) for t, ok in _offset_words(rel[1])]
    if kind == "count":
        d = rel[1]
        n = "one element" if abs(d) == 1 else f"{abs(d)} elements"
        extra = " off by one at the threshold (< against <=, or k against k - 1)?" if abs(d) == 1 else " check the count."
        return [(f"your mask keeps {n} {'more' if d > 0 else 'fewer'} than expected:{extra}", True)]
    return [(_DESCRIBE[kind](*rel[1:]), True)]


def describe(rel: Relation | None, inputs: Inputs = None) -> str | None:
    """The most telling words for a relation that stand on their own, or None."""
    return next((text for text, ok in candidates(rel, inputs) if ok), None)


_DESCRIBE = {
    "positions": lambda: "the right number is kept, but not the right ones: check what you rank by.",
    "sign": lambda: "your answer has the opposite sign everywhere: a minus sign is missing or extra.",
    "abs": lambda: "you returned absolute values; the sign matters here.",
    "missing_abs": lambda: "some values have the wrong sign: the magnitude |x| was expected.",
    "transposed": lambda: "your result is the transpose of the expected one (rows and columns swapped).",
    "reshape": lambda: "the right number of values in the wrong shape: check the axes (reshape, transpose).",
    "kept_axis": lambda axis: f"you kept axis {axis} of the result: reduce over it as well.",
    "shape": lambda: "the result's shape differs from the expected one: check which axes you reduce over "
                     "and which you keep.",
    "dtype": lambda g, e: f"the values are right but the dtype is {g}; {e} was expected (convert with .to()).",
    "nonfinite": lambda: "your result holds nan or inf values: look for a division by zero or an overflow "
                         "(exp of a large number).",
    "order": lambda: "the right values in a different order: check the axis or the ordering.",
}


def consistent(pairs: Sequence[tuple[Any, Any, Inputs]]) -> str | None:
    """The most telling description that holds on every ``(got, expected, inputs)`` pair, or None.

    >>> consistent([(3.0, 1.5, ()), (8.0, 4.0, ())])
    'your answer is 2× the expected one: a factor of 2 too many.'
    >>> consistent([(3.0, 1.5, ()), (8.0, 5.0, ())]) is None
    True
    """
    if not pairs:
        return None
    lists = [candidates(relation(g, e), inputs) for g, e, inputs in pairs]
    for text, explained in lists[0]:
        if all(any(t == text for t, _ in other) for other in lists[1:]) and (explained or len(pairs) > 1):
            return text
    return None
