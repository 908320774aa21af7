"""The first cell of every notebook: seeds, threads, display options, one status line.

    >>> setup(seed=0, threads=1, quiet=True)
    >>> torch.get_num_threads()
    1
"""

from __future__ import annotations

import os
import warnings

import torch

from ._checks import check_int
from .train import get_device, seed_everything


def setup(seed: int = 0, *, threads: int | None = None, quiet: bool = False) -> None:
    """Seed everything, fix the thread count, set display options, print one status line.

    ``threads`` defaults to ``WORKBENCH_THREADS`` if set, else PyTorch's own choice
    (one per physical core). The line names what latency depends on.
    """
    check_int("seed", seed, 0, 2**32 - 1)
    threads = threads or int(os.environ.get("WORKBENCH_THREADS", "0")) or torch.get_num_threads()
    check_int("threads", threads, 1, 1024)
    torch.set_num_threads(threads)
    seed_everything(seed)
    _quiet_warnings()
    _display_options()
    if not quiet:
        print(f"torch {torch.__version__.split('+')[0]} | device: {get_device().type} | "
              f"{threads} threads | seed {seed}")


def _quiet_warnings() -> None:
    # Deprecation notices from libraries the learner did not call directly are noise
    # in a lesson; warnings raised by the learner's own code still show.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao\..*")
    warnings.filterwarnings("ignore", message=r".*is an Enum subclass and is now natively supported.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torchao\..*")


def _display_options() -> None:
    import pandas as pd

    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", None)
    pd.set_option("display.precision", 4)
    try:
        import matplotlib as mpl

        mpl.rcParams.update({"figure.figsize": (7.5, 3.6), "figure.dpi": 90, "axes.grid": True,
                             "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False})
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass
