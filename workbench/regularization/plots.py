"""Pictures for the regularization notebook (matplotlib; each ends with ``plots.finish``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import nn

from ..plots import finish, plt
from ..pruning.groups import names_to_module
from .penalties import group_norms


def weight_histograms(models: Mapping[str, nn.Module], layer: str, *, bins: int = 161, limit: float = 0.02):
    """One histogram per model of a layer's weights near zero, with the count of exact zeros in the legend."""
    fig, ax = plt.subplots(figsize=(8, 3.0), dpi=90)
    for name, model in models.items():
        w = names_to_module(model, layer).weight.detach().reshape(-1)
        zeros = int((w == 0).sum())
        near = w[(w.abs() <= limit)]
        ax.hist(near.numpy(), bins=bins, range=(-limit, limit), alpha=0.55,
                label=f"{name}: {zeros:,} of {w.numel():,} exactly 0")
    ax.set_yscale("log")
    ax.set_xlabel(f"weight value near zero ({layer}, |w| ≤ {limit})")
    ax.set_ylabel("count (log)")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("the penalty makes weights small; only the proximal step makes them zero", fontsize=10)
    fig.tight_layout()
    return finish(fig)


def filter_norms(models: Mapping[str, nn.Module], kind: str = "filter", *, layers: Sequence[str] | None = None):
    """Sorted group norms per layer, one line per model: group lasso pins whole groups at zero."""
    first = group_norms(next(iter(models.values())), kind)
    layers = list(layers or first)
    fig, axes = plt.subplots(1, len(layers), figsize=(min(10, 2.6 * len(layers)), 2.8), dpi=90, squeeze=False)
    for ax, layer in zip(axes[0], layers):
        for name, model in models.items():
            norms = group_norms(model, kind)[layer].detach().sort(descending=True).values
            ax.plot(range(len(norms)), norms.numpy(), marker=".", label=name)
        ax.set_title(f"{layer} ({len(first[layer])} {kind}s)", fontsize=9)
        ax.set_xlabel(f"{kind}, largest norm first", fontsize=8)
    axes[0][0].set_ylabel("L2 norm")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return finish(fig)


def path(table, *, title: str = "along the regularization path"):
    """Validation accuracy and surviving channels against λ (a table from the notebook's path)."""
    fig, ax = plt.subplots(figsize=(7, 2.8), dpi=90)
    lams = [str(v) for v in table.index]
    ax.plot(lams, 100 * table["val_acc"], marker="o", color="steelblue")
    ax.set_xlabel("λ (each trained from the previous one)")
    ax.set_ylabel("val accuracy (%)", color="steelblue")
    twin = ax.twinx()
    twin.plot(lams, 100 * table["channels_kept"], marker="s", color="crimson")
    twin.set_ylabel("channels kept (%)", color="crimson")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return finish(fig)
