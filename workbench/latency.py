"""Latency you can trust on a noisy machine: warm-up, repeats, medians, interleaving.

    >>> from workbench import models
    >>> result = measure_latency(models.build("lenet5"), (1, 28, 28), batch_size=1, repeats=5)
    >>> result.runs, result.batch_size
    (5, 1)

Timings on a shared 2-core machine swing by 2-3x from one run to the next, so:
warm up first (allocator, oneDNN kernel selection), report the median and the
spread (inter-quartile range), and record the thread count. When comparing
models, ``compare_latency`` interleaves them round by round, so a burst of
background load hits every model alike and the *ratio* stays meaningful.
``quick_compare`` is the live panels' version: a small time budget, one thread,
and the lowest of three block medians, so one burst of load cannot make a
figure jump several-fold between two moves of a slider.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ._checks import check_int, check_number, checked


@dataclass(frozen=True)
class Latency:
    """Milliseconds per forward pass of one batch."""

    median_ms: float
    q1_ms: float
    q3_ms: float
    runs: int
    batch_size: int
    threads: int
    device: str
    samples_ms: tuple[float, ...] = field(default=(), repr=False, compare=False)  # every timed run
    method: str = field(default="median", compare=False)   # "median" or "min of block medians"

    @property
    def iqr_ms(self) -> float:
        return self.q3_ms - self.q1_ms

    @property
    def per_example_ms(self) -> float:
        return self.median_ms / self.batch_size

    def __str__(self) -> str:
        return (f"{self.median_ms:.3f} ms (IQR {self.iqr_ms:.3f} ms, n={self.runs}, "
                f"batch {self.batch_size}, threads={self.threads}, {self.device})")


def _summary(samples_s: list[float], batch_size: int, device: torch.device) -> Latency:
    ms = sorted(s * 1e3 for s in samples_s)
    if len(ms) >= 4:
        q1, _, q3 = statistics.quantiles(ms, n=4, method="inclusive")
    else:
        q1, q3 = ms[0], ms[-1]
    return Latency(statistics.median(ms), q1, q3, len(ms), batch_size, torch.get_num_threads(), device.type,
                   tuple(s * 1e3 for s in samples_s))


def _runner(model: nn.Module, input_shape: Sequence[int], batch_size: int, device: torch.device,
            channels_last: bool):
    x = torch.randn(batch_size, *input_shape, generator=torch.Generator().manual_seed(0)).to(device)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def once() -> float:
        start = time.perf_counter()
        model(x)
        sync()
        return time.perf_counter() - start

    return once


def _check(input_shape, batch_size, warmup, repeats, budget_s, threads):
    if not isinstance(input_shape, (tuple, list, torch.Size)) or len(input_shape) == 0:
        raise ValueError(f"input_shape must give the shape of one example, e.g. (1, 28, 28), got {input_shape!r}")
    check_int("batch_size", batch_size, 1)
    check_int("warmup", warmup, 0)
    check_int("repeats", repeats, 1)
    if budget_s is not None:
        check_number("budget_s", budget_s, 0.0, low_inclusive=False)
    if threads is not None:
        check_int("threads", threads, 1, 1024)


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` that exists on this machine, or one sentence naming it."""
    try:
        out = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be a device name such as 'cpu' or 'cuda', got {device!r}") from err
    if out.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} is not available here (no CUDA GPU); use 'cpu'")
    return out


@checked
def measure_latency(model: nn.Module, input_shape: Sequence[int], *, batch_size: int = 1, warmup: int = 5,
                    repeats: int = 30, budget_s: float | None = None, threads: int | None = None,
                    device: str | torch.device = "cpu", channels_last: bool = False) -> Latency:
    """Median latency of ``model`` on a batch of ``batch_size`` examples of ``input_shape``.

    ``budget_s`` caps the timed runs (at least 3 are always made): the explorer uses
    a small budget for a quick answer; a notebook's report uses the full ``repeats``.
    ``threads`` sets ``torch.set_num_threads`` for the measurement and restores it.
    """
    return compare_latency({"model": model}, input_shape, batch_size=batch_size, warmup=warmup,
                           repeats=repeats, budget_s=budget_s, threads=threads, device=device,
                           channels_last=channels_last)["model"]


@checked
def compare_latency(models: Mapping[str, nn.Module], input_shape: Sequence[int], *, batch_size: int = 1,
                    warmup: int = 5, repeats: int = 30, budget_s: float | None = None,
                    threads: int | None = None, device: str | torch.device = "cpu",
                    channels_last: bool = False) -> dict[str, Latency]:
    """Latency of several models, measured interleaved: one run of each per round.

    >>> from workbench import models as zoo
    >>> out = compare_latency({"a": zoo.build("lenet300"), "b": zoo.build("lenet5")}, (1, 28, 28), repeats=3)
    >>> sorted(out)
    ['a', 'b']
    """
    _check(input_shape, batch_size, warmup, repeats, budget_s, threads)
    if not models:
        raise ValueError("models must hold at least one model")
    device = check_device(device)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    modes = {name: m.training for name, m in models.items()}
    gc_was_enabled = gc.isenabled()
    try:
        runners = {}
        for name, m in models.items():
            m.eval()
            runners[name] = _runner(m.to(device), input_shape, batch_size, device, channels_last)
        samples: dict[str, list[float]] = {name: [] for name in models}
        with torch.inference_mode():
            for _ in range(warmup):
                for run in runners.values():
                    run()
            gc.disable()
            start = time.perf_counter()
            for i in range(repeats):
                for name, run in runners.items():
                    samples[name].append(run())
                if budget_s is not None and i >= 2 and time.perf_counter() - start > budget_s:
                    break
        return {name: _summary(s, batch_size, device) for name, s in samples.items()}
    finally:
        if gc_was_enabled:
            gc.enable()
        for name, m in models.items():
            m.train(modes[name])
        torch.set_num_threads(old_threads)


def _blocks_min_median(samples_s: list[float], blocks: int) -> float:
    """The lowest median of ``blocks`` consecutive blocks of runs (seconds)."""
    n = len(samples_s)
    k = max(1, min(blocks, n // 2)) if n >= 2 else 1
    edges = [round(i * n / k) for i in range(k + 1)]
    return min(statistics.median(samples_s[a:b]) for a, b in zip(edges, edges[1:]))


def quick_compare(models: Mapping[str, nn.Module], input_shape: Sequence[int], *, batch_size: int = 1,
                  budget_s: float = 0.1, threads: int | None = 1, warmup: int = 2, min_rounds: int = 5,
                  max_rounds: int = 60, blocks: int = 3, device: str | torch.device = "cpu") -> dict[str, Latency]:
    """Latency of several models within a small time budget, robust to bursts of other load.

    What a live panel needs: figures that read as a trend from one move to the next.

    - ``threads`` (one by default) for the timing only, restored after: one thread
      competes least with the rest of a shared machine and varies least;
    - ``warmup`` rounds, then interleaved rounds (the order rotates each round) until
      ``budget_s`` is spent, at least ``min_rounds`` and at most ``max_rounds``;
    - the figure (``median_ms``) is the lowest of ``blocks`` block medians: a burst
      of load lifts one block, not all; ``q1_ms``..``q3_ms`` is the spread of all runs.

    >>> from workbench import models as zoo
    >>> out = quick_compare({"a": zoo.build("lenet300"), "b": zoo.build("lenet5")}, (1, 28, 28), budget_s=0.01)
    >>> out["a"].runs == out["b"].runs >= 5, out["a"].threads, out["a"].method
    (True, 1, 'min of block medians')
    """
    _check(input_shape, batch_size, warmup, max_rounds, budget_s, threads)
    check_int("min_rounds", min_rounds, 1)
    check_int("max_rounds", max_rounds, min_rounds)
    check_int("blocks", blocks, 1, 20)
    if not models:
        raise ValueError("models must hold at least one model")
    device = torch.device(device)
    old_threads = torch.get_num_threads()
    modes = {name: m.training for name, m in models.items()}
    gc_was_enabled = gc.isenabled()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        runners = []
        for name, m in models.items():
            m.eval()
            runners.append((name, _runner(m.to(device), input_shape, batch_size, device, False)))
        samples: dict[str, list[float]] = {name: [] for name in models}
        with torch.inference_mode():
            for _ in range(warmup):
                for _, run in runners:
                    run()
            gc.disable()
            start = time.perf_counter()
            for i in range(max_rounds):
                order = runners[i % len(runners):] + runners[:i % len(runners)]
                for name, run in order:
                    samples[name].append(run())
                if i + 1 >= min_rounds and time.perf_counter() - start > budget_s:
                    break
        out = {}
        for name, s in samples.items():
            lat = _summary(s, batch_size, device)
            best = 1e3 * _blocks_min_median(s, blocks)
            out[name] = Latency(best, min(lat.q1_ms, best), max(lat.q3_ms, best), lat.runs, batch_size,
                                torch.get_num_threads(), device.type, lat.samples_ms, "min of block medians")
        return out
    finally:
        if gc_was_enabled:
            gc.enable()
        for name, m in models.items():
            m.train(modes[name])
        torch.set_num_threads(old_threads)


def median_latency(timings: Sequence[Latency]) -> Latency:
    """One figure from several timings of the same model: the timing with the median ``median_ms``.

    Its spread becomes the median quartiles; ``runs`` counts every run. A live panel
    shows this for its baseline, so the figure stays put from move to move.

    >>> lats = [Latency(m, m - 0.1, m + 0.1, 5, 1, 1, "cpu") for m in (1.0, 9.0, 1.2)]
    >>> median_latency(lats).median_ms, median_latency(lats).runs
    (1.2, 15)
    """
    if not timings:
        raise ValueError("timings must hold at least one Latency")
    n = len(timings)
    mid = sorted(timings, key=lambda lat: lat.median_ms)[(n - 1) // 2]
    q1 = sorted(lat.q1_ms for lat in timings)[(n - 1) // 2]
    q3 = sorted(lat.q3_ms for lat in timings)[n // 2]
    return Latency(mid.median_ms, min(q1, mid.median_ms), max(q3, mid.median_ms), sum(lat.runs for lat in timings),
                   mid.batch_size, mid.threads, mid.device, (), "median of timings")
