"""Latency per example at batch 1 on real digits, where the input decides how much runs.

``wb.measure_latency`` times a model on one random input; an early-exit model's
cost depends on the input (noise is never confident, so it would always run to
the end). Here each model goes through the same real examples one at a time;
a round times the whole pass, rounds are interleaved across models after a
warm-up, and the median round divided by the number of examples is the mean
latency per example::

    >>> from workbench import models
    >>> X = torch.zeros(4, 1, 28, 28)
    >>> lat = per_example_latency({"lenet5": models.build("lenet5")}, X, rounds=3)["lenet5"]
    >>> lat.runs, lat.batch_size
    (3, 1)
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from .._checks import check_int
from ..latency import Latency, _summary

Runner = nn.Module | Callable[[Tensor], object]


def per_example_latency(models: Mapping[str, Runner], X: Tensor, *, rounds: int = 5, warmup: int = 1,
                        budget_s: float | None = None, threads: int | None = None) -> dict[str, Latency]:
    """Mean batch-1 latency per example of each model over the examples ``X``, interleaved.

    Returns :class:`workbench.Latency` objects whose ``median_ms`` is the median over
    rounds of (time of one pass over ``X``) / ``len(X)``; ``batch_size`` is 1.
    ``budget_s`` stops after the round that exceeds it (at least 3 rounds).
    """
    check_int("rounds", rounds, 1)
    check_int("warmup", warmup, 0)
    if not models:
        raise ValueError("models must hold at least one model")
    if len(X) == 0:
        raise ValueError("X must hold at least one example")
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(check_int("threads", threads, 1, 1024))
    for m in models.values():
        if isinstance(m, nn.Module):
            m.eval()
    xs = [X[i:i + 1].contiguous() for i in range(len(X))]
    samples: dict[str, list[float]] = {name: [] for name in models}
    gc_was_enabled = gc.isenabled()
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                for m in models.values():
                    for x in xs:
                        m(x)
            gc.disable()
            start = time.perf_counter()
            for r in range(rounds):
                for name, m in models.items():
                    t0 = time.perf_counter()
                    for x in xs:
                        m(x)
                    samples[name].append((time.perf_counter() - t0) / len(xs))
                if budget_s is not None and r >= 2 and time.perf_counter() - start > budget_s:
                    break
        return {name: _summary(s, 1, torch.device("cpu")) for name, s in samples.items()}
    finally:
        if gc_was_enabled:
            gc.enable()
        torch.set_num_threads(old_threads)
