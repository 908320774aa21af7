"""The notebook's static figures (matplotlib, shown once through ``workbench.plots.finish``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from ..plots import finish, plt
from .losses import soften


def soft_targets(logits: Tensor, images: Tensor, labels: Tensor, classes: Sequence[str],
                 temperatures: Sequence[float] = (1.0, 4.0, 20.0)):
    """One row per digit: the image, then the teacher's distribution at each temperature (true class red)."""
    k, cols = len(labels), len(temperatures) + 1
    fig, axes = plt.subplots(k, cols, figsize=(min(10.0, 2.0 * cols), 1.25 * k + 0.5), squeeze=False,
                             gridspec_kw=dict(width_ratios=[0.6] + [1] * (cols - 1)))
    for r in range(k):
        axes[r, 0].imshow(images[r], cmap="gray_r")
        axes[r, 0].axis("off")
        colors = ["crimson" if i == int(labels[r]) else "steelblue" for i in range(len(classes))]
        for c, t in enumerate(temperatures, start=1):
            ax = axes[r, c]
            ax.bar(classes, soften(logits[r], t).tolist(), color=colors)
            ax.set_ylim(0, 1)
            ax.tick_params(labelsize=7)
            ax.grid(False)
            if r == 0:
                ax.set_title(f"T = {t:g}", fontsize=9)
            if c > 1:
                ax.set_yticklabels([])
    fig.suptitle("the same teacher logits, softened: higher T shows which wrong classes it finds similar", fontsize=9)
    fig.tight_layout()
    return finish(fig)


def similarity(logits: Tensor, y: Tensor, classes: Sequence[str], temperature: float = 4.0):
    """Mean softened teacher distribution per true class, the diagonal left out: the teacher's confusions."""
    p = soften(logits, temperature)
    n = len(classes)
    m = torch.stack([p[y == c].mean(0) for c in range(n)]).numpy()   # (true class, predicted class)
    np.fill_diagonal(m, np.nan)
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    im = ax.imshow(m, cmap="viridis")
    ax.set_xticks(range(n), classes)
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("wrong class")
    ax.set_ylabel("true class")
    ax.grid(False)
    for r in range(n):
        c = int(np.nanargmax(m[r]))
        ax.text(c, r, f"{m[r, c]:.2f}", ha="center", va="center", fontsize=7, color="white")
    fig.colorbar(im, ax=ax, label=f"mean probability at T = {temperature:g}")
    ax.set_title("dark knowledge: what each digit resembles", fontsize=10)
    fig.tight_layout()
    return finish(fig)


def gradient_scale(temperatures: Sequence[float], norms: Mapping[str, Sequence[float]]):
    """Gradient norm of the soft term against temperature, one line per variant (log scale)."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for label, values in norms.items():
        ax.plot(temperatures, values, marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("temperature T")
    ax.set_ylabel("‖gradient wrt student logits‖")
    ax.set_title("why the soft term is multiplied by T²", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return finish(fig)


def seeds(comparison, *, title: str = "same student, same budget, three seeds"):
    """Test accuracy per seed: from labels, distilled, and the teacher as a line."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    groups = {"from labels": comparison.scratch, "distilled": comparison.distilled}
    for x, (label, values) in enumerate(groups.items()):
        accs = [100 * v for v in values.values()]
        xs = [x + 0.1 * (k - (len(accs) - 1) / 2) for k in range(len(accs))]    # side by side: ties stay visible
        ax.scatter(xs, accs, s=40, zorder=3)
        ax.hlines(np.mean(accs), x - 0.25, x + 0.25, color="black", label="mean" if x == 0 else None)
        for xi, s, a in zip(xs, values, accs):
            ax.annotate(f"{s}", (xi, a), xytext=(0, 6), textcoords="offset points", fontsize=7, ha="center")
    ax.axhline(100 * comparison.teacher_accuracy, color="grey", linestyle="--", label="teacher")
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title + " (numbers: seeds)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return finish(fig)


def learning_curves(histories: Mapping[str, object], *, title: str = "validation accuracy while training"):
    """Validation accuracy per epoch, one line per run (``History`` objects)."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, h in histories.items():
        ax.plot([r["epoch"] for r in h.records], [100 * r["val_acc"] for r in h.records], label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("val accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return finish(fig)


def per_class(accuracies: Mapping[str, Sequence[float]], classes: Sequence[str], *, highlight: int | None = None,
              title: str = "test accuracy per digit"):
    """Grouped bars of per-class accuracy, one group per digit and one bar per model."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    n, width = len(accuracies), 0.8 / len(accuracies)
    for i, (label, values) in enumerate(accuracies.items()):
        ax.bar(np.arange(len(classes)) + (i - (n - 1) / 2) * width, [100 * v for v in values], width, label=label)
    if highlight is not None:
        ax.axvspan(highlight - 0.45, highlight + 0.45, color="gold", alpha=0.2, zorder=0)
    ax.set_xticks(range(len(classes)), classes)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(accuracies), frameon=False)
    fig.tight_layout()
    return finish(fig)
