"""Pictures of notebook 03: weights with their centroids, and what Huffman coding sees."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from ..encodings import huffman_lengths
from ..plots import finish, plt
from .kmeans import INITS, kmeans_1d
from .storage import relative_indices


def centroids(weight: Tensor, bits: int = 4, *, title: str = "one layer's non-zero weights and 2**bits centroids"):
    """Histogram of a layer's non-zero weights with the final k-means centroids of each initialization."""
    w = weight.detach().reshape(-1).numpy()
    w = w[w != 0]
    fig, axes = plt.subplots(1, len(INITS), figsize=(10, 2.8), dpi=90, sharey=True)
    for ax, init in zip(axes, INITS):
        book, _ = kmeans_1d(w, 2**bits, init)
        ax.hist(w, bins=80, color="#9ab")
        for c in book:
            ax.axvline(c, color="crimson", lw=0.8)
        ax.set_title(f"{init} init", fontsize=10)
        ax.set_xlabel("weight")
    axes[0].set_ylabel("count")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return finish(fig)


def huffman_view(weight: Tensor, index_bits: int = 5):
    """How often each gap and each codebook index of a shared layer occurs, with its Huffman code length."""
    flat = weight.detach().reshape(-1).numpy()
    gaps, _ = relative_indices(np.flatnonzero(flat), index_bits)
    _, index = np.unique(flat[flat != 0], return_inverse=True)
    streams = {"gaps (relative indices)": gaps - 1, "codebook indices": index}
    fig, axes = plt.subplots(1, 2, figsize=(10, 2.8), dpi=90)
    for ax, (label, sym) in zip(axes, streams.items()):
        counts = np.bincount(sym)
        lengths = huffman_lengths(counts)
        ax.bar(np.arange(len(counts)), counts, color="#9ab")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("symbol")
        ax.set_ylabel("count")
        twin = ax.twinx()
        twin.plot(np.arange(len(counts)), np.where(lengths > 0, lengths, np.nan), "o-", color="crimson", ms=3)
        twin.set_ylabel("code length (bits)", color="crimson")
    fig.tight_layout()
    return finish(fig)
