"""Static pictures (matplotlib) for the notebooks: examples, distributions, trade-offs.

Live, interactive plots belong to the explorer (plotly widgets); these are the
figures a reader looks at once. In a notebook each helper shows its figure and
returns ``None`` (so a cell shows it exactly once, with or without a trailing
``;``); elsewhere it returns the ``Figure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ._checks import check_int


class _Pyplot:
    """``matplotlib.pyplot``, imported on first use: 0.4-0.6 s of every kernel's start that a page
    drawing only plotly figures (most lecture pages) never needs.

    >>> type(plt).__name__, callable(plt.subplots)
    ('_Pyplot', True)
    """

    def __getattr__(self, name: str):
        import matplotlib.pyplot

        return getattr(matplotlib.pyplot, name)


plt = _Pyplot()                 # the pictures modules use ``from ..plots import plt``


def finish(fig):
    """Show ``fig`` once in a notebook (and close it), or return it outside one."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with jupyterlab
        return fig
    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return fig
    from IPython.display import display

    display(fig)
    plt.close(fig)
    return None


def show_examples(data, n: int = 20, *, split: str = "train", cols: int = 10):
    """A grid of the first ``n`` images of a split, titled with their labels."""
    check_int("n", n, 1, 200)
    check_int("cols", cols, 1, 50)
    X, y = data.split(split)
    n = min(n, len(y))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(min(10.0, cols * 0.75), rows * 0.9))
    for i, ax in enumerate(axes.flat if hasattr(axes, "flat") else [axes]):
        ax.axis("off")
        if i < n:
            img = data.denormalize(X[i]).clamp(0, 1)
            ax.imshow(img.permute(1, 2, 0).squeeze(-1), cmap="gray_r" if img.shape[0] == 1 else None)
            ax.set_title(data.classes[int(y[i])], fontsize=8)
    fig.suptitle(f"{data.name}: {split} examples", fontsize=10)
    fig.tight_layout()
    return finish(fig)


def latency_distribution(latencies: Mapping[str, "Latency"], *, title: str = "latency of repeated runs"):  # noqa: F821
    """Histogram of every timed run per model, medians marked: why we report medians."""
    fig, ax = plt.subplots()
    for name, lat in latencies.items():
        line = ax.hist(lat.samples_ms, bins=30, alpha=0.55, label=f"{name} (median {lat.median_ms:.2f} ms)")
        ax.axvline(lat.median_ms, color=line[2][0].get_facecolor(), linestyle="--")
    ax.set_xlabel("milliseconds per batch")
    ax.set_ylabel("runs")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return finish(fig)


def macs_vs_latency(table, *, batch_size: int = 32, title: str | None = None):
    """Scatter of MACs per example against measured latency per example (a report's table)."""
    col = f"latency_ms_b{batch_size}"
    if col not in table:
        raise ValueError(f"table has no latency at batch_size={batch_size}; measured: "
                         f"{[c for c in table.columns if c.startswith('latency_ms_b')]}")
    fig, ax = plt.subplots()
    per_example = table[col] / batch_size * 1e3
    ax.scatter(table["macs"] / 1e6, per_example, s=40)
    for name, x, y in zip(table.index, table["macs"] / 1e6, per_example):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=9)
    ax.set_xlabel("MACs per example (millions)")
    ax.set_ylabel(f"latency per example (µs, batch {batch_size})")
    ax.set_title(title or "MACs are not latency")
    fig.tight_layout()
    return finish(fig)


def bars(values: Mapping[str, float], *, xlabel: str, title: str, log: bool = False):
    """Horizontal bars, one per name (sizes of encodings, say)."""
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(values) + 1))
    names: Sequence[str] = list(values)
    ax.barh(names, [values[n] for n in names], color="steelblue")
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    return finish(fig)
