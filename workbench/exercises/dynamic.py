"""Exercises of notebook 09: the entropy of a softmax, the exit a threshold rule picks, average MACs."""

from __future__ import annotations

import math

import torch

from ..solutions import dynamic as ref
from . import Case, Exercise, Feedback, close


def _compare_exits(got, expected) -> str | None:
    if not isinstance(got, torch.Tensor):
        return f"got a {type(got).__name__}, expected a tensor of exit indices of shape {tuple(expected.shape)}"
    if got.shape != expected.shape:
        return f"got shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    wrong = (got.long() != expected).nonzero()[:, 0].tolist()
    if wrong:
        i = wrong[0]
        return (f"{len(wrong)} of {len(expected)} examples get the wrong exit; example {i} got exit "
                f"{int(got[i])}, expected {int(expected[i])}")
    return None


_close = close(rtol=1e-4, atol=1e-5, what="nats")


def _compare_entropy(got, expected) -> str | None:
    if isinstance(got, torch.Tensor) and got.shape == expected.shape and torch.isnan(got).any():
        if torch.equal(torch.isnan(got), torch.isnan(expected)):       # NaN where a mistake model has NaN too
            return None if torch.allclose(got.nan_to_num(), expected.nan_to_num(), 1e-4, 1e-5) else "NaN"
        return f"got NaN for {int(torch.isnan(got).sum())} of {len(got)} rows"
    return _close(got, expected)


_logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [8.0, -8.0, 0.0]])

_entropy = Exercise(
    "softmax_entropy",
    reference=ref.softmax_entropy,
    cases=[Case((_logits,), label="three rows: peaked, uniform, nearly certain"),
           Case((torch.randn(5, 10, generator=torch.Generator().manual_seed(0)) * 3,), label="5 random rows, 10 classes"),
           Case((torch.tensor([[1000.0, 0.0]]),), label="huge logits (a certain answer)")],
    compare=_compare_entropy,
    mistakes={
        "entropy is -sum p log p: the minus sign makes it >= 0.":
            lambda lg: -ref.softmax_entropy(lg),
        "use the natural log (nats), as torch.log does; log2 gives bits.":
            lambda lg: ref.softmax_entropy(lg) / math.log(2),
        "apply softmax first: the entropy is of the probabilities, not of the raw logits.":
            lambda lg: -(lg * torch.log(lg.abs().clamp_min(1e-30))).sum(1),
        "sum over the classes (dim 1): one entropy per example, shape (N,).":
            lambda lg: ref.softmax_entropy(lg).sum(),
        "0 * log 0 must count as 0: clamp the probabilities before the log (or use log_softmax).":
            lambda lg: -(torch.softmax(lg, 1) * torch.log(torch.softmax(lg, 1))).sum(1),
    })


def check_softmax_entropy(fn) -> Feedback:
    """Check ``fn(logits (N, C)) -> (N,)`` entropy in nats."""
    return _entropy.check(fn)


_u = torch.tensor([[0.1, 0.5, 2.0], [0.9, 0.2, 2.0], [0.9, 0.9, 2.0], [0.3, 0.05, 1.0], [0.0, 0.0, 0.5]])

_exit = Exercise(
    "first_exit",
    reference=ref.first_exit,
    cases=[Case((_u, [0.3, 0.3]), label="5 examples, 3 exits, thresholds 0.3"),
           Case((_u, [0.0, 0.0]), label="thresholds 0: nobody leaves early"),
           Case((_u, [float("inf"), 0.1]), label="threshold inf at exit 1"),
           Case((_u, [0.05, 0.6]), label="different thresholds per exit")],
    compare=_compare_exits,
    mistakes={
        "an example leaves at the FIRST exit that is sure enough, not the last one: stop at the first match.":
            lambda u, t: _first_match(u, t, last=True),
        "leave when the uncertainty is BELOW the threshold (a low entropy means a confident exit).":
            lambda u, t: ref.first_exit(-u, [-v for v in t]),
        "strictly below: with threshold 0 nobody may leave early (an entropy of exactly 0 must not exit).":
            lambda u, t: _first_match(u, t, at_or_below=True),
        "an example that no early exit accepts goes to the last exit (index exits - 1), not to -1 or 0.":
            lambda u, t: torch.where(ref.first_exit(u, t) == u.shape[1] - 1, 0, ref.first_exit(u, t)),
    })


def _first_match(u, t, *, last=False, at_or_below=False):
    n, exits = u.shape
    out = torch.full((n,), exits - 1, dtype=torch.long)
    for i in range(n):
        for k in range(exits - 1):
            if (u[i, k] <= t[k]) if at_or_below else (u[i, k] < t[k]):
                out[i] = k
                if not last:
                    break
    return out


def check_first_exit(fn) -> Feedback:
    """Check ``fn(uncertainties (N, exits), thresholds list of exits-1) -> (N,)`` exit indices."""
    return _exit.check(fn)


_macs = Exercise(
    "average_macs_per_example",
    reference=ref.average_macs_per_example,
    cases=[Case(([0.5, 0.5], [100, 1000], [10, 20]), label="two exits, half each"),
           Case(([0.6, 0.1, 0.3], [144, 1_806_000, 3_613_000], [31_360, 31_360, 11_520]),
                label="three exits, the notebook's network"),
           Case(([0.0, 0.0, 1.0], [10, 20, 30], [1, 2, 3]), label="everyone to the end")],
    compare=close(rtol=1e-6, atol=1e-6, what="MACs"),
    mistakes={
        "an example leaving at exit k has run blocks 0..k (all of them), not block k alone.":
            lambda f, b, h: sum(fk * (b[k] + sum(h[:k + 1])) for k, fk in enumerate(f)),
        "the side classifiers that said 'not sure' ran too: count heads 0..k, not head k alone.":
            lambda f, b, h: sum(fk * (sum(b[:k + 1]) + h[k]) for k, fk in enumerate(f)),
        "the heads cost MACs too: add them to the blocks.":
            lambda f, b, h: sum(fk * sum(b[:k + 1]) for k, fk in enumerate(f)),
        "weight each exit's cost by its fraction; a plain mean over exits ignores how many leave where.":
            lambda f, b, h: sum(sum(b[:k + 1]) + sum(h[:k + 1]) for k in range(len(f))) / len(f),
    })


def check_average_macs(fn) -> Feedback:
    """Check ``fn(fractions, block_macs, head_macs) -> average MACs per example``."""
    return _macs.check(fn)
