"""Widget specs and display helpers shared by every notebook.

A notebook describes its controls with small specs, and the explorer turns them
into ipywidgets::

    >>> controls = {"amount": Slider(0.0, 0.95, 0.05, value=0.5),
    ...             "criterion": Dropdown(["l1", "random"])}
    >>> controls["amount"].build("amount").value
    0.5

``show(widget, text)`` displays a widget with a fixed plain-text form, so stored
notebook outputs do not change from run to run (a plotly ``FigureWidget``'s own
text form holds a random id, which nbval would flag). That text is also what a
reader sees in a notebook that has not been run: by default :data:`PLACEHOLDER`.

Panels fit a narrow output area (a 1280-px window with the file browser open
leaves about 900 px): :func:`panel_layout` lets a row of controls and a table
wrap, :data:`MAX_FIGURE_PX` caps figure widths.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from ._checks import check_number, checked

_LAYOUT = dict(layout=widgets.Layout(width="420px"), style={"description_width": "110px"})
PLACEHOLDER = "Explorer panel — run this cell to open it"
MAX_FIGURE_PX = 900    # the output area of a 1280-px window with JupyterLab's file browser open


def panel_layout(**kwargs) -> widgets.Layout:
    """The layout of a row that wraps when narrow: controls first, the table below them if it must.

    >>> panel_layout().flex_flow
    'row wrap'
    """
    return widgets.Layout(**{"flex_flow": "row wrap", "align_items": "flex-start", "width": "100%",
                             **kwargs})


def panel_text(name: str = "Explorer") -> str:
    """The plain-text form of a panel: what an unexecuted notebook shows in its place.

    >>> panel_text("Quantization explorer")
    'Quantization explorer panel — run this cell to open it'
    """
    return f"{name} panel — run this cell to open it"


@checked
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


@checked
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


@checked
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


def sync_figures(widget: widgets.Widget) -> int:
    """Copy the current data and layout of every plotly ``FigureWidget`` inside ``widget`` into
    its widget state; return how many figures there were.

    Plotly sends a change to a figure as a message to the views that exist; a panel
    that draws its first setting before it is displayed has no view yet, so the
    browser would draw the figure as it was built (empty). Plotly copies the state
    itself only when the figure is displayed on its own, not inside a box.
    :func:`panel_bundle` calls this every time a panel is displayed.

    >>> sync_figures(widgets.VBox([widgets.HTML("no figure")]))
    0
    """
    import sys
    from copy import deepcopy

    basewidget = sys.modules.get("plotly.basewidget")    # no figure can exist if plotly's widgets never loaded
    figure_type = getattr(basewidget, "BaseFigureWidget", None)
    count, todo = 0, [widget]
    while todo:
        w = todo.pop()
        if figure_type is not None and isinstance(w, figure_type):
            w._widget_layout = deepcopy(w._layout_obj._props)     # what plotly's own _repr_mimebundle_ does
            w._widget_data = deepcopy(w._data)
            count += 1
        todo.extend(getattr(w, "children", ()) or ())
    return count


def built_on_first_use(owner: Any, attr: str, box: widgets.Box, build) -> Any:
    """``owner.<attr>``, built by ``build()`` and appended to ``box`` the first time it is asked for.

    For figures that wait for a button (training curves, sensitivity, a comparison): every
    plotly figure costs a page time in the browser, and many readers never press it.

    >>> class Owner: _fig = None
    >>> o, box = Owner(), widgets.VBox([])
    >>> built_on_first_use(o, "_fig", box, lambda: widgets.HTML("a figure")) is box.children[0] is o._fig
    True
    """
    if getattr(owner, attr) is None:
        setattr(owner, attr, build())
        box.children = (*box.children, getattr(owner, attr))
    return getattr(owner, attr)


def panel_bundle(panel: widgets.Widget, text: str, **kwargs) -> dict:
    """The display bundle of ``panel`` with ``text`` as its plain-text form, its figures up to date."""
    sync_figures(panel)
    bundle = dict(panel._repr_mimebundle_(**kwargs) or {})
    bundle["text/plain"] = text
    return bundle


class _Shown:
    """Wraps a widget so its notebook output has a fixed plain-text form."""

    def __init__(self, widget: widgets.Widget, text: str):
        self.widget, self.text = widget, text

    def _repr_mimebundle_(self, **kwargs):
        return panel_bundle(self.widget, self.text, **kwargs)


def show(widget: widgets.Widget, text: str = PLACEHOLDER) -> None:
    """Display ``widget`` with ``text`` as its plain-text form (what nbval compares and an unrun notebook shows)."""
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
    fig.update_layout(title=title, height=height, autosize=True, margin=dict(l=40, r=20, t=60, b=40))
    return go.FigureWidget(fig)


class TrainingMonitor:
    """A progress bar and a live loss / accuracy curve that ``train`` updates.

    Lives inside a panel (the explorer's, say), so progress shows where the learner
    is looking, also when training runs from a button's callback::

        monitor = TrainingMonitor()
        show(monitor.widget, "training monitor")
        train(model, data, num_epochs=3, monitor=monitor)
    """

    def __init__(self, title: str = "training"):
        self.label = widgets.HTML(value="")
        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info",
                                         layout=widgets.Layout(width="420px"))
        self.title, self._figure = title, None
        self.widget = widgets.VBox([widgets.HBox([self.bar, self.label])], layout=widgets.Layout(display="none"))
        self.total, self.done, self.desc = 0, 0, ""
        self.epochs: list[dict] = []

    @property
    def figure(self):
        """The live curves, built on first use: each plotly figure costs a page about a second in the browser
        (its JavaScript is evaluated once per figure), and most panels never train."""
        return built_on_first_use(self, "_figure", self.widget,
                                  lambda: live_figure(self.title, ["training loss", "val accuracy"], height=240))

    def start(self, total_steps: int, desc: str) -> None:
        self.total, self.done, self.desc, self.epochs = max(1, total_steps), 0, desc, []
        self.widget.layout.display = "flex"
        self.bar.value, self.bar.bar_style = 0.0, "info"
        self.label.value = f"{html.escape(desc)}: starting"
        with self.figure.batch_update():
            for trace in self.figure.data:
                trace.x, trace.y = [], []

    def step(self, n: int = 1) -> None:
        self.done += n
        self.bar.value = min(1.0, self.done / self.total)

    def epoch(self, record: dict) -> None:
        self.epochs.append(record)
        xs = [r["epoch"] for r in self.epochs]
        with self.figure.batch_update():
            self.figure.data[0].x, self.figure.data[0].y = xs, [r["loss"] for r in self.epochs]
            self.figure.data[1].x, self.figure.data[1].y = xs, [r["val_acc"] for r in self.epochs]
        self.label.value = (f"{html.escape(self.desc)}: epoch {record['epoch']}, loss {record['loss']:.3f}, "
                            f"val acc {record['val_acc']:.3f}")

    def finish(self) -> None:
        self.bar.value, self.bar.bar_style = 1.0, "success"
