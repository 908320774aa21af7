"""Deep Compression end to end: prune -> share -> Huffman, with the bytes and accuracy of every stage.

Each stage is a real encoding of a real model (``workbench.encodings``): its size is
``len(blob)`` and its accuracy is measured on the model decoded from ``blob``.

    >>> import workbench as wb
    >>> from workbench import sharing
    >>> rec = sharing.Recipe(amounts=(0.9, 0.9, 0.5), prune_rounds=1, prune_epochs=0, share_epochs=0)
    >>> run = sharing.deep_compress("lenet300", wb.load(), rec)
    >>> run.table["ratio"].is_monotonic_increasing
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from torch import nn

from .._checks import check_choice, check_dataset, check_fraction, check_int, check_number, checked
from ..baselines import get_baseline
from ..encodings import decoded_model, encode
from ..pruning.groups import weight_layers
from ..pruning.masks import apply_masks, threshold
from ..train import evaluate, fine_tune
from ..weights import deep_copy, plain_copy
from .kmeans import INITS
from .shared import fine_tune_centroids, layer_bits, share_weights
from .storage import encode_tensor

STAGES = {"baseline": "fp32", "pruned": "pruned", "+ shared": "pruned_shared", "+ Huffman": "deep_compression"}


@checked
@dataclass(frozen=True)
class Recipe:
    """How to compress one model; ``amounts`` is the fraction pruned in each conv/linear layer, in order."""

    amounts: tuple[float, ...]          # fraction of each layer's weights removed (magnitude)
    conv_bits: int = 8                  # codebook bits of conv layers (Han et al. 2016: 8)
    fc_bits: int = 5                    # codebook bits of fully connected layers (Han et al.: 5 or 6)
    conv_index_bits: int = 8            # relative-index bits, conv layers (Han et al.: 8)
    fc_index_bits: int = 5              # relative-index bits, fully connected layers (Han et al.: 5)
    init: str = "linear"                # centroid initialization (INITS)
    prune_rounds: int = 2               # iterative pruning: amounts reached in this many equal steps
    prune_epochs: int = 2               # masked fine-tuning epochs after each pruning step
    share_epochs: int = 2               # centroid fine-tuning epochs (rule "gradient")
    lr: float = 1e-3

    def __post_init__(self):
        check_choice("init", self.init, INITS)
        check_number("lr", self.lr, 0.0, low_inclusive=False)
        for a in self.amounts:
            check_number("amounts", a, 0.0, 1.0, high_inclusive=False)

    def options(self) -> dict:
        """The encoding options (bits) of this recipe."""
        return dict(conv_bits=self.conv_bits, fc_bits=self.fc_bits, conv_index_bits=self.conv_index_bits,
                    fc_index_bits=self.fc_index_bits)


# The recipes the notebook and benchmarks/sharing.py use (chosen on the validation split).
RECIPES = {
    "lenet300": Recipe(amounts=(0.95, 0.92, 0.7), fc_bits=5, prune_epochs=3),
    "lenet5": Recipe(amounts=(0.3, 0.82, 0.955, 0.92, 0.8), conv_bits=4, conv_index_bits=5, fc_bits=4,
                     fc_index_bits=7, prune_rounds=3, prune_epochs=3, share_epochs=3, lr=2e-3),
}


def prune_magnitude(model: nn.Module, data, amounts, *, rounds: int = 2, num_epochs: int = 2,
                    lr: float = 1e-3) -> nn.Module:
    """Iterative magnitude pruning (per-layer ``amounts``) with masked fine-tuning; returns a plain model."""
    layers = weight_layers(model)
    if len(amounts) != len(layers):
        raise ValueError(f"amounts must give one fraction per layer ({len(layers)}: {', '.join(layers)}), "
                         f"got {len(amounts)}")
    for a in amounts:
        check_fraction("amounts", a, high_inclusive=False)
    check_int("rounds", rounds, 1)
    for r in range(1, rounds + 1):
        masks = {f"{name}.weight": threshold(layer.weight.detach().abs(), a * r / rounds)
                 for (name, layer), a in zip(weight_layers(model).items(), amounts)}
        apply_masks(model, masks)
        if num_epochs:
            fine_tune(model, data, num_epochs=num_epochs, lr=lr, progress=False)
    return plain_copy(model)


@dataclass
class Run:
    """The models, blobs and measured table of one :func:`deep_compress` run."""

    name: str
    recipe: Recipe
    models: dict[str, nn.Module]
    blobs: dict[str, bytes]
    table: pd.DataFrame = field(repr=False)


@checked(skip=("data",))
def deep_compress(name: str, data, recipe: Recipe | None = None, *, baseline: nn.Module | None = None) -> Run:
    """Prune, share and Huffman-code baseline ``name``; measure bytes and decoded accuracy at every stage.

    ``table`` has one row per stage of ``STAGES``: bytes, ratio to the fp32 bytes,
    and test and validation accuracy of the model decoded from that stage's bytes.
    """
    recipe = recipe or RECIPES.get(name)
    if recipe is None:
        raise ValueError(f"no recipe for name={name!r}; pass recipe=Recipe(...) (known: {', '.join(RECIPES)})")
    check_choice("init", recipe.init, INITS, what="initialization")
    check_dataset("data", data)
    base = (baseline if baseline is not None else get_baseline(name)).eval()
    pruned = prune_magnitude(deep_copy(base), data, recipe.amounts, rounds=recipe.prune_rounds,
                             num_epochs=recipe.prune_epochs, lr=recipe.lr)
    shared = share_weights(deep_copy(pruned), recipe.conv_bits, recipe.fc_bits, recipe.init)
    shared = fine_tune_centroids(shared, data, num_epochs=recipe.share_epochs, lr=recipe.lr) \
        if recipe.share_epochs else plain_copy(shared)
    models = {"baseline": base, "pruned": pruned, "+ shared": shared, "+ Huffman": shared}
    return measure_stages(name, recipe, models, data)


def measure_stages(name: str, recipe: Recipe, models: dict[str, nn.Module], data) -> Run:
    """Encode each stage's model with its encoding, decode it back, and measure what the bytes hold."""
    blobs, rows = {}, {}
    for stage, model in models.items():
        blob = encode(model, STAGES[stage], **recipe.options())
        stored = decoded_model(model, blob).eval()
        blobs[stage] = blob
        rows[stage] = {"bytes": len(blob), "test_acc": evaluate(stored, data.X_test, data.y_test),
                       "val_acc": evaluate(stored, data.X_val, data.y_val)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.insert(1, "ratio", table.loc["baseline", "bytes"] / table["bytes"])
    table["Δ acc (pp)"] = 100 * (table["test_acc"] - table.loc["baseline", "test_acc"])
    table.index.name = name
    return Run(name, recipe, models, blobs, table)


def layer_table(run: Run) -> pd.DataFrame:
    """Per layer, like Han et al.'s tables: weights, % kept, weight and index bits per entry, compression."""
    bits = layer_bits(run.models["pruned"], run.recipe.conv_bits, run.recipe.fc_bits)
    rows = {}
    for layer in bits:
        n = int(run.models["baseline"].get_submodule(layer).weight.numel())
        weight = run.models["+ shared"].get_submodule(layer).weight.detach()
        shared, s_payload, _ = encode_tensor(weight, "relative_shared", **run.recipe.options())
        huff, h_payload, _ = encode_tensor(weight, "relative_huffman", **run.recipe.options())
        kept = int((run.models["pruned"].get_submodule(layer).weight != 0).sum())
        m = max(huff["m"], 1)
        rows[layer] = {"weights": n, "kept %": 100 * kept / n,
                       "weight bits (P+Q)": shared["vb"], "weight bits (P+Q+H)": huff["vn"] / m,
                       "index bits (P+Q)": shared["ib"], "index bits (P+Q+H)": huff["gn"] / m,
                       "size % (P+Q)": 100 * len(s_payload) / (4 * n), "size % (P+Q+H)": 100 * len(h_payload) / (4 * n)}
    return pd.DataFrame.from_dict(rows, orient="index").round(2)


# Han, Mao & Dally (2016), Tables 2 and 3: per-stage compression of LeNet-300-100 and LeNet-5 (Caffe, MNIST).
PAPER = pd.DataFrame(
    {"weights kept": ["8%", "8%"], "pruning": ["12×", "12×"], "+ sharing": ["32×", "33×"],
     "+ Huffman": ["40×", "39×"], "weight bits (P+Q)": [6, 5.3], "weight bits (P+Q+H)": [5.1, 4.1],
     "index bits (P+Q)": [5, 5], "index bits (P+Q+H)": [3.7, 4.4], "size": ["1070 KB → 27 KB", "1720 KB → 44 KB"],
     "top-1 error": ["1.64% → 1.58%", "0.80% → 0.74%"]},
    index=["LeNet-300-100", "LeNet-5"])


def side_by_side(runs: dict[str, Run]) -> pd.DataFrame:
    """The paper's per-stage figures (``PAPER``) next to ours, one row per (model, source).

    ``runs`` is keyed by the paper's model names (``"LeNet-300-100"``, ``"LeNet-5"``);
    bits are averages over the kept weights, weighted by layer.
    """
    for label in runs:
        check_choice("runs", label, PAPER.index, what="model")
    rows = {}
    for label, run in runs.items():
        t, lt = run.table, layer_table(run)
        kept = (lt["weights"] * lt["kept %"] / 100).sum() / lt["weights"].sum()
        weighted = lambda col: (lt[col] * lt["weights"] * lt["kept %"]).sum() / (lt["weights"] * lt["kept %"]).sum()
        rows[(label, "Han et al. 2016")] = PAPER.loc[label].to_dict()
        rows[(label, "measured here")] = {
            "weights kept": f"{kept:.1%}", "pruning": f"{t.loc['pruned', 'ratio']:.0f}×",
            "+ sharing": f"{t.loc['+ shared', 'ratio']:.0f}×", "+ Huffman": f"{t.loc['+ Huffman', 'ratio']:.0f}×",
            "weight bits (P+Q)": round(weighted("weight bits (P+Q)"), 1),
            "weight bits (P+Q+H)": round(weighted("weight bits (P+Q+H)"), 1),
            "index bits (P+Q)": round(weighted("index bits (P+Q)"), 1),
            "index bits (P+Q+H)": round(weighted("index bits (P+Q+H)"), 1),
            "size": f"{t.loc['baseline', 'bytes'] / 1e3:.0f} KB → {t.loc['+ Huffman', 'bytes'] / 1e3:.1f} KB",
            "top-1 error": f"{1 - t.loc['baseline', 'test_acc']:.2%} → {1 - t.loc['+ Huffman', 'test_acc']:.2%}"}
    return pd.DataFrame.from_dict(rows, orient="index")
