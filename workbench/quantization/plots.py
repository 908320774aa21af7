"""The pictures of notebook 04 (matplotlib, shown once via :func:`workbench.plots.finish`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from torch import Tensor

from .._checks import check_int
from ..plots import finish, plt
from .affine import levels, qparams
from .calibration import calibrate_range


def grid_on_weights(w: Tensor, bits: int = 3, *, channel: int | None = None, title: str = ""):
    """A layer's weights with the per-tensor grid, and one narrow channel under both grids.

    ``channel`` defaults to the channel with the smallest range: the one a shared
    per-tensor scale serves worst.
    """
    rows = w.detach().reshape(w.shape[0], -1)
    amax = rows.abs().amax(dim=1)
    channel = int(amax.argmin()) if channel is None else check_int("channel", channel, 0, w.shape[0] - 1)
    scale_t, _ = qparams(*calibrate_range(w, "minmax", bits), bits)
    scale_c, _ = qparams(-amax[channel], amax[channel], bits)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    ax = axes[0]
    ax.hist(rows.numpy().ravel(), bins=120, color="lightgrey")
    for v in levels(scale_t, 0, bits).tolist():
        ax.axvline(v, color="crimson", lw=0.8)
    ax.set_title(f"all weights, {bits}-bit per-tensor grid ({2**bits - 1} levels)", fontsize=10)
    ax.set_xlabel("weight value")
    ax = axes[1]
    ax.hist(rows[channel].numpy(), bins=40, color="lightgrey")
    lim = 1.15 * float(amax[channel])
    for v in levels(scale_t, 0, bits).tolist():
        if abs(v) <= lim:
            ax.axvline(v, color="crimson", lw=2, label="per-tensor levels" if v == 0 else None)
    for v in levels(scale_c, 0, bits).tolist():
        ax.axvline(v, color="seagreen", lw=1, ls="--", label="per-channel levels" if v == 0 else None)
    ax.set_xlim(-lim, lim)
    ax.set_title(f"channel {channel} (the narrowest): per-tensor vs per-channel grid", fontsize=10)
    ax.set_xlabel("weight value")
    ax.legend(fontsize=8, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return finish(fig)


def error_vs_bits(table: pd.DataFrame, *, title: str = "quantization error against bits"):
    """Mean squared error (log scale) against bits, one line per granularity (an ``error_table``)."""
    fig, ax = plt.subplots()
    for gran, part in table.groupby(level="granularity", sort=False):
        bits = part.index.get_level_values("bits")
        ax.semilogy(bits, part["mse"], marker="o", label=f"{gran}")
    b = np.array(sorted(set(table.index.get_level_values("bits"))))
    first = table["mse"].iloc[0]
    ax.semilogy(b, first * 4.0 ** -(b - b[0]), color="grey", ls=":", label="÷4 per bit (6 dB)")
    ax.set_xlabel("bits")
    ax.set_ylabel("mean squared error")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return finish(fig)


def calibration_ranges(x: Tensor, table: pd.DataFrame, *, bits: int = 4, title: str = ""):
    """Histogram of activations (log counts) with the upper end each calibration method chose."""
    fig, ax = plt.subplots()
    ax.hist(x.detach().numpy().ravel(), bins=150, color="lightgrey", log=True)
    colors = {"minmax": "crimson", "percentile": "darkorange", "mse": "seagreen"}
    for method, row in table.iterrows():
        ax.axvline(row["hi"], color=colors.get(method, "steelblue"), lw=2,
                   label=f"{method}: hi = {row['hi']:.2f}, {100 * row['clipped_fraction']:.3f}% clipped")
    ax.set_xlabel("activation value")
    ax.set_ylabel("count (log)")
    ax.set_title(title or f"where each method puts the top of the {bits}-bit range")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return finish(fig)


def sensitivity(table: pd.DataFrame, *, title: str = "accuracy lost when one layer alone is quantized"):
    """Bars of the accuracy drop per layer (a ``layer_sensitivity`` table, or several as columns)."""
    fig, ax = plt.subplots()
    data = table if "drop_pp" not in table else table[["drop_pp"]]
    data.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("accuracy drop (pp)")
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return finish(fig)


def size_vs_accuracy(table: pd.DataFrame, *, title: str = "size against accuracy"):
    """Scatter of size (log) against accuracy for the rows of a report's table, labelled."""
    fig, ax = plt.subplots()
    ax.scatter(table["size_bytes"] / 1e3, 100 * table["accuracy"], s=40)
    for name, x, y in zip(table.index, table["size_bytes"] / 1e3, 100 * table["accuracy"]):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("size (kB, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    fig.tight_layout()
    return finish(fig)
