"""The notebook's static figures: accuracy against MACs for the α × ρ grid, and where the MACs go."""

from __future__ import annotations

import pandas as pd

from ..plots import finish, plt


def accuracy_vs_macs(table: pd.DataFrame, *, highlight: pd.DataFrame | None = None,
                     title: str = "width and resolution multipliers: accuracy against MACs"):
    """MobileNet's log-linear picture: one line per α across resolutions, MACs on a log axis."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=90)
    for alpha, rows in table.sort_values("macs").groupby("alpha"):
        ax.plot(rows["macs"], 100 * rows["test_acc"], "o-", label=f"alpha = {alpha:g}")
        for _, r in rows.iterrows():
            ax.annotate(f"{int(r['resolution'])}px", (r["macs"], 100 * r["test_acc"]), fontsize=7,
                        textcoords="offset points", xytext=(3, -9))
    if highlight is not None and len(highlight):
        ax.scatter(highlight["macs"], 100 * highlight["test_acc"], s=160, facecolors="none", edgecolors="crimson",
                   linewidths=2, label="within 1 pp, >= 3x fewer MACs", zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel("MACs per digit (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return finish(fig)


def mac_share_bars(shares: pd.DataFrame, *, title: str = "where the MACs go"):
    """Stacked horizontal bars: each network's MACs split by layer kind."""
    kinds = [c for c in shares.columns if c not in ("macs", "params")]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(shares) + 1.4), dpi=90)
    left = pd.Series(0.0, index=shares.index)
    for kind in kinds:
        ax.barh(shares.index, 100 * shares[kind], left=100 * left, label=kind)
        left += shares[kind]
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the network's MACs (%)")
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=len(kinds), loc="upper center", bbox_to_anchor=(0.5, -0.22))
    fig.tight_layout()
    return finish(fig)
