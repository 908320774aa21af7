"""Where the workbench keeps data: ``data/`` at the top of the checkout.

Set ``WORKBENCH_DATA_DIR`` to keep downloads and on-demand baselines elsewhere
(a shared course drive, say).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The data folder, created if missing.

    >>> data_dir().name
    'data'
    """
    path = Path(os.environ.get("WORKBENCH_DATA_DIR", REPO_ROOT / "data"))
    path.mkdir(parents=True, exist_ok=True)
    return path
