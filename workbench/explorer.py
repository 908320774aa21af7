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
- Latency is timed within a small budget, interleaved with the baseline, or on
  demand with the "measure latency" button (30 runs).
- ``run="button"`` is for settings that train (distillation, say): moving a
  control does nothing until "run" is pressed; a compression function that takes
  a ``monitor`` argument gets the panel's :class:`TrainingMonitor` to pass to
  ``train``. Results accumulate across runs until "reset".
- ``actions`` add buttons that transform the current model (e.g. fine-tune it);
  their results join the plots as a series of their own.
- An exception raised in a callback appears in the panel, which keeps working.
- A control named ``batch_size`` sets the latency batch instead of being passed
  to the compression function.
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
from .latency import Latency, compare_latency
from .measure import Encoding, Measurement, measure_static
from .metrics import count_macs
from .report import Report
from .weights import deep_copy
from .widgets import Slider, TrainingMonitor, error_html, message_box

LATENCY_MODES = ("quick", "button", "off")
RUN_MODES = ("auto", "button")
MEASURE_PARAMS = ("batch_size",)
ACTION = "action"


@dataclass
class _Point:
    params: dict                               # control values, plus "action" for action results
    measurement: Measurement
    baseline_latency: Latency | None = None    # baseline timed in the same interleaved run
    full: bool = False                         # latency measured with the full repeat count


class Explorer:
    """Widgets that re-measure a compressed model whenever a control moves."""

    def __init__(self, compress: Callable[..., nn.Module], controls: Mapping, *, baseline: nn.Module, data,
                 encoding: Encoding | Callable[[dict], Encoding] = "fp32", x: str | None = None,
                 run: str = "auto", actions: Mapping[str, Callable[..., nn.Module]] | None = None,
                 latency: str = "quick", batch_size: int = 32, budget_s: float = 0.1,
                 split: str = "test", title: str = "", log_x: bool = False, **encoding_options):
        if not callable(compress):
            raise ValueError("compress must be a function (model, **params) -> model")
        if not controls:
            raise ValueError("controls must name at least one control")
        check_choice("run", run, RUN_MODES)
        check_choice("latency", latency, LATENCY_MODES)
        check_int("batch_size", batch_size, 1)
        check_number("budget_s", budget_s, 0.0, 10.0, low_inclusive=False)
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
        self._suspend = False
        self.errors: list[BaseException] = []        # what callbacks raised, newest last
        self.timings: list[float] = []               # seconds each measured update took
        self.monitor = TrainingMonitor("training")
        self.status = message_box()
        self.table = widgets.HTML()
        self.figure = self._make_figure(title, log_x)
        self.base_point = _Point(self.params, measure_static(self.baseline, data, encoding="fp32", split=split))
        self.panel = widgets.VBox([
            widgets.HBox([widgets.VBox(list(self.controls.values()) + [self._buttons()]), self.table]),
            self.status, self.monitor.widget, self.figure])
        for w in self.controls.values():
            w.observe(self._on_change, names="value")
        if run == "auto":
            self._guarded(self.update)
        else:
            self.table.value = self._table_html(self.base_point)
            self.status.value = "press <b>run</b> to train and measure this setting"

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
        lat, base = self._time(model, params, full=False)
        return _Point(params, _with(m, {self._batch(params): lat}), base)

    def _time(self, model: nn.Module, params: dict, *, full: bool) -> tuple[Latency, Latency]:
        kw = dict(repeats=30, warmup=5) if full else dict(repeats=20, warmup=1, budget_s=self.budget_s)
        out = compare_latency({"baseline": self.baseline, "model": model}, self.data.input_shape,
                              batch_size=self._batch(params), **kw)
        return out["model"], out["baseline"]

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
        return widgets.HBox(buttons + [timing, reset])

    # ------------------------------------------------------------------ drawing
    def _make_figure(self, title: str, log_x: bool):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=4, horizontal_spacing=0.07, subplot_titles=(
            "accuracy (%)", "size (kB)", "latency (ms)", "Pareto: accuracy vs size"))
        for col in (1, 2, 3):
            fig.update_xaxes(title_text=self.x, type="log" if log_x else None, row=1, col=col)
        fig.update_xaxes(title_text="size (kB)", type="log", row=1, col=4)
        fig.update_yaxes(title_text="accuracy (%)", row=1, col=4)
        # traces 0-2: baseline reference lines; 3: baseline point; 4-7: current point;
        # 8: every measured point; 9: Pareto front; then three traces per series
        ref = dict(mode="lines", line=dict(dash="dash", color="grey"), showlegend=False, hoverinfo="skip")
        for col in (1, 2, 3):
            fig.add_trace(go.Scatter(x=[], y=[], name="baseline", **ref), row=1, col=col)
        fig.add_trace(go.Scatter(x=[], y=[], mode="markers+text", text=["baseline"], textposition="top center",
                                 marker=dict(color="grey", size=9), showlegend=False), row=1, col=4)
        cur = dict(mode="markers", marker=dict(color="crimson", size=13, symbol="star"), showlegend=False)
        for col in (1, 2, 3, 4):
            fig.add_trace(go.Scatter(x=[], y=[], name="current", **cur), row=1, col=col)
        fig.add_trace(go.Scatter(x=[], y=[], mode="markers", marker=dict(color="steelblue", size=7, opacity=0.5),
                                 name="measured", showlegend=False, hovertext=[]), row=1, col=4)
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines", line=dict(color="steelblue", shape="hv"),
                                 name="Pareto front", showlegend=False), row=1, col=4)
        fig.update_layout(title=title or None, height=340, autosize=True, margin=dict(l=40, r=20, t=60, b=40),
                          legend=dict(orientation="h", y=-0.3))
        return go.FigureWidget(fig)

    def _series_key(self, params: Mapping) -> tuple:
        return tuple((k, v) for k, v in sorted(params.items()) if k != self.x)

    def _show(self, key: tuple) -> None:
        self._current = key
        self._redraw(self._points[key])
        self.status.value = ""

    def _redraw(self, point: _Point) -> None:
        import plotly.graph_objects as go

        fig = self.figure
        pts = list(self._points.values())
        series_key = self._series_key(point.params)
        if series_key not in self._series:
            label = ", ".join(f"{k}={v}" for k, v in series_key) or "measured"
            first = len(fig.data)
            for col in (1, 2, 3):
                fig.add_trace(go.Scatter(x=[], y=[], mode="lines+markers", name=label,
                                         legendgroup=label, showlegend=col == 1), row=1, col=col)
            self._series[series_key] = first
        with fig.batch_update():
            xs_all = [p.params[self.x] for p in pts]
            lo, hi = (min(xs_all), max(xs_all)) if _numeric(xs_all) else (None, None)
            base = self.base_point.measurement
            base_lat = [p.baseline_latency.median_ms for p in pts if p.baseline_latency is not None]
            refs = (100 * base.accuracy, base.size_bytes / 1e3, _median(base_lat))
            for i, value in enumerate(refs):
                if value is not None and lo is not None:
                    fig.data[i].x, fig.data[i].y = (lo, hi), (value, value)
            fig.data[3].x, fig.data[3].y = (base.size_bytes / 1e3,), (100 * base.accuracy,)
            for key, first in self._series.items():
                mine = sorted((p for p in pts if self._series_key(p.params) == key),
                              key=lambda p: _sort_key(p.params[self.x]))
                xs = [p.params[self.x] for p in mine]
                fig.data[first].x, fig.data[first].y = xs, [100 * p.measurement.accuracy for p in mine]
                fig.data[first + 1].x, fig.data[first + 1].y = xs, [p.measurement.size_bytes / 1e3 for p in mine]
                fig.data[first + 2].x = xs
                fig.data[first + 2].y = [p.measurement.latency_ms(self._batch(p.params)) for p in mine]
            m = point.measurement
            xv = point.params[self.x]
            fig.data[4].x, fig.data[4].y = (xv,), (100 * m.accuracy,)
            fig.data[5].x, fig.data[5].y = (xv,), (m.size_bytes / 1e3,)
            lat = m.latency_ms(self._batch(point.params))
            fig.data[6].x, fig.data[6].y = ((xv,), (lat,)) if lat is not None else ((), ())
            fig.data[7].x, fig.data[7].y = (m.size_bytes / 1e3,), (100 * m.accuracy,)
            fig.data[8].x = [p.measurement.size_bytes / 1e3 for p in pts]
            fig.data[8].y = [100 * p.measurement.accuracy for p in pts]
            fig.data[8].hovertext = [", ".join(f"{k}={v}" for k, v in p.params.items()) for p in pts]
            front = pareto_front([(p.measurement.size_bytes / 1e3, 100 * p.measurement.accuracy) for p in pts])
            fig.data[9].x, fig.data[9].y = [f[0] for f in front], [f[1] for f in front]
        self.table.value = self._table_html(point)

    def _table_html(self, point: _Point) -> str:
        base = self.base_point.measurement
        batch = self._batch(point.params)
        if point.baseline_latency is not None:
            base = _with(base, {batch: point.baseline_latency})
        label = "current" if point is not self.base_point else "(not run yet)"
        rep = Report({"baseline": base, label: point.measurement}, "baseline")
        cols = ["accuracy", "Δ acc", "non-zeros", "size", "encoding", "size ratio", "MACs", "MAC ratio"]
        fmt = rep.formatted()
        timed = [c for c in fmt.columns if c.startswith(("latency", "speedup"))]
        note = ("latency not timed" if not timed else
                "full timing, 30 runs" if point.full else "quick timing: press 'measure latency' for 30 runs")
        table = fmt[cols + timed].T.to_html(border=0, classes="wb-table")
        return (f'<style>.wb-table {{font-size:12.5px; border-collapse:collapse}} .wb-table td, .wb-table th '
                f'{{padding:1px 8px !important; line-height:1.25 !important}}</style>'
                f'<div style="margin-left:16px">{table}<div style="font-size:11px;line-height:1.3;'
                f'color:#555;max-width:520px">{rep.caption()}.<br>{note}.</div></div>')

    def _repr_mimebundle_(self, **kwargs):
        bundle = dict(self.panel._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = f"Explorer({', '.join(self.controls)})"
        return bundle


def _with(m: Measurement, latency: dict) -> Measurement:
    return replace(m, latency={**m.latency, **latency})


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _sort_key(v):
    return (0, v) if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, str(v))


def _median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else None


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both size (lower) and accuracy (higher), by size.

    >>> pareto_front([(1, 90), (2, 95), (3, 94), (0.5, 80)])
    [(0.5, 80), (1, 90), (2, 95)]
    """
    front, best = [], float("-inf")
    for size, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append((size, acc))
            best = acc
    return front


def model_explorer(data, names: list[str] | None = None, *, reference: str = "lenet5") -> Explorer:
    """Notebook 00's explorer: pick a baseline and a batch size; compare to ``reference``.

    No compression: the lesson is how latency grows with batch size, and that
    accuracy, size, MACs and latency rank the models differently.
    """
    from .baselines import get_baseline
    from .models import MODELS
    from .widgets import Dropdown

    names = list(names or MODELS)
    for n in names:
        check_choice("names", n, MODELS, what="model")
    zoo = {n: get_baseline(n, data.name) for n in names}

    def pick(model: nn.Module, name: str) -> nn.Module:
        return zoo[name]

    return Explorer(pick, {"batch_size": Slider(options=[1, 2, 4, 8, 16, 32, 64, 128], value=1),
                           "name": Dropdown(names, value=reference if reference in names else names[0])},
                    baseline=get_baseline(reference, data.name), data=data, title="model and batch size",
                    log_x=True)
