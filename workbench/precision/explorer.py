"""The precision explorer: bit patterns, loss scaling on real gradients, short autocast runs.

    >>> ex = make_explorer()                                  # doctest: +SKIP
    >>> ex.set(format="fp16", value=1e-6)["bits"]             # doctest: +SKIP
    >>> ex.set(log2_scale=12)                                 # doctest: +SKIP
    >>> ex.train(precision="fp16", scaling="dynamic")         # doctest: +SKIP

Three parts, one panel:

- **format** and **value**: the value's sign | exponent | mantissa in that format, what
  is stored, and the rounding error;
- **log2 scale** (with the same format): the gradients of a trained LeNet-5, recorded
  once in fp32, multiplied by ``2^k`` and stored in the format — histogram and the
  fractions that underflow to zero and overflow;
- **precision**, **scaling** and the **train** button: a short ``torch.autocast`` run
  from the same seed, with a progress bar; loss curves accumulate for comparison.

Moving a slider only computes (no training): the recorded gradient magnitudes are
sorted once, so each format and scale is a few binary searches (``FlushCounter``).
"""

from __future__ import annotations

import html
import math

import ipywidgets as widgets
import torch

from ..models import build
from ..widgets import error_html, message_box, panel_bundle
from .formats import FORMATS, bit_fields, get_format
from .gradients import FlushCounter, log2_histogram, record_gradients
from .training import PRECISIONS, SCALINGS, train_mixed

_COLORS = {"sign": "#c0392b", "exponent": "#1e8449", "mantissa": "#1f4e9c"}
_LOW, _HIGH = -56, 40                  # histogram range of log2 |g| (covers fp16 / fp8 and beyond)


class PrecisionExplorer:
    """The panel of notebook 08 (build it with :func:`make_explorer`)."""

    def __init__(self, data, gradients: dict[str, torch.Tensor], *, model: str = "lenet5", steps: int = 50):
        self.data, self.gradients, self.model_name, self.steps = data, gradients, model, steps
        self.errors: list[BaseException] = []
        self.runs: list = []                                   # MixedHistory of every run, in order
        self._fractions: dict[tuple, dict] = {}
        self._hist = {k: log2_histogram(g, low=_LOW, high=_HIGH) for k, g in gradients.items()}
        self._counters = {k: FlushCounter(g) for k, g in gradients.items()}
        style = {"description_width": "90px"}
        self.controls = {
            "format": widgets.Dropdown(options=list(FORMATS), value="fp16", description="format", style=style),
            "value": widgets.FloatLogSlider(value=0.1, base=10, min=-9, max=6, step=0.05, description="value",
                                            continuous_update=False, readout_format=".3g", style=style,
                                            layout=widgets.Layout(width="420px")),
            "log2_scale": widgets.IntSlider(value=0, min=0, max=32, description="log2 scale",
                                            continuous_update=False, style=style,
                                            layout=widgets.Layout(width="420px")),
            "precision": widgets.Dropdown(options=list(PRECISIONS), value="fp16", description="precision",
                                          style=style),
            "scaling": widgets.ToggleButtons(options=list(SCALINGS), value="none", description="scaling",
                                             style={"description_width": "90px", "button_width": "80px"}),
        }
        self.bits = widgets.HTML()
        self.fractions = widgets.HTML()
        self.status = message_box()
        self.progress = widgets.FloatProgress(value=0, min=0, max=1, layout=widgets.Layout(width="300px"))
        self.histogram = self._make_histogram()
        self.losses = self._make_loss_figure()
        train = widgets.Button(description="train", icon="play", button_style="primary",
                               tooltip=f"{steps} autocast steps of {model} from the same seed")
        train.on_click(lambda _: self._guarded(self.train))
        clear = widgets.Button(description="clear runs", icon="trash")
        clear.on_click(lambda _: self._guarded(self.clear_runs))
        c = self.controls
        self.panel = widgets.VBox([
            widgets.HTML("<b>1 · a number in a format</b>"), widgets.HBox([c["format"], c["value"]]), self.bits,
            widgets.HTML("<b>2 · loss scaling on recorded gradients</b> (the format above)"),
            widgets.HBox([c["log2_scale"], self.fractions]), self.histogram,
            widgets.HTML(f"<b>3 · a short training run</b> ({steps} steps of {model}, same seed)"),
            widgets.HBox([c["precision"], c["scaling"]]), widgets.HBox([train, clear, self.progress]),
            self.status, self.losses])
        for name in ("format", "value"):
            c[name].observe(lambda _: self._guarded(self.redraw_bits), names="value")
        for name in ("format", "log2_scale"):
            c[name].observe(lambda _: self._guarded(self.redraw_scaling), names="value")
        self._guarded(self.redraw_bits)
        self._guarded(self.redraw_scaling)

    # ------------------------------------------------------------------ state
    @property
    def params(self) -> dict:
        """The current control values."""
        return {name: w.value for name, w in self.controls.items()}

    def set(self, **params) -> dict:
        """Move controls (each redraws what it drives) and return :meth:`state`."""
        for name in params:
            if name not in self.controls:
                raise ValueError(f"unknown control {name!r}; params must be among: {', '.join(self.controls)}")
        for name, value in params.items():
            self.controls[name].value = value
        if self.errors:
            raise self.errors[-1]
        return self.state()

    def state(self) -> dict:
        """What the panel shows: the value's bits and error, and the gradient fractions."""
        p = self.params
        return {**bit_fields(float(p["value"]), p["format"]), "log2_scale": p["log2_scale"],
                **{f"{kind} {k}": v for kind, fr in self.scaled_fractions().items() for k, v in fr.items()}}

    def scaled_fractions(self) -> dict[str, dict[str, float]]:
        """Underflow / subnormal / overflow fractions of each recorded gradient set at the current scale."""
        p = self.params
        key = (p["format"], p["log2_scale"])
        if key not in self._fractions:
            self._fractions[key] = {kind: c.fractions(p["format"], 2.0 ** p["log2_scale"])
                                    for kind, c in self._counters.items()}
        return self._fractions[key]

    # ------------------------------------------------------------------ drawing
    def redraw_bits(self) -> None:
        d = bit_fields(float(self.controls["value"].value), self.controls["format"].value)
        spans = " ".join(f'<span style="color:{_COLORS[k]}" title="{k}">{d[k]}</span>'
                         for k in ("sign", "exponent", "mantissa"))
        f = get_format(d["format"])
        rel = "∞" if math.isinf(d["rel_error"]) else f"{d['rel_error']:.2e}"
        self.bits.value = (
            f'<div style="font-size:13px;line-height:1.5"><code style="font-size:15px">{spans}</code> '
            f'&nbsp;({f.bits} bits: <span style="color:{_COLORS["sign"]}">sign</span>, '
            f'<span style="color:{_COLORS["exponent"]}">{f.exponent_bits} exponent</span>, '
            f'<span style="color:{_COLORS["mantissa"]}">{f.mantissa_bits} mantissa</span>)<br>'
            f'value {d["value"]:.9g} → stored <b>{d["stored"]:.9g}</b> ({d["kind"]}); '
            f'absolute error {d["abs_error"]:.3g}, relative error {rel}</div>')

    def redraw_scaling(self) -> None:
        p = self.params
        f, k = get_format(p["format"]), p["log2_scale"]
        fr = self.scaled_fractions()
        rows = "".join(f"<tr><td>{html.escape(kind)}</td><td>{v['underflow']:.2%}</td><td>{v['subnormal']:.2%}</td>"
                       f"<td>{v['overflow']:.2%}</td></tr>" for kind, v in fr.items())
        self.fractions.value = (
            f'<div style="margin-left:16px;font-size:12.5px">gradients × 2<sup>{k}</sup> stored in {f.name}'
            f'<table><tr><th>gradients</th><th>underflow → 0</th><th>subnormal</th><th>overflow</th></tr>'
            f'{rows}</table></div>')
        lines = {"smallest subnormal": math.log2(f.smallest_subnormal), "smallest normal": math.log2(f.smallest_normal),
                 "max": math.log2(f.max)}
        with self.histogram.batch_update():
            for i, (edges, counts) in enumerate(self._hist.values()):
                self.histogram.data[i].x = (edges[:-1] + 0.5 + k).tolist()
                self.histogram.data[i].y = counts.tolist()
            for j, (name, x) in enumerate(lines.items()):
                self.histogram.data[len(self._hist) + j].x = [x, x]
            self.histogram.layout.title = f"log2 |gradient × 2^{k}| against {f.name}'s range"

    def _make_histogram(self):
        import plotly.graph_objects as go

        fig = go.Figure()
        for kind, color in zip(self._hist, ("steelblue", "darkorange")):
            fig.add_trace(go.Bar(x=[], y=[], name=f"{kind} gradients", marker_color=color, opacity=0.6))
        top = max(float(c.max()) for _, c in self._hist.values())
        for name, dash in (("smallest subnormal", "dot"), ("smallest normal", "dash"), ("max", "solid")):
            fig.add_trace(go.Scatter(x=[], y=[0, top], mode="lines", name=name,
                                     line=dict(color="crimson", dash=dash)))
        fig.update_layout(height=300, barmode="overlay", bargap=0, margin=dict(l=40, r=20, t=40, b=40),
                          xaxis=dict(title="log2 |value|", range=[_LOW + 8, _HIGH - 8]), yaxis_title="count",
                          legend=dict(orientation="h", y=-0.25))
        return go.FigureWidget(fig)

    def _make_loss_figure(self):
        import plotly.graph_objects as go

        fig = go.Figure()
        fig.update_layout(height=300, margin=dict(l=40, r=20, t=40, b=40), title="training loss per step",
                          xaxis_title="step", yaxis_title="loss", legend=dict(orientation="h", y=-0.25))
        fig.add_annotation(text="press <b>train</b> to add a run's loss curve", name="hint loss", showarrow=False,
                           xref="x domain", yref="y domain", x=0.5, y=0.5, font=dict(size=12, color="#666"))
        return go.FigureWidget(fig)

    def _hint(self, visible: bool) -> None:
        for ann in self.losses.layout.annotations:
            if ann.name == "hint loss":
                ann.visible = visible

    # ------------------------------------------------------------------ training
    def train(self, precision: str | None = None, scaling: str | None = None):
        """Train a fresh model for ``steps`` steps under autocast; its loss curve joins the plot."""
        if precision is not None:
            self.controls["precision"].value = precision
        if scaling is not None:
            self.controls["scaling"].value = scaling
        p = self.params
        import plotly.graph_objects as go

        label = p["precision"] if p["scaling"] == "none" else f"{p['precision']} + {p['scaling']} scaling"
        self._hint(False)
        self.losses.add_trace(go.Scatter(x=[], y=[], mode="lines", name=f"run {len(self.runs) + 1}: {label}"))
        trace = self.losses.data[-1]
        self.status.value = f"training {html.escape(label)}…"
        self.progress.value, self.progress.bar_style = 0, "info"

        def on_step(h):
            self.progress.value = len(h.losses) / self.steps
            if len(h.losses) % 5 == 0 or len(h.losses) == self.steps:
                trace.x, trace.y = list(range(1, len(h.losses) + 1)), list(h.losses)

        torch.manual_seed(0)
        history = train_mixed(build(self.model_name, self.data.input_shape, self.data.num_classes), self.data,
                              precision=p["precision"], scaling=p["scaling"], num_epochs=1, max_steps=self.steps,
                              init_scale=2.0**16 if p["scaling"] == "dynamic" else 2.0**10, on_step=on_step)
        trace.x, trace.y = list(range(1, len(history.losses) + 1)), list(history.losses)
        self.runs.append(history)
        self.progress.value, self.progress.bar_style = 1, "success"
        self.status.value = (f"{html.escape(label)}: final loss {history.losses[-1]:.3f}, "
                             f"{history.skipped} steps skipped, {history.seconds:.1f} s")
        return history

    def clear_runs(self) -> None:
        """Forget every training run (the loss plot empties)."""
        self.runs.clear()
        self.losses.data = ()
        self._hint(True)
        self.status.value = ""

    # ------------------------------------------------------------------ callbacks
    def _guarded(self, fn) -> None:
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - a widget callback must not die
            self.errors.append(err)
            self.status.value = error_html(err)

    def _repr_mimebundle_(self, **kwargs):
        return panel_bundle(self.panel, f"PrecisionExplorer({', '.join(self.controls)}; train button)", **kwargs)


def make_explorer(data=None, model: str = "lenet5", *, batches: int = 2, steps: int = 50) -> PrecisionExplorer:
    """The notebook's explorer; gradients are recorded once from the trained baseline ``model``.

    ``batches`` training batches of 64 give the recorded weight and activation gradients;
    the train button runs ``steps`` steps.
    """
    from .._checks import check_int
    from ..baselines import get_baseline
    from ..data import load

    check_int("batches", batches, 1)
    check_int("steps", steps, 1)
    data = data if data is not None else load()
    grads = record_gradients(get_baseline(model, data.name), data, batches=batches)
    return PrecisionExplorer(data, grads, model=model, steps=steps)
