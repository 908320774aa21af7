"""The λ explorer: a regularization path trained once, a threshold applied after training.

    >>> from workbench import load
    >>> ds = load()
    >>> ex = make_explorer(ds, lams=(0.0, 0.01), latency="off")
    >>> ex.set(lam=0.01, threshold=0.3).params <= ex.base_point.measurement.params
    True

Training on every move would take seconds, so the expensive part happens once per
regularizer: :func:`~workbench.regularization.training.regularization_path` trains
along rising λ, each strength warm-started from the last, and keeps a snapshot at
each. The λ slider picks a snapshot; the threshold slider then zeroes every group
(or, for L1, every weight) whose norm is at most ``threshold`` times the largest
of its layer, removes the channels that compute nothing, and the panel measures
the result. Choosing a regularizer whose path is not trained yet trains it, with
the panel's progress bar and live curves. A bar chart under the plots shows, per
layer, how many channels survive.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._checks import check_choice, check_int, check_number, checked
from ..baselines import get_baseline
from ..data import load
from ..explorer import Explorer
from ..pruning.groups import channel_groups, weight_layers
from ..widgets import Dropdown, Slider
from ..weights import deep_copy
from .penalties import group_sets, zero_groups_
from .surgery import remove_zero_channels
from .training import REGULARIZERS, Snapshot, regularization_path

DEFAULT_LAMS = (0.0, 0.002, 0.005, 0.01, 0.02)
THRESHOLDS = Slider(0.0, 0.5, 0.025, value=0.0)


def fitting_regularizers(model: nn.Module) -> list[str]:
    """The regularizers whose groups exist in ``model`` (no depth groups without residual blocks)."""
    out = []
    for name in REGULARIZERS:
        if name.startswith("group-"):
            try:
                group_sets(model, name.removeprefix("group-"))
            except ValueError:
                continue
        out.append(name)
    return out


@torch.no_grad()
def apply_threshold(model: nn.Module, regularizer: str, threshold: float) -> nn.Module:
    """Zero what lies at or below ``threshold`` × its layer's largest norm, in place.

    Groups of the regularizer's kind for group lasso; single weights otherwise.
    """
    check_choice("regularizer", regularizer, REGULARIZERS, what="regularizer")
    if threshold <= 0:
        return model
    if regularizer.startswith("group-"):
        zero_groups_(model, regularizer.removeprefix("group-"), threshold, relative=True)
        return model
    for layer in weight_layers(model).values():
        w = layer.weight
        w.mul_((w.abs() > threshold * w.abs().max()).to(w.dtype))
    return model


class Paths:
    """Regularization paths by regularizer, trained on first use and kept."""

    def __init__(self, baseline: nn.Module, data, lams: Sequence[float], epochs_per_lam: int, **train_kwargs):
        self.baseline, self.data, self.lams = baseline, data, tuple(lams)
        self.epochs_per_lam, self.train_kwargs = epochs_per_lam, train_kwargs
        self.paths: dict[str, list[Snapshot]] = {}

    def get(self, regularizer: str, monitor=None) -> list[Snapshot]:
        check_choice("regularizer", regularizer, REGULARIZERS, what="regularizer")
        if regularizer not in self.paths:
            kw = dict(self.train_kwargs, monitor=monitor) if monitor is not None else dict(self.train_kwargs)
            self.paths[regularizer] = regularization_path(self.baseline, self.data, regularizer, self.lams,
                                                          epochs_per_lam=self.epochs_per_lam, **kw)
        return self.paths[regularizer]

    def snapshot(self, regularizer: str, lam: float, monitor=None) -> Snapshot:
        for s in self.get(regularizer, monitor):
            if s.lam == lam:
                return s
        raise ValueError(f"lam must be one of the path's strengths {list(self.lams)}, got {lam}")


class SurvivorsPlot:
    """Per layer: channels that survive the current setting, against the baseline's."""

    def __init__(self, explorer: Explorer):
        import plotly.graph_objects as go

        self.explorer = explorer
        self.totals = {g.name: g.channels for g in channel_groups(explorer.baseline)}
        names = list(self.totals)
        self.figure = go.FigureWidget(
            data=[go.Bar(x=names, y=[0] * len(names), name="kept", marker_color="seagreen"),
                  go.Bar(x=names, y=list(self.totals.values()), name="removed", marker_color="lightgray")],
            layout=dict(barmode="stack", height=260, autosize=True, title="channels kept per layer",
                        margin=dict(l=40, r=20, t=40, b=40), legend=dict(orientation="h", y=-0.25)))
        for w in explorer.controls.values():
            w.observe(lambda _: self.redraw(), names="value")
        self.redraw()

    def kept(self) -> dict[str, int]:
        return {g.name: g.channels for g in channel_groups(self.explorer.model)}

    def redraw(self) -> None:
        try:
            kept = self.kept()
        except Exception:  # noqa: BLE001 - the explorer's panel shows the error already
            return
        with self.figure.batch_update():
            self.figure.data[0].y = [kept.get(n, 0) for n in self.totals]
            self.figure.data[1].y = [t - kept.get(n, 0) for n, t in self.totals.items()]


@checked
def make_explorer(data=None, *, model: str = "lenet5", regularizer: str = "group-filter",
                  lams: Sequence[float] = DEFAULT_LAMS, epochs_per_lam: int = 1, path: list[Snapshot] | None = None,
                  lr: float = 0.02, optimizer: str = "sgd", latency: str = "quick", budget_s: float = 0.05) -> Explorer:
    """The λ/threshold explorer on a baseline; pass ``path`` (from ``regularization_path``) to reuse one.

    Returns the :class:`workbench.Explorer` with ``.paths`` and ``.survivors`` attached.
    """
    data = data if data is not None else load()
    check_choice("regularizer", regularizer, REGULARIZERS, what="regularizer")
    check_int("epochs_per_lam", epochs_per_lam, 1, 20)
    from ..train import OPTIMIZERS
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_number("lr", lr, 0.0, low_inclusive=False)
    baseline = get_baseline(model)
    if path is not None:
        lams = tuple(s.lam for s in path)
    if not lams:
        raise ValueError("lams must list at least one strength")
    paths = Paths(baseline, data, lams, epochs_per_lam, lr=lr, optimizer=optimizer, progress=False)
    if path is not None:
        paths.paths[regularizer] = list(path)
    options = fitting_regularizers(baseline)
    check_choice("regularizer", regularizer, options, what="regularizer for this model")

    def compress(model: nn.Module, regularizer: str, lam: float, threshold: float, monitor=None) -> nn.Module:
        snap = deep_copy(paths.snapshot(regularizer, lam, monitor).model)
        return remove_zero_channels(apply_threshold(snap, regularizer, threshold))

    controls = {"lam": Slider(options=list(lams), value=lams[-1], description="λ"),
                "threshold": THRESHOLDS,
                "regularizer": Dropdown(options, value=regularizer)}
    explorer = Explorer(compress, controls, baseline=baseline, data=data, encoding=["fp32", "csr"], x="threshold",
                        latency=latency, budget_s=budget_s, title=f"sparsity regularization on {model}: λ and threshold")
    explorer.paths = paths
    explorer.survivors = SurvivorsPlot(explorer)
    explorer.panel.children = (*explorer.panel.children, explorer.survivors.figure)
    return explorer
