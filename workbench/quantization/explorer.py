"""The quantization explorer: bits, granularity and calibration -> accuracy, size, histogram.

    >>> ex = make_explorer(model="lenet5")                       # doctest: +SKIP
    >>> ex.controls["weight_bits"].value = 2                      # doctest: +SKIP
    >>> ex.current.accuracy, ex.current.size_bytes                # doctest: +SKIP

The panel holds the workbench :class:`~workbench.explorer.Explorer` (controls, the
current row of the report table, live accuracy / size / latency plots, Pareto
plot), a weight histogram of one layer with the quantization levels overlaid, and
a comparison of fp32 / fake-quant / real int8 latency and size, measured when the
"compare" button is pressed (or :meth:`QuantExplorer.compare` is called).

Size is the ``packed`` encoding: the integer codes at their bit width, decoded
back before the accuracy is measured. Latency is timed on demand: a
fake-quantized model computes in floats, so it is never faster than fp32.
"""

from __future__ import annotations

from collections import OrderedDict

import ipywidgets as widgets
import numpy as np
import torch
from torch import nn

from .. import data as data_mod
from ..baselines import get_baseline
from ..explorer import Explorer
from ..report import Report
from ..weights import effective_state_dict
from ..widgets import Dropdown, Slider, built_on_first_use, error_html, message_box, panel_bundle, panel_layout, panel_text
from . import packing  # noqa: F401  (registers the "packed" encoding)
from .affine import GRANULARITIES
from .calibration import CALIBRATIONS, collect_inputs, quantizable_layers
from .fake import BITS, FLOAT_BITS, quantize_model, weight_levels
from .real import compare

CONTROLS = ("weight_bits", "activation_bits", "granularity", "calibration")
_CACHE = 48    # compressed models kept for the histogram (moving back is instant)


class QuantExplorer:
    """The explorer panel of notebook 04 (build it with :func:`make_explorer`)."""

    def __init__(self, baseline: nn.Module, data, *, calibration_X: torch.Tensor, title: str = ""):
        self.baseline, self.data, self.calibration_X = baseline.eval(), data, calibration_X
        self._models: OrderedDict[tuple, nn.Module] = OrderedDict()
        self._inputs = collect_inputs(self.baseline, calibration_X)   # the float inputs: the same for every setting
        self._suspend = False
        controls = {
            "weight_bits": Slider(options=list(BITS), value=8, description="weight bits"),
            "activation_bits": Slider(options=list(BITS), value=8, description="activation bits"),
            "granularity": Dropdown(list(GRANULARITIES), value="per-channel"),
            "calibration": Dropdown(list(CALIBRATIONS), value="minmax"),
        }
        self.explorer = Explorer(self._compress, controls, baseline=self.baseline, data=data, encoding="packed",
                                 latency="button", title=title or "quantization")
        layers = list(quantizable_layers(self.baseline))
        self.layer = widgets.Dropdown(options=layers, value=layers[min(1, len(layers) - 1)],
                                      description="histogram of", layout=widgets.Layout(width="300px"))
        self.histogram = self._make_histogram()
        self.comparison = widgets.HTML("<small>press <b>compare</b> to time fp32, this fake-quant setting and "
                                       "PyTorch's real int8 model side by side (batch 32)</small>")
        self.compare_status = message_box()
        button = widgets.Button(description="compare", icon="balance-scale",
                                tooltip="time fp32 / fake-quant / real int8 (a few seconds)")
        button.on_click(lambda _: self._guarded(self.compare))
        self._comparison_figure = None      # built on the first comparison (see ``comparison_figure``)
        self._comparison_box = widgets.HBox([self.comparison], layout=panel_layout())
        for w in self.controls.values():
            w.observe(self._on_change, names="value")
        self.layer.observe(self._on_change, names="value")
        self._guarded(self.redraw_histogram)
        self.panel = widgets.VBox([
            self.explorer.panel,
            widgets.HBox([self.layer]), self.histogram,
            widgets.HBox([button, self.compare_status]),
            self._comparison_box,
        ])

    # ------------------------------------------------------------------ state
    @property
    def controls(self) -> dict:
        """The control widgets by name (setting ``.value`` re-measures, as moving them does)."""
        return self.explorer.controls

    @property
    def current(self):
        """The measurement of the current setting."""
        return self.explorer.current

    @property
    def errors(self) -> list[BaseException]:
        return self.explorer.errors

    @property
    def model(self) -> nn.Module:
        """The fake-quantized model of the current setting."""
        return self._model(self.explorer.params)

    def set(self, **params):
        """Move several controls at once, measure once; returns the measurement."""
        self._suspend = True
        try:
            m = self.explorer.set(**params)
        finally:
            self._suspend = False
        self._guarded(self.redraw_histogram)
        return m

    # ------------------------------------------------------------------ compressing
    @staticmethod
    def _key(params: dict) -> tuple:
        return tuple(params[k] for k in CONTROLS)

    def _compress(self, model: nn.Module, weight_bits: int, activation_bits: int, granularity: str,
                  calibration: str) -> nn.Module:
        params = dict(weight_bits=weight_bits, activation_bits=activation_bits, granularity=granularity,
                      calibration=calibration)
        key = self._key(params)
        if key not in self._models:
            # weights rounded once (freeze), not on every forward pass as a parametrization would
            self._models[key] = quantize_model(model, calibration_inputs=self._inputs, freeze=True, **params).eval()
            if len(self._models) > _CACHE:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return self._models[key]

    def _model(self, params: dict) -> nn.Module:
        from ..weights import deep_copy

        key = self._key(params)
        if key not in self._models:
            self._compress(deep_copy(self.baseline), **{k: params[k] for k in CONTROLS})
        return self._models[key]

    # ------------------------------------------------------------------ histogram
    def _make_histogram(self):
        import plotly.graph_objects as go

        fig = go.Figure()
        fig.add_trace(go.Bar(x=[], y=[], name="float weights", marker_color="lightgrey", width=None))
        fig.add_trace(go.Bar(x=[], y=[], name="quantized weights", marker_color="crimson", opacity=0.75))
        fig.add_trace(go.Scatter(x=[], y=[], mode="markers", name="levels",
                                 marker=dict(symbol="line-ns-open", size=14, color="black")))
        fig.update_layout(height=300, autosize=True, barmode="overlay", bargap=0, yaxis_type="log",
                          margin=dict(l=40, r=20, t=50, b=40), xaxis_title="weight value",
                          yaxis_title="count", legend=dict(orientation="h", y=1.12), title_font_size=13)
        return go.FigureWidget(fig)

    def histogram_data(self) -> dict:
        """What the histogram shows: float and quantized counts, levels, and a title."""
        params = self.explorer.params
        name = self.layer.value
        w = effective_state_dict(self.baseline)[f"{name}.weight"]
        wq = effective_state_dict(self._model(params))[f"{name}.weight"]
        edges = np.linspace(float(w.min()), float(w.max()), 161)
        edges[-1] += 1e-9
        centers = (edges[:-1] + edges[1:]) / 2
        float_counts, _ = np.histogram(w.numpy().ravel(), bins=edges)
        q_edges = np.linspace(float(wq.min()), float(wq.max()) + 1e-9, 321) if wq.numel() else edges
        q_counts, _ = np.histogram(wq.numpy().ravel(), bins=q_edges)
        keep = q_counts > 0
        bits, gran = params["weight_bits"], params["granularity"]
        channel = int(w.reshape(w.shape[0], -1).abs().amax(dim=1).argmax()) if gran == "per-channel" else None
        lv = weight_levels(w, bits, granularity=gran, calibration=params["calibration"], channel=channel)
        distinct = int(torch.unique(wq).numel())
        where = f", levels of channel {channel} (its widest)" if channel is not None else ""
        if bits == FLOAT_BITS:
            title = f"{name}.weight in fp32: {distinct:,} distinct values"
        elif lv is None:
            title = f"{name}.weight, {bits}-bit {gran}: {distinct:,} distinct values (levels too dense to draw)"
        else:
            title = f"{name}.weight, {bits}-bit {gran}, {params['calibration']}: {len(lv)} levels{where}"
        return {"centers": centers, "float_counts": float_counts, "q_centers": (q_edges[:-1] + q_edges[1:])[keep] / 2,
                "q_counts": q_counts[keep], "levels": [] if lv is None else lv.tolist(), "title": title,
                "distinct": distinct}

    def redraw_histogram(self) -> None:
        h = self.histogram_data()
        fig = self.histogram
        with fig.batch_update():
            fig.data[0].x, fig.data[0].y = h["centers"].tolist(), h["float_counts"].tolist()
            fig.data[1].x, fig.data[1].y = h["q_centers"].tolist(), h["q_counts"].tolist()
            fig.data[1].width = float(h["centers"][1] - h["centers"][0]) if len(h["centers"]) > 1 else None
            fig.data[2].x, fig.data[2].y = h["levels"], [0.8] * len(h["levels"])
            fig.layout.title.text = h["title"]          # keeps the smaller title font

    # ------------------------------------------------------------------ comparison
    @property
    def comparison_figure(self):
        """The comparison's bar charts, built on first use: every plotly figure costs the page about a second
        in the browser (its JavaScript is evaluated once per figure), and most moves never compare."""
        return built_on_first_use(self, "_comparison_figure", self._comparison_box, self._make_comparison_figure)

    def _make_comparison_figure(self):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=2, subplot_titles=("latency, batch 32 (ms)", "size on disk (kB)"))
        for col in (1, 2):
            fig.add_trace(go.Bar(x=[], y=[], marker_color=[], showlegend=False), row=1, col=col)
        fig.add_annotation(text="press <b>compare</b> to time fp32, fake-quant and int8", name="hint",
                           showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font=dict(color="#666"))
        fig.update_layout(height=260, width=560, margin=dict(l=40, r=20, t=40, b=40))
        return go.FigureWidget(fig)

    def compare(self, *, batch_size: int = 32, repeats: int = 30) -> Report:
        """Time fp32, fp32 channels-last, the current fake-quant model and real int8, interleaved."""
        self.compare_status.value = "timing…"
        rows = compare(self.baseline, self.data, fake=self.model, batch_sizes=(batch_size,), repeats=repeats)
        rep = Report(rows, "fp32")
        fmt = rep.formatted()
        cols = ["accuracy", "Δ acc", "size", "size ratio", f"latency b{batch_size}", f"speedup b{batch_size}"]
        p = self.explorer.params
        note = (f"fake-quant = weights {p['weight_bits']} bits, activations {p['activation_bits']} bits "
                f"(floats on a grid: no faster, and saved as floats). int8 = PyTorch's kernels, 8 bits only.")
        self.comparison.value = fmt[cols].to_html(border=0) + f"<small>{rep.caption()}<br>{note}</small>"
        colors = {"fp32": "grey", "fp32 channels-last": "darkgrey", "fake-quant": "crimson", "int8 eager": "seagreen"}
        names = list(rows)
        with self.comparison_figure.batch_update():
            lat, size = self.comparison_figure.data
            lat.x, lat.y = names, [rows[n].latency_ms(batch_size) for n in names]
            size.x, size.y = names, [rows[n].size_bytes / 1e3 for n in names]
            lat.marker.color = size.marker.color = [colors.get(n, "steelblue") for n in names]
            for ann in self.comparison_figure.layout.annotations:
                if ann.name == "hint":
                    ann.visible = False
        self.compare_status.value = ""
        return rep

    # ------------------------------------------------------------------ callbacks
    def _on_change(self, change) -> None:
        if not self._suspend:
            self._guarded(self.redraw_histogram)

    def _guarded(self, fn) -> None:
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - a widget callback must not die
            self.explorer.errors.append(err)
            self.compare_status.value = error_html(err)

    def _repr_mimebundle_(self, **kwargs):
        return panel_bundle(self.panel, panel_text("Quantization explorer"), **kwargs)


def make_explorer(data=None, model: str = "lenet5", *, calibration_examples: int = 500) -> QuantExplorer:
    """The notebook's explorer: weight/activation bits, granularity and calibration of a baseline.

    ``data`` defaults to the embedded digits; activation ranges are calibrated on the
    first ``calibration_examples`` VAL examples; accuracy is on the test split.
    """
    from .._checks import check_int

    check_int("calibration_examples", calibration_examples, 1)
    data = data if data is not None else data_mod.load("digits")
    baseline = get_baseline(model)
    return QuantExplorer(baseline, data, calibration_X=data.X_val[:calibration_examples],
                         title=f"quantizing {model}: accuracy, packed size, latency")
