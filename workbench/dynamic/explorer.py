"""The dynamic-computation explorer: exit thresholds and width, answered from precomputed logits.

Every exit's logits at every width are computed once on the test digits, so a
threshold move is a few tensor comparisons (accuracy, fraction per exit, average
MACs, the gallery). The latency is measured for real: a small fixed sample of
test digits goes through the physically narrowed network one at a time, with
real exits, interleaved with the full network; each setting is timed once and
cached::

    >>> from workbench import data
    >>> ds = data.load("digits")
    >>> lab = DynamicExplorer(EarlyExitNet(channels=(4, 8, 8)), ds, sample=4)
    >>> lab.set(threshold_1=float("inf"))["fractions"][0]
    1.0
"""

from __future__ import annotations

import html
import math
import time

import ipywidgets as widgets
import torch

from .._checks import check_choice, check_int, checked
from ..report import format_count
from ..widgets import Dropdown, Slider, error_html, message_box, panel_bundle
from .exits import RULES, check_thresholds, outcome
from .network import EarlyExitModel, EarlyExitNet, ExitPath, exit_macs
from .pictures import exit_examples, montage
from .timing import per_example_latency
from .training import exit_logits

THRESHOLDS = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, math.inf)
PER_EXIT = 8                                         # gallery digits per exit


@checked
class DynamicExplorer:
    """Sliders for each early exit's threshold and a width dropdown over a trained :class:`EarlyExitNet`."""

    def __init__(self, net: EarlyExitNet, data, *, rule: str = "entropy", sample: int = 24, rounds: int = 3,
                 threads: int | None = 1, thresholds: tuple = THRESHOLDS, value: float = 0.1):
        check_int("sample", sample, 1, len(data.y_test))
        check_choice("rule", rule, RULES, what="exit rule")
        check_choice("value", value, thresholds, what="threshold")
        self._suspend = False
        self.net, self.data, self.rule, self.rounds, self.threads = net.eval(), data, rule, rounds, threads
        self.score = RULES[rule]
        self.y = data.y_test
        self.logits = {w: exit_logits(net, data.X_test, w) for w in net.widths}
        self.costs = {w: exit_macs(net, w) for w in net.widths}
        self.scores = {w: [self.score(lg) for lg in lgs] for w, lgs in self.logits.items()}   # uncertainty, once
        self.full_accuracy = {w: float((lgs[-1].argmax(1) == self.y).float().mean()) for w, lgs in self.logits.items()}
        self.nets = {w: net.at_width(w) for w in net.widths}               # physically narrowed copies
        self.sample = data.X_test[:sample]
        self.images = data.denormalize(data.X_test)[:, 0]
        self._latency: dict[tuple, dict] = {}
        self.errors: list[BaseException] = []
        self.timings: list[float] = []
        self.controls = {f"threshold_{k + 1}": Slider(options=list(thresholds), value=value,
                                                      description=f"exit {k + 1} <").build(f"threshold_{k + 1}")
                         for k in range(net.num_exits - 1)}
        self.controls["width"] = Dropdown(list(net.widths), value=1.0).build("width")
        self.status, self.table = message_box(), widgets.HTML()
        self.curve, self.gallery = self._make_curve(thresholds), self._make_gallery()
        self.panel = widgets.VBox([widgets.HBox([widgets.VBox(list(self.controls.values())), self.table]),
                                   self.status, widgets.HBox([self.curve, self.gallery])])
        for w in self.controls.values():
            w.observe(self._on_change, names="value")
        self.state = self.update()

    # ------------------------------------------------------------------ state
    @property
    def params(self) -> dict:
        return {name: w.value for name, w in self.controls.items()}

    def thresholds(self) -> tuple[float, ...]:
        return check_thresholds([self.controls[f"threshold_{k + 1}"].value for k in range(self.net.num_exits - 1)],
                                self.net.num_exits)

    def set(self, **params) -> dict:
        """Move several controls, update once, and return the state shown."""
        for name in params:
            if name not in self.controls:
                raise ValueError(f"unknown control {name!r}; params must be among: {', '.join(self.controls)}")
        self._suspend = True
        try:
            for name, value in params.items():
                self.controls[name].value = value
        finally:
            self._suspend = False
        self.state = self.update()
        return self.state

    def latency(self, width: float, thresholds: tuple[float, ...]) -> dict:
        """Batch-1 mean latency per example of the full network and the early-exit one (cached per setting)."""
        key = (width, thresholds)
        if key not in self._latency:
            net = self.nets[width]
            self._latency[key] = per_example_latency(
                {"full": ExitPath(net), "early exit": EarlyExitModel(net, thresholds, self.rule)}, self.sample,
                rounds=self.rounds, threads=self.threads)
        return self._latency[key]

    # ------------------------------------------------------------------ updating
    def _on_change(self, change) -> None:
        if self._suspend:
            return
        try:
            self.state = self.update()
        except Exception as err:  # noqa: BLE001 - a widget callback must not die; show it in the panel
            self.errors.append(err)
            self.status.value = error_html(err)

    def update(self) -> dict:
        """Recompute the outcome of the current setting and redraw the panel."""
        start = time.perf_counter()
        width, thresholds = self.controls["width"].value, self.thresholds()
        logits, costs = self.logits[width], self.costs[width]
        o = outcome(logits, self.y, thresholds, costs, self.rule, scores=self.scores[width])
        full_acc = self.full_accuracy[width]
        lat = self.latency(width, thresholds)
        state = dict(width=width, thresholds=thresholds, accuracy=o["accuracy"], full_accuracy=full_acc,
                     fractions=o["fractions"], macs=o["macs"], full_macs=costs[-1],
                     latency_ms=lat["early exit"].median_ms, full_latency_ms=lat["full"].median_ms)
        self.table.value = self._table_html(state)
        self._draw(state, o["chosen"])
        self.status.value = ""
        self.timings.append(time.perf_counter() - start)
        return state

    def _table_html(self, s: dict) -> str:
        fr = " · ".join(f"exit {k + 1}: {100 * f:.1f}%" for k, f in enumerate(s["fractions"]))
        speed = s["full_latency_ms"] / s["latency_ms"]
        rows = [("accuracy", f"{100 * s['accuracy']:.2f}% (full network {100 * s['full_accuracy']:.2f}%)"),
                ("leaving at", fr),
                ("average MACs", f"{format_count(s['macs'])} (full {format_count(s['full_macs'])}, "
                                 f"{s['full_macs'] / s['macs']:.2f}× fewer)"),
                ("latency, batch 1", f"{s['latency_ms']:.3f} ms per example (full {s['full_latency_ms']:.3f} ms, "
                                     f"{speed:.2f}× {'faster' if speed >= 1 else 'slower'})")]
        body = "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in rows)
        note = (f"<small>test digits ({len(self.y):,}); latency: median of {self.rounds} interleaved passes over "
                f"{len(self.sample)} digits, one at a time, real exits, {self.threads or torch.get_num_threads()} "
                f"thread(s)</small>")
        return f"<table>{body}</table>{note}"

    # ------------------------------------------------------------------ pictures
    def _make_curve(self, thresholds):
        import plotly.graph_objects as go

        fig = go.Figure()
        for w in self.net.widths:
            pts = [outcome(self.logits[w], self.y, t, self.costs[w], self.rule, scores=self.scores[w])
                   for t in thresholds]
            fig.add_trace(go.Scatter(x=[p["macs"] for p in pts], y=[p["accuracy"] for p in pts],
                                     mode="lines+markers", marker_size=4, name=f"width {w:g}",
                                     hovertemplate="%{x:.3s} MACs, accuracy %{y:.3f}<extra></extra>"))
        fig.add_trace(go.Scatter(x=[], y=[], mode="markers", name="current", marker=dict(size=13, symbol="star",
                                                                                           color="crimson")))
        fig.update_xaxes(type="log", title_text="average MACs per example")
        fig.update_yaxes(title_text="test accuracy")
        fig.update_layout(width=450, height=330, margin=dict(l=50, r=10, t=40, b=40),
                          title="one threshold for every exit, per width",
                          legend=dict(x=0.98, y=0.02, xanchor="right", yanchor="bottom"))
        return go.FigureWidget(fig)

    def _make_gallery(self):
        import plotly.graph_objects as go

        exits = self.net.num_exits
        fig = go.Figure(go.Heatmap(z=[[0.0]], colorscale="Greys", showscale=False, hoverinfo="skip", zmin=0, zmax=1))
        fig.update_yaxes(autorange="reversed", tickvals=[k * 30 + 14 for k in range(exits)],
                         ticktext=[f"exit {k + 1}" for k in range(exits)], scaleanchor="x")
        fig.update_xaxes(visible=False)
        fig.update_layout(width=430, height=330, margin=dict(l=60, r=10, t=40, b=10),
                          title="the first test digits leaving at each exit")
        return go.FigureWidget(fig)

    def _draw(self, s: dict, chosen) -> None:
        rows = exit_examples(chosen, self.net.num_exits, PER_EXIT)
        z = montage(self.images, rows, PER_EXIT)
        with self.curve.batch_update():
            self.curve.data[-1].x, self.curve.data[-1].y = [s["macs"]], [s["accuracy"]]
        with self.gallery.batch_update():
            self.gallery.data[0].z = z.numpy().round(2)            # numpy: plotly skips per-value checks

    def _repr_mimebundle_(self, **kwargs):
        return panel_bundle(self.panel, f"DynamicExplorer({', '.join(self.controls)})", **kwargs)


@checked
def make_explorer(net: EarlyExitNet, data, **kwargs) -> DynamicExplorer:
    """The notebook's explorer over a trained early-exit network (see :class:`DynamicExplorer`)."""
    if not isinstance(net, EarlyExitNet):
        raise ValueError(f"net must be an EarlyExitNet, got {type(net).__name__}")
    return DynamicExplorer(net, data, **kwargs)
