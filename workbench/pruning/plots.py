"""Pictures for the pruning notebook (matplotlib; each ends with ``plots.finish``)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from torch import Tensor, nn

from ..plots import finish, plt
from .groups import names_to_module


def weight_histogram(model: nn.Module, layer: str, amount: float, *, bins: int = 120):
    """Histogram of one layer's weights with the magnitude threshold that removes ``amount`` of them."""
    w = names_to_module(model, layer).weight.detach().reshape(-1)
    k = round(amount * w.numel())
    cut = w.abs().sort().values[k - 1].item() if k else 0.0
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    ax.hist(w.numpy(), bins=bins, color="steelblue", alpha=0.8)
    ax.axvspan(-cut, cut, color="crimson", alpha=0.15, label=f"|w| ≤ {cut:.3f}: pruned ({amount:.0%})")
    ax.set_yscale("log")
    ax.set_xlabel(f"weight value ({layer}, {w.numel():,} weights)")
    ax.set_ylabel("count (log)")
    ax.legend(fontsize=8)
    ax.set_title("most weights are close to zero: magnitude pruning removes them")
    fig.tight_layout()
    return finish(fig)


def input_connections(model: nn.Module, layer: str, image_shape: tuple[int, int] = (28, 28)):
    """For the first linear layer: how many connections each input pixel keeps (an image)."""
    w = names_to_module(model, layer).weight.detach()
    kept = (w != 0).sum(0).reshape(image_shape).float()                                 # (H, W)
    fig, ax = plt.subplots(figsize=(3.4, 3.2))
    im = ax.imshow(kept.numpy(), cmap="viridis")
    ax.set_title(f"{layer}: weights kept per input pixel", fontsize=9)
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return finish(fig)


def accuracy_curves(table: pd.DataFrame, *, baseline: float | None = None, title: str = "", xlabel: str = "amount",
                    ylabel: str = "test accuracy"):
    """One line per row of ``table`` (columns are amounts); a dashed line at ``baseline``."""
    fig, ax = plt.subplots()
    for name, row in table.iterrows():
        style = dict(linestyle=":", color="grey") if str(name).startswith("random") else {}
        ax.plot([float(c) for c in row.index], row.values, marker="o", label=str(name), **style)
    if baseline is not None:
        ax.axhline(baseline, color="black", linestyle="--", linewidth=1, label="unpruned")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return finish(fig)


def sensitivity_curves(curves: pd.DataFrame, *, floor: float | None = None, title: str | None = None):
    """The per-layer sensitivity curves, with the unpruned accuracy and an optional floor."""
    fig, ax = plt.subplots()
    for name, row in curves.iterrows():
        ax.plot([float(c) for c in row.index], row.values, marker="o", label=str(name))
    if "baseline" in curves.attrs:
        ax.axhline(curves.attrs["baseline"], color="black", linestyle="--", linewidth=1, label="unpruned")
    if floor is not None:
        ax.axhline(floor, color="crimson", linestyle=":", linewidth=1.2, label=f"floor {floor:.3f}")
    ax.set_xlabel("amount pruned in this layer only")
    ax.set_ylabel(f"{curves.attrs.get('split', 'val')} accuracy")
    ax.set_title(title or f"sensitivity ({curves.attrs.get('structure', '')}, {curves.attrs.get('criterion', '')})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return finish(fig)


def schedule(steps: pd.DataFrame, *, title: str = "Zhu & Gupta's gradual schedule"):
    """Scheduled sparsity against the training step."""
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.step(steps["step"], steps["sparsity"], where="post")
    ax.set_xlabel("training step")
    ax.set_ylabel("sparsity")
    ax.set_title(title)
    fig.tight_layout()
    return finish(fig)


def scores_vs_oracle(scores: Mapping[str, Mapping[str, Tensor]], oracle: Mapping[str, Tensor], group: str):
    """One scatter per criterion: its score of each channel against the oracle's loss change."""
    names = list(scores)
    fig, axes = plt.subplots(1, len(names), figsize=(min(10.0, 2.3 * len(names)), 2.6), sharey=True)
    for ax, name in zip(axes if len(names) > 1 else [axes], names):
        ax.scatter(scores[name][group].numpy(), oracle[group].numpy(), s=10, alpha=0.7)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("score", fontsize=8)
        ax.tick_params(labelsize=7)
    (axes[0] if len(names) > 1 else axes).set_ylabel(f"oracle |ΔL|, {group}", fontsize=8)
    fig.tight_layout()
    return finish(fig)


def crossover(table: pd.DataFrame, *, title: str = "CSR against dense matmul"):
    """Speedup of CSR over dense against sparsity (log scale; above 1 CSR wins)."""
    fig, ax = plt.subplots(figsize=(6, 3.0))
    ax.plot(table.index, table["speedup"], marker="o")
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("sparsity")
    ax.set_ylabel("CSR speedup over dense")
    ax.set_title(title)
    fig.tight_layout()
    return finish(fig)

