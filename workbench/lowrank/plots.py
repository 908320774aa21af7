"""Pictures for notebook 05: a layer's spectrum with the cut drawn, and speed against the MAC cut."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from torch import Tensor

from ..plots import finish, plt
from .spectra import energy


def spectrum(spectra: Mapping[str, Tensor], cuts: Mapping[str, int] | None = None, *, title: str = ""):
    """Singular values (relative to the largest) and the energy kept, with each rank cut drawn."""
    if not spectra:
        raise ValueError("spectra must hold at least one spectrum (label -> singular values)")
    cuts = dict(cuts or {})
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.2))
    for label, s in spectra.items():
        ranks = range(1, len(s) + 1)
        line, = left.plot(ranks, (s / s[0]).tolist(), label=label)
        right.plot(ranks, energy(s).tolist(), color=line.get_color(), label=label)
        if label in cuts:
            r = cuts[label]
            for ax in (left, right):
                ax.axvline(r, color=line.get_color(), linestyle="--", linewidth=1)
            right.annotate(f"rank {r}: {float(energy(s)[r - 1]):.0%}", (r, float(energy(s)[r - 1])),
                           xytext=(5, -14), textcoords="offset points", fontsize=8, color=line.get_color())
    left.set_yscale("log")
    left.set(xlabel="rank r", ylabel="σ_r / σ_1", title="singular values")
    right.set(xlabel="rank r", ylabel="energy kept", title="Σ σ_i² up to r, as a fraction", ylim=(0, 1.02))
    if len(spectra) > 1:
        right.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return finish(fig)


def speed_vs_macs(table: pd.DataFrame, *, title: str = ""):
    """Measured speedup beside the MAC cut for each row of a sweep (log scale; 1 = break-even)."""
    if table.empty:
        raise ValueError("table must hold at least one row")
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    x = [str(i) for i in table.index]
    ax.plot(x, table["mac_cut"], "o--", label="MAC cut (what the count promises)")
    ax.plot(x, table["speedup"], "o-", label="measured speedup")
    ax.axhline(1.0, color="grey", linewidth=1)
    ax.set_yscale("log")
    ax.set(xlabel=table.index.name or "", ylabel="× (dense / factored)", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return finish(fig)
