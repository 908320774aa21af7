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

With ``batch_size > 1`` the ``median_ms`` is still per example (not per batch).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from .._checks import check_int, checked
from ..latency import Latency, _summary
from ..measure import Measurement

Runner = nn.Module | Callable[[Tensor], object]


@checked(ndim={"X": 4})
@checked
def per_example_latency(models: Mapping[str, Runner], X: Tensor, *, rounds: int = 5, warmup: int = 1,
                        batch_size: int = 1, budget_s: float | None = None,
                        threads: int | None = None) -> dict[str, Latency]:
    """Mean latency per example of each model over the examples ``X``, fed ``batch_size`` at a time, interleaved.

    Returns :class:`workbench.Latency` objects whose ``median_ms`` is the median over
    rounds of (time of one pass over ``X``) / ``len(X)`` — per *example*, whatever
    the batch. ``budget_s`` stops after the round that exceeds it (at least 3 rounds).
    """
    check_int("rounds", rounds, 1)
    check_int("batch_size", batch_size, 1)
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
    xs = [X[i:i + batch_size].contiguous() for i in range(0, len(X), batch_size)]
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
                    samples[name].append((time.perf_counter() - t0) / len(X))
                if budget_s is not None and r >= 2 and time.perf_counter() - start > budget_s:
                    break
        return {name: _summary(s, batch_size, torch.device("cpu")) for name, s in samples.items()}
    finally:
        if gc_was_enabled:
            gc.enable()
        torch.set_num_threads(old_threads)


def summary_rows(entries: Mapping[str, Mapping], data, *, sample: int = 200, rounds: int = 5,
                 threads: int | None = None) -> dict[str, Measurement]:
    """Report rows for models whose cost depends on the input.

    ``entries`` maps a row name to ``dict(model=..., accuracy=..., macs=...)`` and
    optionally ``run`` (what to time, default the model): the model gives params and
    fp32 bytes, ``accuracy`` and ``macs`` (average per example) come from the exit
    bookkeeping, and the latency is :func:`per_example_latency` at batch 1 on the
    first ``sample`` test digits, all rows interleaved.
    """
    from ..encodings import encode
    from ..metrics import count_nonzero, count_params

    check_int("sample", sample, 1, len(data.y_test))
    runs = {name: e.get("run", e["model"]) for name, e in entries.items()}
    lat = per_example_latency(runs, data.X_test[:sample], rounds=rounds, threads=threads)
    rows = {}
    for name, e in entries.items():
        model = e["model"]
        rows[name] = Measurement(accuracy=float(e["accuracy"]), params=count_params(model),
                                 nonzeros=count_nonzero(model), size_bytes=len(encode(model, "fp32")),
                                 encoding="fp32", macs=round(e["macs"]), latency={1: lat[name]},
                                 eval_examples=len(data.y_test))
    return rows
