"""How the explorer times: quick, robust timings and a baseline figure that stays put.

A mixin of :class:`workbench.explorer.Explorer` (its timing concern, apart from
measuring and drawing). Each quick timing runs the model interleaved with the
baseline (:func:`workbench.latency.quick_compare`: one thread, the lowest of three
block medians). The baseline's figure shown is the median of all its timings at
that batch size (:meth:`TimingMixin.baseline_latency`), the first one timed alone
with twice the budget when the panel opens. A timing is re-timed once, the lower
figure kept, when the baseline in it ran over ``RETIME_LOAD`` times its usual
figure (other load hit the whole run), or when it shows a larger batch of the
same model more than ``RETIME_RATIO`` times faster than a smaller one.

    >>> RETIME_LOAD, RETIME_RATIO
    (2.0, 1.25)
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from torch import nn

from .explorer_figure import _with
from .latency import Latency, compare_latency, median_latency, quick_compare

if TYPE_CHECKING:
    from .explorer import _Point

RETIME_RATIO = 1.25     # a larger batch this much faster than a smaller one is noise: re-time
RETIME_LOAD = 2.0       # the baseline this much slower than its usual figure: other load hit the timing
ACTION = "action"       # the params key of an action's result


class TimingMixin:
    """The timing half of the explorer (needs its ``baseline``, ``data``, ``threads``, ``budget_s``, points)."""

    def baseline_latency(self, batch_size: int | None = None) -> Latency | None:
        """The baseline's latency at ``batch_size`` as the panel shows it: the median of its timings so far.

        Each quick timing re-times the baseline next to the model (a fair ratio); the
        figure shown is the median of those timings (plus one taken alone, with twice
        the budget, when the panel opens), so it stays put from move to move. ``None``
        before the first timing at that batch size.
        """
        timings = self._base_timings.get(self._batch(self.params) if batch_size is None else batch_size)
        return median_latency(timings) if timings else None

    def load_factor(self, point=None) -> float | None:
        """How much slower the baseline ran in ``point``'s timing than its usual figure (1.0: as usual).

        Well above 1 means other load slowed that timing: the panel says so.
        """
        point = point if point is not None else (self._points.get(self._current) if self._current else None)
        if point is None or point.baseline_latency is None:
            return None
        usual = self.baseline_latency(point.baseline_latency.batch_size)
        return point.baseline_latency.median_ms / usual.median_ms if usual else None

    def _time(self, model: nn.Module, params: dict, *, full: bool, budget_s: float | None = None
              ) -> tuple[Latency, Latency]:
        models = {"baseline": self.baseline, "model": model}
        if full:
            out = compare_latency(models, self.data.input_shape, batch_size=self._batch(params), repeats=30,
                                  warmup=5, threads=self.threads)
        else:
            out = quick_compare(models, self.data.input_shape, batch_size=self._batch(params),
                                budget_s=budget_s or self.budget_s, threads=self.threads)
        return out["model"], out["baseline"]

    def _time_baseline(self, batch_size: int) -> None:
        base = quick_compare({"baseline": self.baseline}, self.data.input_shape, batch_size=batch_size,
                             budget_s=2 * self.budget_s, threads=self.threads)["baseline"]
        self._base_timings.setdefault(batch_size, []).append(base)

    def _check_batch_trend(self, model: nn.Module, point: _Point) -> _Point:
        """A larger batch of the same model cannot run faster than a smaller one: re-time the smaller once.

        Other load only ever adds time, so the slower (smaller-batch) timing is the
        suspect: it is re-timed with twice the budget and the lower figure kept. At
        most one re-timing per move; only with a ``batch_size`` control.
        """
        if "batch_size" not in self.controls:
            return point
        b, static = self._batch(point.params), self._static_key(point.params)
        for key, other in list(self._points.items()):
            ob = self._batch(other.params)
            o = other.measurement.latency.get(ob)
            if o is None or ob == b or self._static_key(other.params) != static:
                continue
            lat = point.measurement.latency[b]
            smaller, larger = (lat, o) if b < ob else (o, lat)
            if larger.median_ms * RETIME_RATIO < smaller.median_ms:
                if b < ob:
                    return self._retime(model, point)
                if not other.full and ACTION not in other.params:
                    self._points[key] = self._retime(self._model_for(other.params), other)
                return point
        return point

    def _retime(self, model: nn.Module, point: _Point) -> _Point:
        b = self._batch(point.params)
        again, base = self._time(model, point.params, full=False, budget_s=2 * self.budget_s)
        self._base_timings.setdefault(b, []).append(base)
        if again.median_ms >= point.measurement.latency[b].median_ms:
            return point
        return replace(point, measurement=_with(point.measurement, {b: again}), baseline_latency=base)
