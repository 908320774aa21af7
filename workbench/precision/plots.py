"""Static figures of notebook 08: gradients against a format's range, loss curves."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from torch import Tensor

from ..plots import finish
from .formats import Format, get_format
from .gradients import log2_histogram


def plot_gradient_histogram(gradients: Mapping[str, Tensor], fmt: str | Format = "fp16", *, scale: float = 1.0):
    """Histogram of ``log2 |g × scale|`` per gradient set, with the format's limits drawn in.

    Bars left of the dotted line become zero when stored in the format (Micikevicius
    et al. 2018, figure 3, drew the same picture for an SSD detector).
    """
    import matplotlib.pyplot as plt

    f = get_format(fmt)
    shift = math.log2(scale)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for (kind, g), color in zip(gradients.items(), ("steelblue", "darkorange")):
        edges, counts = log2_histogram(g, low=-60, high=10)
        ax.bar((edges[:-1] + 0.5 + shift).numpy(), counts.numpy(), width=1.0, alpha=0.55, color=color,
               label=f"{kind} gradients")
    for x, name, style in ((f.smallest_subnormal, "smallest subnormal", ":"),
                           (f.smallest_normal, "smallest normal", "--"), (f.max, "max", "-")):
        ax.axvline(math.log2(x), color="crimson", linestyle=style, label=f"{f.name} {name}")
    ax.set_yscale("log")
    ax.set_xlabel("log2 |gradient" + (f" × 2^{shift:g}" if shift else "") + "|")
    ax.set_ylabel("count")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return finish(fig)


def plot_losses(histories: Sequence, *, smooth: int = 5):
    """Training loss per step of several runs (a running mean over ``smooth`` steps)."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 3.0))
    for h in histories:
        loss = np.asarray(h.losses, dtype=float)
        k = max(1, min(smooth, len(loss)))
        ax.plot(np.arange(k, len(loss) + 1), np.convolve(loss, np.ones(k) / k, mode="valid"), label=h.label)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return finish(fig)
