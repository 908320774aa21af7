"""Widget specs and display helpers shared by every notebook.

A notebook describes its controls with small specs, and the explorer turns them
into ipywidgets::

    >>> controls = {"amount": Slider(0.0, 0.95, 0.05, value=0.5),
    ...             "criterion": Dropdown(["l1", "random"])}
    >>> controls["amount"].build("amount").value
    0.5

``show(widget, text)`` displays a widget with a fixed plain-text form, so stored
notebook outputs do not change from run to run (a plotly ``FigureWidget``'s own
text form holds a random id, which nbval would flag).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from ._checks import check_number

_LAYOUT = dict(layout=widgets.Layout(width="420px"), style={"description_width": "110px"})


@dataclass(frozen=True)
class Slider:
    """A numeric slider from ``low`` to ``high`` in ``step`` s, or over explicit ``options``.

    Integers in, ``IntSlider`` out; ``options`` (e.g. bits 1..8, 16, 32) gives a
    ``SelectionSlider``. Sliders update on release (``continuous_update=False``):
    every move triggers a measurement.
    """

    low: float | None = None
    high: float | None = None
    step: float | None = None
    value: Any = None
    options: Sequence | None = None
    description: str | None = None

    def __post_init__(self):
        if self.options is not None:
            if len(self.options) == 0:
                raise ValueError("options must not be empty")
            if self.value is not None and self.value not in self.options:
                raise ValueError(f"value must be one of options {list(self.options)}, got {self.value!r}")
            return
        if self.low is None or self.high is None or self.step is None:
            raise ValueError("Slider needs low, high and step (or options)")
        check_number("high", self.high, self.low, low_inclusive=False)
        check_number("step", self.step, 0.0, self.high - self.low, low_inclusive=False)
        if self.value is not None:
            check_number("value", self.value, self.low, self.high)

    def build(self, name: str) -> widgets.ValueWidget:
        desc = self.description or name
        if self.options is not None:
            value = self.options[0] if self.value is None else self.value
            return widgets.SelectionSlider(options=list(self.options), value=value, description=desc,
                                           continuous_update=False, **_LAYOUT)
        value = self.low if self.value is None else self.value
        integer = all(isinstance(v, int) and not isinstance(v, bool)
                      for v in (self.low, self.high, self.step, value))
        cls = widgets.IntSlider if integer else widgets.FloatSlider
        kw = {} if integer else {"readout_format": _readout(self.step)}
        return cls(min=self.low, max=self.high, step=self.step, value=value, description=desc,
                   continuous_update=False, **kw, **_LAYOUT)


@dataclass(frozen=True)
class Dropdown:
    """A choice among ``options`` (e.g. the names of a criterion registry)."""

    options: Sequence
    value: Any = None
    description: str | None = None

    def __post_init__(self):
        if len(self.options) == 0:
            raise ValueError("options must not be empty")
        if self.value is not None and self.value not in self.options:
            raise ValueError(f"value must be one of {list(self.options)}, got {self.value!r}")

    def build(self, name: str) -> widgets.ValueWidget:
        value = self.options[0] if self.value is None else self.value
        return widgets.Dropdown(options=list(self.options), value=value,
                                description=self.description or name, **_LAYOUT)


@dataclass(frozen=True)
class Toggle(Dropdown):
    """Two or three options shown as buttons (structured / unstructured, say)."""

    def build(self, name: str) -> widgets.ValueWidget:
        value = self.options[0] if self.value is None else self.value
        return widgets.ToggleButtons(options=list(self.options), value=value,
                                     description=self.description or name,
                                     style={"description_width": "110px", "button_width": "110px"})


def _readout(step: float) -> str:
    decimals = max(0, len(f"{step:.10g}".split(".")[1]) if "." in f"{step:.10g}" else 0)
    return f".{min(decimals, 4)}f"


class _Shown:
    """Wraps a widget so its notebook output has a fixed plain-text form."""

    def __init__(self, widget: widgets.Widget, text: str):
        self.widget, self.text = widget, text

    def _repr_mimebundle_(self, **kwargs):
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = self.text
        return bundle


def show(widget: widgets.Widget, text: str) -> None:
    """Display ``widget`` with ``text`` as its plain-text form (what nbval compares)."""
    from IPython.display import display

    display(_Shown(widget, text))


def message_box() -> widgets.HTML:
    """An HTML widget for status lines and errors shown inside a panel."""
    return widgets.HTML(value="", layout=widgets.Layout(min_height="1.6em"))


def error_html(err: BaseException) -> str:
    """An error as one red line: what a callback raised, without a traceback."""
    text = html.escape(f"{type(err).__name__}: {err}")
    return f'<span style="color:#b00020">&#9888; {text}</span>'


def live_figure(title: str, panels: Sequence[str], *, height: int = 280):
    """A plotly ``FigureWidget`` with one line plot per panel, side by side."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels))
    for col, name in enumerate(panels, start=1):
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines+markers", name=name, showlegend=False), row=1, col=col)
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_layout(title=title, height=height, margin=dict(l=40, r=20, t=60, b=40))
    return go.FigureWidget(fig)
