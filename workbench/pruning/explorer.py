"""The pruning explorer: amount, criterion, structure and scope -> accuracy, bytes, MACs, latency.

    >>> ex = make_explorer("lenet300", latency="off")
    >>> ex.set(amount=0.9, criterion="l1", structure="unstructured", scope="global").sparsity > 0.89
    True

Moving a control must answer fast (the course asks for a median under 250 ms), so
the expensive part is done once: each criterion's scores are computed on the
validation split the first time it is chosen and cached; a move then only
thresholds cached scores, builds the pruned model (zeros written in, or channels
removed) and measures it. Fine-tuning runs behind the "fine-tune" button, with the
zeros held by masks so that it cannot regrow them. The sensitivity panel below
the plots draws one accuracy curve per layer for the current criterion and
structure when its button is pressed (it prunes every layer at nine amounts).
"""

from __future__ import annotations

import html

import ipywidgets as widgets
from torch import Tensor, nn

from .._checks import check_choice, check_fraction, check_int, checked
from ..baselines import get_baseline
from ..data import load
from ..explorer import Explorer
from ..widgets import Dropdown, Slider, Toggle, built_on_first_use, error_html, message_box
from .criteria import CRITERIA, STRUCTURES
from .masks import SCOPES, zero_weights
from .scores import channel_scores, weight_scores
from .schedules import fine_tune_masked
from .sensitivity import DEFAULT_AMOUNTS, sensitivity
from .structured import MAX_LAYER_AMOUNT, prune_channels


class Pruner:
    """``compress(model, amount, criterion, structure, scope)`` with the scores cached per criterion."""

    def __init__(self, baseline: nn.Module, data):
        self.baseline, self.data = baseline, data
        self._scores: dict[tuple[str, str], dict[str, Tensor]] = {}

    def scores(self, criterion: str, structure: str) -> dict[str, Tensor]:
        """Scores of the baseline for ``criterion`` (computed once on the validation split)."""
        check_choice("structure", structure, STRUCTURES)
        key = (criterion, structure)
        if key not in self._scores:
            fn = weight_scores if structure == "unstructured" else channel_scores
            self._scores[key] = fn(self.baseline, criterion, self.data)
        return self._scores[key]

    def __call__(self, model: nn.Module, amount: float, criterion: str, structure: str, scope: str) -> nn.Module:
        check_fraction("amount", amount, high_inclusive=False)
        check_choice("scope", scope, SCOPES)
        scores = self.scores(criterion, structure)
        if structure == "unstructured":
            return zero_weights(model, scores, amount, scope)
        return prune_channels(model, scores, amount, scope)


class SensitivityPanel:
    """Per-layer sensitivity curves for the explorer's current criterion and structure (on demand)."""

    def __init__(self, explorer: Explorer, pruner: Pruner, data, amounts=DEFAULT_AMOUNTS):

        self.explorer, self.pruner, self.data, self.amounts = explorer, pruner, data, tuple(amounts)
        self.curves: dict[tuple[str, str], object] = {}
        self.status = message_box()
        self.button = widgets.Button(description="sensitivity", icon="line-chart",
                                     tooltip="prune each layer alone at nine amounts (validation accuracy)")
        self.button.on_click(lambda _: self._guarded(self.compute))
        self._figure = None                 # built when the first curves are measured (see ``figure``)
        self.widget = widgets.VBox([widgets.HBox([self.button, self.status])])
        for name in ("amount", "criterion", "structure"):
            explorer.controls[name].observe(lambda _: self._guarded(self.redraw), names="value")
        self.redraw()

    @property
    def figure(self):
        """The curves' figure, built on first use: every plotly figure costs the page about a second in the
        browser (its JavaScript is evaluated once per figure), and many readers never press the button."""
        import plotly.graph_objects as go

        return built_on_first_use(self, "_figure", self.widget, lambda: go.FigureWidget(layout=dict(
            title="sensitivity: one layer pruned at a time (validation accuracy)", height=300, autosize=True,
            xaxis_title="amount pruned in that layer", yaxis_title="accuracy (%)",
            margin=dict(l=40, r=20, t=50, b=40))))

    def _key(self) -> tuple[str, str]:
        p = self.explorer.params
        return p["criterion"], p["structure"]

    def compute(self):
        """Measure the curves for the current criterion and structure (cached) and draw them."""
        key = self._key()
        if key not in self.curves:
            self.status.value = "measuring sensitivity…"
            scores = self.pruner.scores(*key)
            self.curves[key] = sensitivity(self.pruner.baseline, self.data, amounts=self.amounts,
                                           structure=key[1], scores=scores)
        self.redraw()
        return self.curves[key]

    def redraw(self) -> None:
        import plotly.graph_objects as go

        key = self._key()
        curves = self.curves.get(key)
        if curves is None and self._figure is None:
            self.status.value = (f"press <b>sensitivity</b> to measure the curves for "
                                 f"{html.escape(key[0])}, {html.escape(key[1])}")
            return
        with self.figure.batch_update():
            self.figure.data = ()
            self.figure.layout.shapes = ()
            self.figure.layout.annotations = ()
            if curves is None:
                self.status.value = (f"press <b>sensitivity</b> to measure the curves for "
                                     f"{html.escape(key[0])}, {html.escape(key[1])}")
                self.figure.add_annotation(text="press <b>sensitivity</b> to measure one curve per layer",
                                           showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                                           font=dict(color="#666"))
                return
            for name, row in curves.iterrows():
                self.figure.add_trace(go.Scatter(x=list(self.amounts), y=[100 * v for v in row.values],
                                                 mode="lines+markers", name=str(name)))
            amount, base = self.explorer.params["amount"], 100 * curves.attrs["baseline"]
            self.figure.layout.shapes = (
                dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=base, y1=base,
                     line=dict(color="grey", dash="dash")),
                dict(type="line", xref="x", x0=amount, x1=amount, yref="paper", y0=0, y1=1,
                     line=dict(color="crimson")))
        self.status.value = f"curves for {html.escape(key[0])}, {html.escape(key[1])}; red line: current amount"

    def _guarded(self, fn) -> None:
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - a widget callback must not die
            self.explorer.errors.append(err)
            self.status.value = error_html(err)


@checked(amount=(0, 0.95))
def make_explorer(model: str = "lenet5", data=None, *, amount: float = 0.5, criterion: str = "l1",
                  structure: str = "structured", scope: str = "layer", fine_tune_epochs: int = 2,
                  latency: str = "quick", budget_s: float = 0.05) -> Explorer:
    """The pruning explorer on a baseline model (``lenet5`` by default: it answers within budget).

    Returns the :class:`workbench.Explorer`, with ``.pruner`` (the cached scores) and
    ``.sensitivity`` (the per-layer panel) attached. ``vgg`` works too but each move
    evaluates a larger model (see ``benchmarks/pruning.py`` for the measured medians).
    """
    data = data if data is not None else load("digits")
    check_choice("criterion", criterion, CRITERIA, what="criterion")
    check_choice("structure", structure, STRUCTURES)
    check_choice("scope", scope, SCOPES)
    check_int("fine_tune_epochs", fine_tune_epochs, 1, 50)
    baseline = get_baseline(model)
    pruner = Pruner(baseline, data)

    def compress(model: nn.Module, amount: float, criterion: str, structure: str, scope: str) -> nn.Module:
        return pruner(model, amount, criterion, structure, scope)

    def fine_tune(model: nn.Module, monitor=None) -> nn.Module:
        return fine_tune_masked(model, data, num_epochs=fine_tune_epochs, lr=1e-3, monitor=monitor)

    controls = {"amount": Slider(0.0, 0.95, 0.05, value=amount),
                "criterion": Dropdown(list(CRITERIA), value=criterion),
                "structure": Toggle(list(STRUCTURES), value=structure),
                "scope": Toggle(list(SCOPES), value=scope)}
    explorer = Explorer(compress, controls, baseline=baseline, data=data, encoding=["fp32", "csr"],
                        actions={"fine-tune": fine_tune}, latency=latency, budget_s=budget_s,
                        title=f"pruning {model}: amount, criterion, structure, scope "
                              f"(global filter pruning keeps ≥ {1 - MAX_LAYER_AMOUNT:.0%} of each layer)")
    explorer.pruner = pruner
    explorer.sensitivity = SensitivityPanel(explorer, pruner, data)
    explorer.panel.children = (*explorer.panel.children, explorer.sensitivity.widget)
    return explorer

