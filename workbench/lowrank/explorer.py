"""The low-rank explorer: method, energy kept and layer -> accuracy, parameters, MACs, latency, spectrum.

    >>> ex = make_explorer(latency="off")
    >>> ex.set(method="svd", energy=0.6, layer="all").params < 61706
    True

A move must answer within the course's 250 ms, so nothing is decomposed twice:
the ``Decomposer`` keeps one SVD per layer and view (every rank is a slice of it)
and each Tucker-2 or CP fit per rank; CP, fitted by alternating least squares, is
the slow one the first time a rank is asked for. The spectrum panel below the plots
draws the singular values of the chosen layer (the first one the method factors
when ``layer`` is "all") with the current cut; "fine-tune" trains the current
factored model for one epoch and adds it to the plots.
"""

from __future__ import annotations

import math

import ipywidgets as widgets
from torch import nn

from .._checks import check_choice, check_int, check_number, checked
from ..baselines import get_baseline
from ..data import load
from ..explorer import Explorer
from ..train import fine_tune as _fine_tune
from ..widgets import Dropdown, Slider, error_html, message_box
from .decompose import METHODS, Decomposer, factorable_layers

ALL = "all"


def _choices(model: nn.Module) -> list[str]:
    names = []
    for method in METHODS:
        names += [n for n in factorable_layers(model, method) if n not in names]
    return [ALL] + names


class Compressor:
    """``compress(model, method, energy, layer)`` over one cached :class:`Decomposer`."""

    def __init__(self, baseline: nn.Module):
        self.decomposer = Decomposer(baseline)

    def layers(self, method: str, layer: str) -> list[str]:
        """The layers a setting factors (a ValueError if ``method`` cannot factor ``layer``)."""
        names = factorable_layers(self.decomposer.model, method)
        if layer == ALL:
            return names
        if layer not in names:
            raise ValueError(f"method {method!r} cannot factor layer {layer!r}; layer must be one of: "
                             f"{', '.join([ALL] + names)}")
        return [layer]

    def __call__(self, model: nn.Module, method: str, energy: float, layer: str) -> nn.Module:
        check_number("energy", energy, 0.0, 1.0, low_inclusive=False)
        return self.decomposer.decompose(method, energy=energy, layers=self.layers(method, layer), model=model)


class SpectrumPanel:
    """The spectrum of the explorer's chosen layer, with the rank cut of the current energy."""

    def __init__(self, explorer: Explorer, compressor: Compressor):
        import plotly.graph_objects as go

        self.explorer, self.compressor = explorer, compressor
        self.status = message_box()
        self.figure = go.FigureWidget(layout=dict(
            height=280, width=880, margin=dict(l=50, r=20, t=40, b=40), yaxis_type="log",
            xaxis_title="rank r", yaxis_title="σ_r / σ_1", legend=dict(x=0.6, y=0.98)))
        self.widget = widgets.VBox([self.status, self.figure])
        for name in ("method", "energy", "layer"):
            explorer.controls[name].observe(lambda _: self._guarded(self.redraw), names="value")
        self._guarded(self.redraw)

    def redraw(self) -> None:
        import plotly.graph_objects as go

        p = self.explorer.params
        dec = self.compressor.decomposer
        name = self.compressor.layers(p["method"], p["layer"])[0]
        spectra = dec.spectra(name, p["method"])
        ranks = dec.rank_for(name, p["method"], p["energy"])
        ranks = ranks if isinstance(ranks, tuple) else (ranks,)
        colors = ("#1f77b4", "#ff7f0e")
        with self.figure.batch_update():
            self.figure.data = ()
            shapes = []
            for (label, s), r, color in zip(spectra.items(), ranks, colors):
                self.figure.add_trace(go.Scatter(x=list(range(1, len(s) + 1)), y=(s / s[0]).tolist(),
                                                 mode="lines", name=label, line=dict(color=color)))
                shapes.append(dict(type="line", xref="x", x0=r, x1=r, yref="paper", y0=0, y1=1,
                                   line=dict(color=color, dash="dash")))
            self.figure.layout.shapes = shapes
            self.figure.layout.title = (f"{name} ({p['method']}): singular values; dashed: the cut keeping "
                                        f"{p['energy']:.0%} of the energy (rank {', '.join(map(str, ranks))})")
        self.status.value = ""

    def _guarded(self, fn) -> None:
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - a widget callback must not die
            self.explorer.errors.append(err)
            self.status.value = error_html(err)


@checked(energy=(0, 1, "(]"), fine_tune_lr=(0, math.inf, "()"))
def make_explorer(data=None, *, model: str = "lenet5", method: str = "svd", energy: float = 0.8, layer: str = ALL,
                  fine_tune_epochs: int = 1, fine_tune_lr: float = 1e-3, latency: str = "quick",
                  budget_s: float = 0.05) -> Explorer:
    """The low-rank explorer on a baseline (``lenet5``: fully connected layers for SVD, convs for the rest).

    Returns the :class:`workbench.Explorer` with ``.compressor`` (the cached
    decompositions) and ``.spectrum`` (the spectrum panel) attached.
    """
    data = data if data is not None else load()
    check_choice("method", method, METHODS)
    check_number("energy", energy, 0.0, 1.0, low_inclusive=False)
    check_int("fine_tune_epochs", fine_tune_epochs, 1, 20)
    baseline = get_baseline(model, progress=False)
    compressor = Compressor(baseline)
    layers = _choices(baseline)
    check_choice("layer", layer, layers)

    def compress(model: nn.Module, method: str, energy: float, layer: str) -> nn.Module:
        return compressor(model, method, energy, layer)

    def fine_tune(model: nn.Module, monitor=None) -> nn.Module:
        _fine_tune(model, data, num_epochs=fine_tune_epochs, lr=fine_tune_lr, schedule="cosine", monitor=monitor)
        return model

    controls = {"energy": Slider(0.3, 1.0, 0.05, value=energy, description="energy kept"),
                "method": Dropdown(list(METHODS), value=method),
                "layer": Dropdown(layers, value=layer)}
    explorer = Explorer(compress, controls, baseline=baseline, data=data, actions={"fine-tune": fine_tune},
                        latency=latency, budget_s=budget_s, title=f"low-rank {model}: energy kept, method, layer")
    explorer.compressor = compressor
    explorer.spectrum = SpectrumPanel(explorer, compressor)
    explorer.panel.children = (*explorer.panel.children, explorer.spectrum.widget)
    return explorer
