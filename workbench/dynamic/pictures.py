"""Pictures of notebook 09: which digits take which exit, and the accuracy-vs-MACs curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from .._checks import check_int, checked
from ..plots import finish, plt


@checked(ndim={"chosen": 1})
def exit_examples(chosen: Tensor, exits: int, per_exit: int = 8) -> list[list[int]]:
    """The first ``per_exit`` example indices leaving at each exit (fewer where fewer leave there).

    >>> exit_examples(torch.tensor([0, 2, 0, 1, 0]), 3, per_exit=2)
    [[0, 2], [3], [1]]
    """
    check_int("per_exit", per_exit, 1)
    return [torch.nonzero(chosen == k)[:per_exit, 0].tolist() for k in range(exits)]


def montage(images: Tensor, rows: list[list[int]], per_row: int, gap: int = 2) -> Tensor:
    """One image: row ``r`` holds ``images[rows[r]]`` side by side (blank where a row is short).

    ``images`` is ``(N, H, W)`` in [0, 1] (0 is the background); the result is
    ``(R*(H+gap), per_row*(W+gap))``, 0 in the gaps and blanks (finite, so it travels as JSON).
    """
    h, w = images.shape[-2:]
    out = torch.zeros(len(rows) * (h + gap), per_row * (w + gap))
    for r, idx in enumerate(rows):
        for c, i in enumerate(idx[:per_row]):
            out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = images[i]
    return out


@checked(ndim={"chosen": 1})
def show_exit_gallery(data, chosen: Tensor, *, per_exit: int = 8, split: str = "test"):
    """The first digits leaving at each exit, one row per exit, titled with the label."""
    X, y = data.split(split)
    exits = int(chosen.max()) + 1 if len(chosen) else 1
    rows = exit_examples(chosen, exits, per_exit)
    fig, axes = plt.subplots(len(rows), per_exit, figsize=(min(10.0, per_exit * 0.9), len(rows) * 1.1), squeeze=False)
    images = data.denormalize(X)[:, 0]
    for r, idx in enumerate(rows):
        for c in range(per_exit):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(idx):
                ax.imshow(images[idx[c]], cmap="gray_r")
                ax.set_title(str(data.classes[int(y[idx[c]])]), fontsize=8)
        axes[r][0].text(-8, 14, f"exit {r + 1}", ha="right", va="center", fontsize=9)
    fig.suptitle("test digits by the exit they leave at", fontsize=10)
    return finish(fig)


@checked
def show_tradeoff(curves: Mapping[str, Sequence[tuple[float, float]]], *, points: Mapping[str, tuple] | None = None,
                  title: str = "accuracy against average MACs per example"):
    """Accuracy (y) against average MACs per example (x, log scale): one line per curve, dots per point."""
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for name, xy in curves.items():
        xs, ys = zip(*xy)
        ax.plot(xs, ys, "o-", ms=3, label=name)
    for name, (x, yv) in (points or {}).items():
        ax.plot([x], [yv], "s", ms=7, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("average MACs per example")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return finish(fig)
