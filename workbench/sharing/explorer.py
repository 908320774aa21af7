"""The weight-sharing explorer: sparsity, bits for conv and FC layers, centroid initialization.

    >>> ex = make_explorer(latency="off")
    >>> ex.set(sparsity=0.9, conv_bits=4, fc_bits=3, init="linear").size_bytes < 15_000
    True

A move must answer within 250 ms, so the expensive parts are cached: the pruned
baseline per sparsity and every layer's k-means per (weights, bits, init) —
moving back to a setting already seen is instant. A move prunes the baseline by
magnitude (the same fraction of every layer, no retraining), shares each layer's
weights, encodes the result with Deep Compression's format and evaluates the
decoded model. The bar chart below the plots splits the bytes of the current
setting at each stage. "fine-tune centroids" trains the codebooks for one epoch
(Han et al. 2016's rule), with the assignments and the zeros fixed.
"""

from __future__ import annotations

import ipywidgets as widgets
from torch import nn

from .._checks import check_choice, check_fraction, check_int
from ..baselines import get_baseline
from ..data import load
from ..explorer import Explorer
from ..pruning.groups import weight_layers
from ..pruning.masks import threshold
from ..weights import deep_copy, plain_copy
from ..widgets import Dropdown, Slider
from .kmeans import INITS
from .shared import fine_tune_centroids, share_weights
from .storage import PARTS, breakdown

# Every codebook is exact after sharing, so the encoding reads the bits off the model (16 = "as many as needed").
EXACT = dict(conv_bits=16, fc_bits=16, conv_index_bits=8, fc_index_bits=5)
BAR_STAGES = {"pruned": "pruned", "+ shared": "pruned_shared", "+ Huffman": "deep_compression"}
BAR_PARTS = (*PARTS, "biases", "header")


class Sharer:
    """``compress(model, sparsity, conv_bits, fc_bits, init)`` with pruned models and k-means cached."""

    def __init__(self, baseline: nn.Module):
        self.baseline = baseline
        self.kmeans: dict = {}                     # (layer, bits, init, ...) -> (codebook, index)
        self._pruned: dict[float, nn.Module] = {}

    def pruned(self, sparsity: float) -> nn.Module:
        """The baseline with ``sparsity`` of every layer's weights zeroed by magnitude (cached)."""
        check_fraction("sparsity", sparsity, high_inclusive=False)
        if sparsity not in self._pruned:
            model = deep_copy(self.baseline)
            for layer in weight_layers(model).values():
                keep = threshold(layer.weight.detach().abs(), sparsity)
                layer.weight.data.mul_(keep)
            self._pruned[sparsity] = model
        return self._pruned[sparsity]

    def __call__(self, model: nn.Module, sparsity: float, conv_bits: int, fc_bits: int, init: str) -> nn.Module:
        check_int("conv_bits", conv_bits, 1, 16)
        check_int("fc_bits", fc_bits, 1, 16)
        check_choice("init", init, INITS, what="initialization")
        shared = share_weights(deep_copy(self.pruned(sparsity)), conv_bits, fc_bits, init, cache=self.kmeans)
        return plain_copy(shared)


class BytesBar:
    """A stacked bar of the current setting's bytes at each stage (values, indices, fillers, codebook, …)."""

    def __init__(self, explorer: Explorer):
        import plotly.graph_objects as go

        self.explorer = explorer
        self.figure = go.FigureWidget(layout=dict(
            title="bytes of the current setting, stage by stage", barmode="stack", height=280,
            xaxis_title="kB", margin=dict(l=90, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.35)))
        for part in BAR_PARTS:
            self.figure.add_bar(y=list(BAR_STAGES), x=[0.0] * len(BAR_STAGES), name=part, orientation="h")
        self.parts = None
        self._cache: dict[tuple, dict] = {}          # control values -> bytes per stage and part
        for w in explorer.controls.values():
            w.observe(lambda _: self.redraw(), names="value")
        self.redraw()

    def redraw(self) -> None:
        """Encode the current model at every stage and stack its parts."""
        try:
            model = self.explorer.model
        except Exception as err:  # noqa: BLE001 - the explorer shows the error
            self.explorer.errors.append(err)
            return
        key = tuple(sorted(self.explorer.params.items()))
        if key not in self._cache:
            self._cache[key] = {stage: breakdown(model, enc, **EXACT).sum() for stage, enc in BAR_STAGES.items()}
        self.parts = tables = self._cache[key]
        with self.figure.batch_update():
            for trace, part in zip(self.figure.data, BAR_PARTS):
                trace.x = [tables[stage][part] / 1e3 for stage in BAR_STAGES]


def make_explorer(data=None, *, model: str = "lenet5", sparsity: float = 0.8, conv_bits: int = 5,
                  fc_bits: int = 4, init: str = "linear", latency: str = "button") -> Explorer:
    """The weight-sharing explorer on a baseline (LeNet-5 by default: it has conv and FC layers).

    Returns the :class:`workbench.Explorer` with ``.sharer`` (the caches) and
    ``.bytes_bar`` (the stacked bar) attached; the action "fine-tune centroids"
    trains the current codebooks for one epoch.
    """
    data = data if data is not None else load()
    check_fraction("sparsity", sparsity, high_inclusive=False)
    check_int("conv_bits", conv_bits, 1, 8)
    check_int("fc_bits", fc_bits, 1, 8)
    check_choice("init", init, INITS, what="initialization")
    baseline = get_baseline(model)
    sharer = Sharer(baseline)

    def compress(model: nn.Module, sparsity: float, conv_bits: int, fc_bits: int, init: str) -> nn.Module:
        return sharer(model, sparsity, conv_bits, fc_bits, init)

    def fine_tune(model: nn.Module, monitor=None) -> nn.Module:
        shared = share_weights(model, 16, 16)       # exact: recovers each layer's codebook and indices
        return fine_tune_centroids(shared, data, num_epochs=1, lr=1e-3, monitor=monitor)

    controls = {"sparsity": Slider(0.0, 0.95, 0.05, value=sparsity),
                "conv_bits": Slider(1, 8, 1, value=conv_bits),
                "fc_bits": Slider(1, 8, 1, value=fc_bits),
                "init": Dropdown(list(INITS), value=init)}
    explorer = Explorer(compress, controls, baseline=baseline, data=data, encoding="deep_compression",
                        actions={"fine-tune centroids": fine_tune}, latency=latency, x="sparsity",
                        title=f"weight sharing {model}: sparsity, bits, initialization", **EXACT)
    explorer.sharer = sharer
    explorer.bytes_bar = BytesBar(explorer)
    explorer.panel.children = (*explorer.panel.children, explorer.bytes_bar.figure)
    return explorer
