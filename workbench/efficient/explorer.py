"""The efficient-architecture explorer: α, resolution and block type, answered from trained networks.

    >>> from workbench import data
    >>> lab = make_explorer(data.load("digits"), latency="off")
    >>> lab.explorer.set(alpha=0.5, resolution=20, block="separable").accuracy > 0.9
    True

Moving a control never trains: the sixteen separable networks of the stored grid
(``grid.load_grid``) answer at once — accuracy measured on the test digits, bytes,
MACs and a quick latency against the full network. A setting that is not trained
yet (another block type, an α or resolution between the grid's) shows where its
MACs would fall; **train this setting** trains it with the grid's recipe (a few
seconds, with a progress bar) and adds it to every plot.
"""

from __future__ import annotations

import html
import time

import ipywidgets as widgets
from torch import nn

from .._checks import check_choice, checked
from ..explorer import Explorer
from ..metrics import count_macs
from ..widgets import Dropdown, Slider, error_html, message_box, panel_bundle
from .grid import RECIPE, Recipe, load_grid, train_net
from .experiments import measured_accuracy
from .nets import build_net

ALPHA_OPTIONS = (0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)
RESOLUTION_OPTIONS = (12, 16, 20, 24, 28)
BLOCK_OPTIONS = ("separable", "standard", "shuffle", "noshuffle", "fire")
COLORS = {"separable": "steelblue", "standard": "grey", "shuffle": "darkorange", "noshuffle": "goldenrod",
          "fire": "seagreen"}


class NotTrained(LookupError):
    """The explorer has no trained network for this setting (yet)."""


class EfficientLab:
    """A :class:`workbench.Explorer` over (α, resolution, block) plus an accuracy-vs-MACs view."""

    def __init__(self, data, zoo: dict[tuple[str, float, int], nn.Module], *, recipe: Recipe = RECIPE,
                 latency: str = "quick", budget_s: float = 0.05):
        import plotly.graph_objects as go

        self.data, self.zoo, self.recipe = data, dict(zoo), recipe
        self.accuracy: dict[tuple, float] = {}
        self._macs: dict[tuple, int] = {}
        self.timings: list[float] = []                       # seconds each redraw of the MAC view took
        for key, net in self.zoo.items():
            self._record(key, net)
        full = self.zoo[("separable", 1.0, 28)]
        controls = {"alpha": Slider(options=list(ALPHA_OPTIONS), value=1.0),
                    "resolution": Slider(options=list(RESOLUTION_OPTIONS), value=28),
                    "block": Dropdown(list(BLOCK_OPTIONS), value="separable")}
        self.explorer = Explorer(self._pick, controls, baseline=full, data=data, latency=latency,
                                 budget_s=budget_s, title="width (alpha), resolution and block type "
                                                          "(baseline: separable, alpha 1, 28 px)")
        self.figure = go.FigureWidget(layout=dict(
            title="accuracy against MACs (every trained network; star: the current setting)", height=340,
            autosize=True, xaxis=dict(title="MACs per digit (log scale)", type="log"),
            yaxis=dict(title="test accuracy (%)"), margin=dict(l=50, r=20, t=50, b=40),
            legend=dict(x=0.99, xanchor="right", y=0.02, yanchor="bottom")))
        for block in BLOCK_OPTIONS:
            self.figure.add_trace(go.Scatter(x=[], y=[], mode="markers", name=block, hovertext=[],
                                             marker=dict(color=COLORS[block], size=8)))
        self.figure.add_trace(go.Scatter(x=[], y=[], mode="markers", name="current", showlegend=False,
                                         marker=dict(color="crimson", size=16, symbol="star")))
        self.button = widgets.Button(description="train this setting", icon="play", button_style="primary",
                                     tooltip=f"train the current setting ({recipe.num_epochs} epochs, seeded)")
        self.button.on_click(lambda _: self._guarded(self.train_current))
        self.status = message_box()
        self.panel = widgets.VBox([self.explorer.panel, widgets.HBox([self.button, self.status]), self.figure])
        for w in self.explorer.controls.values():
            w.observe(lambda _: self._guarded(self.redraw), names="value")
        self.redraw()

    # ------------------------------------------------------------------ state
    @staticmethod
    def key(params: dict) -> tuple[str, float, int]:
        return params["block"], float(params["alpha"]), int(params["resolution"])

    def _record(self, key: tuple, net: nn.Module) -> None:
        self.accuracy[key] = measured_accuracy(net, self.data.X_test, self.data.y_test)
        self._macs[key] = count_macs(net, self.data.input_shape)

    def macs(self, key: tuple) -> int:
        """MACs of the setting ``key`` = (block, α, resolution); counted on the architecture, no training."""
        if key not in self._macs:
            self._macs[key] = count_macs(build_net(*key, seed=None), self.data.input_shape)
        return self._macs[key]

    def _pick(self, model: nn.Module, alpha: float, resolution: int, block: str) -> nn.Module:
        key = self.key(dict(alpha=alpha, resolution=resolution, block=block))
        if key not in self.zoo:
            raise NotTrained(f"{block}, alpha={alpha:g}, resolution={resolution} is not trained yet: "
                             f"press 'train this setting'")
        return self.zoo[key]

    def train_current(self, monitor=None) -> nn.Module:
        """Train the current setting with the grid's recipe, add it to the zoo, and measure it."""
        key = self.key(self.explorer.params)
        if key not in self.zoo:
            self.status.value = f"training {html.escape(str(key))}…"
            start = time.perf_counter()
            net = train_net(self.data, *key, recipe=self.recipe, monitor=monitor or self.explorer.monitor)
            self.zoo[key] = net
            self._record(key, net)
            self.status.value = f"trained in {time.perf_counter() - start:.0f} s"
        self.explorer.update()
        self.redraw()
        return self.zoo[key]

    # ------------------------------------------------------------------ drawing
    def redraw(self) -> None:
        """Redraw the accuracy-vs-MACs view with the current setting highlighted."""
        start = time.perf_counter()
        key = self.key(self.explorer.params)
        with self.figure.batch_update():
            for i, block in enumerate(BLOCK_OPTIONS):
                keys = sorted(k for k in self.zoo if k[0] == block)
                self.figure.data[i].x = [self._macs[k] for k in keys]
                self.figure.data[i].y = [100 * self.accuracy[k] for k in keys]
                self.figure.data[i].hovertext = [f"alpha={k[1]:g}, resolution={k[2]}" for k in keys]
            trained = key in self.zoo
            self.figure.data[-1].x = [self.macs(key)] if trained else []
            self.figure.data[-1].y = [100 * self.accuracy[key]] if trained else []
            x = self.macs(key)
            self.figure.layout.shapes = () if trained else (dict(
                type="line", xref="x", x0=x, x1=x, yref="paper", y0=0, y1=1, line=dict(color="crimson", dash="dot")),)
        if not trained:
            self.status.value = (f"not trained yet; it would cost {self.macs(key):,} MACs (dotted line). "
                                 f"Press <b>train this setting</b>.")
        elif not self.status.value.startswith("trained in"):
            self.status.value = ""
        self.timings.append(time.perf_counter() - start)

    def _guarded(self, fn) -> None:
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - a widget callback must not die; show it in the panel
            self.explorer.errors.append(err)
            self.status.value = error_html(err)

    def _repr_mimebundle_(self, **kwargs):
        return panel_bundle(self.panel, f"EfficientLab({', '.join(self.explorer.controls)})", **kwargs)


@checked
def make_explorer(data, *, extra: dict | None = None, latency: str = "quick", budget_s: float = 0.05) -> EfficientLab:
    """The notebook's explorer: the stored separable grid, plus any networks in ``extra``.

    ``extra`` maps (block, α, resolution) to networks trained elsewhere (the stored
    designs of the notebook, say), so the explorer starts with them.
    """
    zoo = {("separable", a, r): net for (a, r), net in load_grid(data.name).items()}
    for key, net in (extra or {}).items():
        check_choice("extra", key[0], BLOCK_OPTIONS, what="block")
        zoo[(key[0], float(key[1]), int(key[2]))] = net
    return EfficientLab(data, zoo, latency=latency, budget_s=budget_s)
