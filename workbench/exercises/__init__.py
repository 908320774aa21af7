"""Exercises: a learner writes a function, a check runs it on fixed cases.

The check compares the learner's answers with the reference solution (kept in
``workbench.solutions`` for instructors) and answers with *specific* feedback:
what the function returned, what was expected, and — when the answer matches a
known mistake — the likely cause::

    >>> from workbench.exercises import Case, Exercise
    >>> ex = Exercise("double", reference=lambda x: 2 * x, cases=[Case((3,))],
    ...               mistakes={"did you square instead of doubling?": lambda x: x * x})
    >>> print(ex.check(lambda x: x ** 2))
    ✗ double, case 1 (x=3): got 9, expected 6. Hint: did you square instead of doubling?
    >>> print(ex.check(lambda x: x + x))
    ✓ double: all 1 cases pass.

When no listed mistake fits, :mod:`.diagnose` names the class of error (a constant
factor, off by one, a sign, a sum for a mean, a wrong axis or dtype).

Topic modules (``measuring``, …) define one ``check_*`` function per exercise; it
returns the :class:`Feedback`, which a notebook cell displays as its result.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .diagnose import consistent

Compare = Callable[[Any, Any], "str | None"]  # (got, expected) -> None if equal, else what differs


@dataclass(frozen=True)
class Case:
    """One fixed input: positional ``args``, keyword ``kwargs``, and a short ``label``."""

    args: tuple = ()
    kwargs: Mapping = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class Feedback:
    """The result of a check: ``passed``, and one message for the learner."""

    name: str
    passed: bool
    message: str
    attempted: bool = True

    def __str__(self) -> str:
        mark = "✓" if self.passed else ("…" if not self.attempted else "✗")
        return f"{mark} {self.name}{self.message}"

    def __repr__(self) -> str:
        return str(self)

    def __bool__(self) -> bool:
        return self.passed


def close(rtol: float = 1e-5, atol: float = 1e-8, what: str = "") -> Compare:
    """Compare numbers or tensors within tolerance; the message says how far off."""

    def compare(got, expected):
        if isinstance(expected, torch.Tensor):
            if not isinstance(got, torch.Tensor):
                return f"got a {type(got).__name__}, expected a tensor of shape {tuple(expected.shape)}"
            if got.shape != expected.shape:
                return f"got shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
            if not torch.allclose(got.double(), expected.double(), rtol=rtol, atol=atol):
                worst = (got.double() - expected.double()).abs().max().item()
                return f"values differ from the reference by up to {worst:.3g}"
            return None
        try:
            g, e = float(got), float(expected)
        except (TypeError, ValueError):
            return f"got {got!r} ({type(got).__name__}), expected a number like {expected!r}"
        if abs(g - e) > atol + rtol * abs(e):
            unit = f" {what}" if what else ""
            return f"got {_fmt(got)}{unit}, expected {_fmt(expected)}{unit}"
        return None

    return compare


def _fmt(v) -> str:
    if isinstance(v, float) and not v.is_integer():
        return f"{v:.6g}"
    try:
        return f"{int(v):,}" if float(v).is_integer() else repr(v)
    except (TypeError, ValueError):
        return repr(v)


@dataclass
class Exercise:
    """A reference, fixed cases, a comparison, known mistakes with their hints, and
    ``equivalents``: other correct forms (note -> function) that pass with the note."""

    name: str
    reference: Callable
    cases: Sequence[Case]
    compare: Compare = field(default_factory=close)
    mistakes: Mapping[str, Callable] = field(default_factory=dict)
    equivalents: Mapping[str, Callable] = field(default_factory=dict)

    def check(self, fn: Callable) -> Feedback:
        """Run ``fn`` on every case; explain the first that differs.

        The hint is a listed mistake that reproduces the answers on *every* case
        the function got wrong, else a generic diagnosis (:mod:`.diagnose`) that
        holds on all of them, else none: a hint that fits one case by chance
        would send the learner the wrong way.
        """
        if not callable(fn):
            return Feedback(self.name, False, f": expected a function, got {type(fn).__name__}")
        wrong = []                         # (index, case, got or exception, expected, what differs)
        for i, case in enumerate(self.cases, start=1):
            expected = _call(self.reference, case)
            try:
                got = _call(fn, case)
            except NotImplementedError:
                return Feedback(self.name, False, ": not attempted yet — replace `raise NotImplementedError` "
                                "with your code and run the cell again.", attempted=False)
            except Exception as err:  # noqa: BLE001 - report the learner's error, don't raise it
                wrong.append((i, case, err, expected, None))
                continue
            diff = self.compare(got, expected)
            if diff is not None:
                wrong.append((i, case, got, expected, diff))
        if not wrong:
            return Feedback(self.name, True, f": all {len(self.cases)} cases pass.")
        i, case, got, _, diff = wrong[0]
        where = f", case {i} ({case.label or _describe(self.reference, case)})"
        if isinstance(got, Exception):
            return Feedback(self.name, False, f"{where}: your function raised {type(got).__name__}: {got}")
        note = self._equivalent(fn)
        if note:
            return Feedback(self.name, True, f": all {len(self.cases)} cases pass. {note}")
        hint = self._hint([(c, g, e) for _, c, g, e, _ in wrong if not isinstance(g, Exception)])
        return Feedback(self.name, False, f"{where}: {diff}." + (f" Hint: {hint}" if hint else ""))

    def _equivalent(self, fn: Callable) -> str | None:
        for note, other in self.equivalents.items():
            try:
                if all(self.compare(_call(fn, c), _call(other, c)) is None for c in self.cases):
                    return note
            except Exception:  # noqa: BLE001 - an equivalent form that fails does not match
                continue
        return None

    def _hint(self, wrong: list) -> str | None:
        for hint, mistake in self.mistakes.items():
            try:
                if all(self.compare(got, _call(mistake, case)) is None for case, got, _ in wrong):
                    return hint
            except Exception:  # noqa: BLE001 - a mistake model that fails simply does not match
                continue
        try:
            return consistent([(got, expected, _inputs(self.reference, case)) for case, got, expected in wrong])
        except Exception:  # noqa: BLE001 - a diagnosis that fails must not hide the comparison
            return None


def _call(fn: Callable, case: Case):
    return fn(*copy.deepcopy(case.args), **copy.deepcopy(dict(case.kwargs)))


def _inputs(fn: Callable, case: Case) -> dict:
    """The case's arguments by parameter name (positional names when the signature is unknown)."""
    try:
        return dict(inspect.signature(fn).bind(*case.args, **case.kwargs).arguments)
    except (TypeError, ValueError):
        return {**{f"argument {i + 1}": a for i, a in enumerate(case.args)}, **case.kwargs}


def _describe(fn: Callable, case: Case) -> str:
    """``x=3, y='a'`` for small arguments, shapes for tensors."""
    try:
        bound = inspect.signature(fn).bind(*case.args, **case.kwargs)
        items = bound.arguments.items()
    except (TypeError, ValueError):
        items = [(f"arg{i}", a) for i, a in enumerate(case.args)] + list(case.kwargs.items())
    parts = []
    for k, v in items:
        if isinstance(v, torch.Tensor):
            parts.append(f"{k}: tensor {tuple(v.shape)}")
        elif isinstance(v, (list, tuple)) and v and isinstance(v[0], torch.Tensor):
            parts.append(f"{k}: {len(v)} tensors")
        else:
            text = repr(v)
            parts.append(f"{k}={text if len(text) <= 30 else text[:27] + '...'}")
    return ", ".join(parts)
