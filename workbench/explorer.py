"""The live explorer: controls -> compress -> measure -> plots and a report table.

A notebook adds a technique by writing a compression function, not a UI::

    >>> from workbench import data, models
    >>> from workbench.widgets import Slider
    >>> def shrink(model, scale):          # a toy "compression": scale every weight
    ...     for p in model.parameters():
    ...         p.data.mul_(scale)
    ...     return model
    >>> ex = Explorer(shrink, {"scale": Slider(0.0, 1.0, 0.25, value=1.0)},
    ...               baseline=models.build("lenet300"), data=data.load("digits"), latency="off")
    >>> ex.set(scale=0.5).params
    266610

- Every new setting is measured once and cached: moving back is instant.
- Latency is timed within a small budget on one thread, interleaved with the
  baseline (``latency.quick_compare``: the lowest of three block medians, the
  spread drawn as error bars), or on demand with the "measure latency" button
  (30 runs). The baseline's figure is the median of its timings so far, so it
  stays put while the student moves. A timing in which the baseline ran over
  twice its usual figure (:meth:`Explorer.load_factor`), or, with a
  ``batch_size`` control, one that shows a larger batch faster than a smaller
  one, is re-timed once and the lower figure kept.
- ``run="button"`` is for settings that train (distillation, say): moving a
  control does nothing until "run" is pressed; a compression function that takes
  a ``monitor`` argument gets the panel's :class:`TrainingMonitor` to pass to
  ``train``. Results accumulate across runs until "reset".
- ``actions`` add buttons that transform the current model (e.g. fine-tune it);
  their results join the plots as a series of their own.
- An exception raised in a callback appears in the panel, which keeps working.
- A control named ``batch_size`` sets the latency batch instead of being passed
  to the compression function.
- The panel wraps (the table moves below the controls in a narrow output area);
  the plots size to it. Unexecuted, the cell reads :data:`PLACEHOLDER`.

The drawing lives in :mod:`workbench.explorer_figure`, the timing in
:mod:`workbench.explorer_timing`, notebook 00's explorer in
:mod:`workbench.model_explorer`; their public names import from here too.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import ipywidgets as widgets
import pandas as pd
from torch import nn

from ._checks import check_choice, check_int, check_number
from .explorer_figure import draw_hints, make_figure, pareto_front, redraw, table_html
from .explorer_timing import ACTION, RETIME_LOAD, RETIME_RATIO, TimingMixin
from .latency import Latency
from .measure import Encoding, Measurement, measure_static
from .metrics import count_macs
from .weights import deep_copy
from .widgets import PLACEHOLDER, Slider, TrainingMonitor, error_html, message_box, panel_bundle, panel_layout

LATENCY_MODES = ("quick", "button", "off")
RUN_MODES = ("auto", "button")
MEASURE_PARAMS = ("batch_size",)

__all__ = ["ACTION", "Explorer", "LATENCY_MODES", "MEASURE_PARAMS", "PLACEHOLDER", "RETIME_LOAD", "RETIME_RATIO",
           "RUN_MODES", "model_explorer", "pareto_front"]


@dataclass
class _Point:
    params: dict                               # control values, plus "action" for action results
    measurement: Measurement
    baseline_latency: Latency | None = None    # baseline timed in the same interleaved run
    full: bool = False                         # latency measured with the full repeat count


class Explorer(TimingMixin):
    """Widgets that re-measure a compressed model whenever a control moves."""

    def __init__(self, compress: Callable[..., nn.Module], controls: Mapping, *, baseline: nn.Module, data,
                 encoding: Encoding | Callable[[dict], Encoding] = "fp32", x: str | None = None,
                 run: str = "auto", actions: Mapping[str, Callable[..., nn.Module]] | None = None,
                 latency: str = "quick", batch_size: int = 32, budget_s: float = 0.1,
                 split: str = "test", title: str = "", log_x: bool = False, threads: int | None = 1,
                 **encoding_options):
        if not callable(compress):
            raise ValueError("compress must be a function (model, **params) -> model")
        if not controls:
            raise ValueError("controls must name at least one control")
        check_choice("run", run, RUN_MODES)
        check_choice("latency", latency, LATENCY_MODES)
        check_int("batch_size", batch_size, 1)
        check_number("budget_s", budget_s, 0.0, 10.0, low_inclusive=False)
        if threads is not None:
            check_int("threads", threads, 1, 1024)
        self.threads = threads                     # for timing only (None: the session's setting)
        self.compress, self.data, self.split = compress, data, split
        self.encoding, self.encoding_options = encoding, encoding_options
        self.run_mode, self.latency_mode = run, latency
        self.default_batch, self.budget_s = batch_size, budget_s
        self.actions = dict(actions or {})
        self.baseline = baseline.eval()
        self.x = x or next((n for n, c in controls.items() if isinstance(c, Slider)), next(iter(controls)))
        check_choice("x", self.x, controls, what="control")
        self.controls = {name: spec.build(name) for name, spec in controls.items()}
        self._points: dict[tuple, _Point] = {}
        self._current: tuple | None = None
        self._macs: dict[tuple, int] = {}
        self._statics: dict[tuple, Measurement] = {}          # latency-independent part, per setting
        self._models: dict[tuple, nn.Module] = {}             # the few most recent compressed models
        self._series: dict[tuple, int] = {}
        self._base_timings: dict[int, list[Latency]] = {}     # the baseline's timings, per batch size
        self._suspend = False
        self.errors: list[BaseException] = []        # what callbacks raised, newest last
        self.timings: list[float] = []               # seconds each measured update took
        self.monitor = TrainingMonitor("training")
        self.status = message_box()
        self.table = widgets.HTML()
        self.figure = self._make_figure(title, log_x)
        self.base_point = _Point(self.params, measure_static(self.baseline, data, encoding="fp32", split=split))
        self.controls_box = widgets.VBox(list(self.controls.values()) + [self._buttons()],
                                         layout=widgets.Layout(flex="0 0 auto"))
        self.panel = widgets.VBox([
            widgets.HBox([self.controls_box, self.table], layout=panel_layout()),
            self.status, self.monitor.widget, self.figure])
        for w in self.controls.values():
            w.observe(self._on_change, names="value")
        if run == "auto":
            if latency == "quick":                          # the baseline's first figure: timed well, once
                self._guarded(self._time_baseline, self._batch(self.params))
            self._guarded(self.update)
        else:
            self.table.value = self._table_html(self.base_point)
            self.status.value = "press <b>run</b> to train and measure this setting"
            draw_hints(self)

    # ------------------------------------------------------------------ public state
    @property
    def params(self) -> dict:
        """The current control values."""
        return {name: w.value for name, w in self.controls.items()}

    @property
    def current(self) -> Measurement:
        """The measurement shown in the panel (the latest setting measured)."""
        if self._current is None:
            raise RuntimeError("nothing measured yet: press run (or call .update())")
        return self._points[self._current].measurement

    @property
    def model(self) -> nn.Module:
        """The compressed model for the current control values (compressed again if needed)."""
        return self._model_for(self.params)

    def set(self, **params) -> Measurement:
        """Move several controls at once, measure once, and return the measurement."""
        for name in params:
            check_choice("params", name, self.controls, what="control")
        self._suspend = True
        try:
            for name, value in params.items():
                self.controls[name].value = value
        finally:
            self._suspend = False
        self._guarded(self.update)
        if self.errors and self._current != self._key(self.params):
            raise self.errors[-1]
        return self.current

    def history(self) -> pd.DataFrame:
        """Every setting measured so far, one row each (the baseline excluded)."""
        rows = []
        for p in self._points.values():
            m = p.measurement
            rows.append({**p.params, "accuracy": m.accuracy, "size_bytes": m.size_bytes, "encoding": m.encoding,
                         "nonzeros": m.nonzeros, "macs": m.macs, "latency_ms": m.latency_ms(self._batch(p.params))})
        return pd.DataFrame(rows)

    def reset(self) -> None:
        """Forget every measured setting (the plots empty; the baseline stays)."""
        self._points.clear()
        self._current = None
        self._statics.clear()
        self._models.clear()
        with self.figure.batch_update():
            for i, trace in enumerate(self.figure.data):
                if i >= 4:
                    trace.x, trace.y = [], []
            draw_hints(self)
        self.table.value = self._table_html(self.base_point)
        if self.run_mode == "auto":
            self._guarded(self.update)

    # ------------------------------------------------------------------ measuring
    def update(self) -> Measurement | None:
        """Measure the current setting (or take it from the cache) and redraw."""
        if self._suspend:
            return None
        start = time.perf_counter()
        params = self.params
        key = self._key(params)
        if key not in self._points:
            self.status.value = "measuring…"
            self._points[key] = self._measure(self._model_for(params), params)
        self._show(key)
        self.timings.append(time.perf_counter() - start)
        return self.current

    def apply(self, action: str) -> Measurement:
        """Apply an action (e.g. fine-tuning) to the current model and measure the result."""
        check_choice("action", action, self.actions, what="action")
        params = {**self.params, ACTION: action}
        key = self._key(params)
        if key not in self._points:
            self.status.value = f"{action}…"
            fn = self.actions[action]
            model = fn(deep_copy(self.model), **self._monitor_kw(fn))
            if not isinstance(model, nn.Module):
                raise TypeError(f"action {action!r} must return an nn.Module, got {type(model).__name__}")
            self._points[key] = self._measure(model.eval(), params)
        self._show(key)
        return self.current

    def measure_latency(self) -> Measurement:
        """Time the current setting with the full repeat count (the button does this)."""
        if self.latency_mode == "off":
            raise RuntimeError("latency is off for this explorer")
        key = self._key(self.params)
        if key not in self._points:
            raise RuntimeError("measure this setting first (press run)")
        self.status.value = "timing…"
        point = self._points[key]
        lat, base = self._time(self.model, point.params, full=True)
        self._base_timings.setdefault(self._batch(point.params), []).append(base)
        self._points[key] = replace(point, measurement=_with(point.measurement, {self._batch(point.params): lat}),
                                    baseline_latency=base, full=True)
        self._show(key)
        return self.current

    def _key(self, params: Mapping) -> tuple:
        return tuple(sorted((k, v) for k, v in params.items()))

    def _batch(self, params: Mapping) -> int:
        return int(params.get("batch_size", self.default_batch))

    def _monitor_kw(self, fn: Callable) -> dict:
        return {"monitor": self.monitor} if "monitor" in inspect.signature(fn).parameters else {}

    def _static_key(self, params: Mapping) -> tuple:
        """Settings that change the model (not the ones, like batch size, that only change timing)."""
        return self._key({k: v for k, v in params.items() if k not in MEASURE_PARAMS})

    def _model_for(self, params: dict) -> nn.Module:
        key = self._static_key(params)
        if key not in self._models:
            self._models[key] = self._compress(params)
            while len(self._models) > 8:                    # keep memory bounded
                self._models.pop(next(iter(self._models)))
        return self._models[key]

    def _compress(self, params: dict) -> nn.Module:
        accepted = inspect.signature(self.compress).parameters
        args = {k: v for k, v in params.items() if k in accepted or k not in MEASURE_PARAMS}
        model = self.compress(deep_copy(self.baseline), **args, **self._monitor_kw(self.compress))
        if not isinstance(model, nn.Module):
            raise TypeError(f"compress must return an nn.Module, got {type(model).__name__}")
        return model.eval()

    def _measure(self, model: nn.Module, params: dict) -> _Point:
        static_key = self._static_key(params)          # includes the action, if any
        if static_key not in self._statics:
            signature = tuple((n, tuple(p.shape)) for n, p in model.named_parameters())
            if signature not in self._macs:
                self._macs[signature] = count_macs(model, self.data.input_shape)
            encoding = self.encoding(params) if callable(self.encoding) else self.encoding
            self._statics[static_key] = measure_static(model, self.data, encoding=encoding, split=self.split,
                                                       macs=self._macs[signature], **self.encoding_options)
        m = self._statics[static_key]
        if self.latency_mode != "quick":
            return _Point(params, m)
        self.table.value = table_html(self, _Point(params, m), timing=True)   # accuracy, size, MACs now
        lat, base = self._time(model, params, full=False)
        self._base_timings.setdefault(self._batch(params), []).append(base)
        point = _Point(params, _with(m, {self._batch(params): lat}), base)
        if (self.load_factor(point) or 1.0) > RETIME_LOAD:
            point = self._retime(model, point)             # the whole timing was hit: once more
        return self._check_batch_trend(model, point)

    # ------------------------------------------------------------------ callbacks
    def _on_change(self, change) -> None:
        if self._suspend:
            return
        if self.run_mode == "auto":
            self._guarded(self.update)
        elif self._key(self.params) in self._points:
            self._guarded(self.update)                 # already measured: show it
        else:
            self.status.value = "settings changed: press <b>run</b> to train and measure them"

    def _guarded(self, fn: Callable, *args) -> None:
        """Run a callback; show its exception in the panel instead of losing it."""
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001 - a widget callback must not die
            self.errors.append(err)
            self.status.value = error_html(err)

    def _buttons(self) -> widgets.HBox:
        buttons = []
        if self.run_mode == "button":
            run = widgets.Button(description="run", button_style="primary", icon="play")
            run.on_click(lambda _: self._guarded(self.update))
            buttons.append(run)
        for name in self.actions:
            b = widgets.Button(description=name, icon="magic", tooltip=f"{name} the current model")
            b.on_click(lambda _, n=name: self._guarded(self.apply, n))
            buttons.append(b)
        timing = widgets.Button(description="measure latency", icon="clock-o", disabled=self.latency_mode == "off",
                                tooltip="time the current setting with 30 interleaved runs")
        timing.on_click(lambda _: self._guarded(self.measure_latency))
        reset = widgets.Button(description="reset", icon="trash", tooltip="forget every measured setting")
        reset.on_click(lambda _: self._guarded(self.reset))
        for b in [*buttons, timing, reset]:
            b.layout.width = "auto"
        return widgets.HBox(buttons + [timing, reset], layout=panel_layout(width="420px"))

    # ------------------------------------------------------------------ drawing
    def _make_figure(self, title: str, log_x: bool):
        return make_figure(self.x, title, log_x)

    def _series_key(self, params: Mapping) -> tuple:
        return tuple((k, v) for k, v in sorted(params.items()) if k != self.x)

    def _show(self, key: tuple) -> None:
        self._current = key
        self._redraw(self._points[key])
        self.status.value = ""

    def _redraw(self, point: _Point) -> None:
        redraw(self, point)

    def _table_html(self, point: _Point) -> str:
        return table_html(self, point)

    def _repr_mimebundle_(self, **kwargs):
        return panel_bundle(self.panel, PLACEHOLDER, **kwargs)


def _with(m: Measurement, latency: dict) -> Measurement:
    return replace(m, latency={**m.latency, **latency})


from .model_explorer import model_explorer  # noqa: E402  (builds on Explorer: imported last)
