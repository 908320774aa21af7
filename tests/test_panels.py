"""Figures and panels fit the output area of a 1280-px window with the file browser open (~900 px).

Every plotly figure a panel builds sizes to its container (no width) or is at most
900 px wide, with its legend kept on the canvas; every matplotlib figure is at most
10 inches wide at the notebooks' 90 dpi. Built cheaply: latency off, small models.
"""

import ast
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import workbench as wb
from workbench.widgets import MAX_FIGURE_PX

PACKAGE = Path(wb.__file__).parent
DPI = 90                                              # wb.setup's figure.dpi


def _fits(fig) -> None:
    width = fig.layout.width
    assert width is None or width <= MAX_FIGURE_PX, f"{fig.layout.title.text!r}: {width} px"
    legend = fig.layout.legend
    for v in (legend.x, legend.y):
        assert v is None or -0.5 <= v <= 1.2, f"legend off the canvas at {v}"


def _plotly_figures(ds):
    from workbench.distillation.explorer import SoftTargetView
    from workbench.pruning import make_explorer as pruning_explorer
    from workbench.quantization.explorer import make_explorer as quant_explorer

    ex = wb.Explorer(lambda model, a: model, {"a": wb.Slider(0.0, 1.0, 0.5)}, baseline=wb.get_baseline("lenet5"),
                     data=ds, latency="off")
    pr = pruning_explorer("lenet300", ds, latency="off")
    q = quant_explorer(ds, model="lenet300", calibration_examples=50)
    view = SoftTargetView({"t": torch.randn(6, 10)}, torch.rand(6, 28, 28), torch.arange(6), ds.classes)
    return {"explorer": ex.figure, "training monitor": ex.monitor.figure, "pruning explorer": pr.figure,
            "pruning sensitivity": pr.sensitivity.figure, "quantization explorer": q.explorer.figure,
            "weight histogram": q.histogram, "int8 comparison": q.comparison_figure, "soft targets": view.figure}


def test_every_plotly_figure_fits_the_output_area(ds):
    figures = _plotly_figures(ds)
    for name, fig in figures.items():
        _fits(fig)
    assert figures["explorer"].layout.width is None and figures["explorer"].layout.autosize


def test_no_hard_coded_width_above_the_output_area():
    wide = []
    for path in PACKAGE.rglob("*.py"):
        for m in re.finditer(r"\bwidth\s*=\s*(\d+)", path.read_text()):
            if int(m.group(1)) > MAX_FIGURE_PX:
                wide.append(f"{path.relative_to(PACKAGE)}: {m.group(0)}")
    assert not wide, wide


def _figsize_widths():
    """Every ``figsize=(w, h)`` in the package: a number, or ``min(cap, ...)``."""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "figsize" and isinstance(node.value, ast.Tuple):
                yield f"{path.relative_to(PACKAGE)}:{node.lineno}", node.value.elts[0]


def test_every_matplotlib_figsize_is_at_most_ten_inches():
    found = list(_figsize_widths())
    assert len(found) > 10
    bad = []
    for where, w in found:
        if isinstance(w, ast.Constant):
            width = w.value
        elif isinstance(w, ast.Call) and getattr(w.func, "id", "") == "min" and isinstance(w.args[0], ast.Constant):
            width = w.args[0].value
        else:
            width = None                               # unbounded: depends on the data
        if width is None or width * DPI > MAX_FIGURE_PX:
            bad.append(f"{where}: {ast.unparse(w)}")
    assert not bad, bad


def test_default_matplotlib_figure_fits():
    wb.setup(quiet=True)
    w, _ = plt.rcParams["figure.figsize"]
    assert w * plt.rcParams["figure.dpi"] <= MAX_FIGURE_PX


@pytest.mark.parametrize("make", [
    lambda ds: wb.plots.show_examples(ds, n=50, cols=50),
    lambda ds: wb.plots.bars({"a": 1.0, "b": 2.0}, xlabel="bytes", title="t"),
    lambda ds: __import__("workbench.distillation.pictures", fromlist=["x"]).soft_targets(
        torch.randn(2, 10), torch.rand(2, 28, 28), torch.tensor([0, 1]), ds.classes, temperatures=(1, 2, 4, 8, 16)),
    lambda ds: __import__("workbench.quantization.plots", fromlist=["x"]).grid_on_weights(torch.randn(8, 16)),
], ids=["examples", "bars", "soft targets", "grid on weights"])
def test_matplotlib_helpers_draw_at_most_900_px(ds, make):
    fig = make(ds)
    try:
        assert fig.get_size_inches()[0] * DPI <= MAX_FIGURE_PX
    finally:
        plt.close(fig)


# ---------------------------------------------------------------- the first setting reaches the browser

def test_a_figure_changed_before_display_is_sent_as_changed():
    """Plotly's change messages reach only existing views: a panel that draws its first setting
    before it is displayed must copy that setting into the widget state, or the page shows
    the figure as built (empty)."""
    import ipywidgets as widgets
    import plotly.graph_objects as go

    from workbench.widgets import panel_bundle, sync_figures

    fig = go.FigureWidget(go.Figure(go.Heatmap(z=[[0.0]])))
    with fig.batch_update():
        fig.data[0].z = [[1.0, 2.0], [3.0, 4.0]]
        fig.layout.title = "after"
    assert np.asarray(fig._widget_data[0]["z"]).tolist() == [[0.0]]     # the stale state plotly alone sends
    panel = widgets.VBox([widgets.HBox([widgets.HTML("table"), fig])])
    bundle = panel_bundle(panel, "a panel")
    assert bundle["text/plain"] == "a panel" and "application/vnd.jupyter.widget-view+json" in bundle
    assert np.asarray(fig._widget_data[0]["z"]).tolist() == [[1.0, 2.0], [3.0, 4.0]], fig._widget_data
    assert fig._widget_layout["title"]["text"] == "after"
    assert sync_figures(panel) == 1 and sync_figures(widgets.VBox([fig, widgets.VBox([fig])])) == 2


def test_every_explorer_shows_its_first_setting(ds):
    """The explorers draw their first setting in the constructor; displaying them sends it."""
    from workbench.dynamic import EarlyExitNet
    from workbench.dynamic.explorer import DynamicExplorer
    from workbench.pruning import make_explorer as pruning_explorer

    pr = pruning_explorer("lenet300", ds, latency="off")
    dy = DynamicExplorer(EarlyExitNet(channels=(4, 8, 8)), ds, sample=2, rounds=1)
    def points(traces) -> int:
        return sum(np.asarray(t[k]).size for t in traces for k in ("x", "y", "z") if t.get(k) is not None)

    figures = (pr.figure, dy.curve, dy.gallery)
    assert all(points(fig._widget_data) < points(fig._data) for fig in figures)   # drawn after being built
    pr._repr_mimebundle_(), dy._repr_mimebundle_()
    assert all(points(fig._widget_data) == points(fig._data) > 0 for fig in figures)
