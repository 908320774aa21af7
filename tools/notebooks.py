"""Execute notebooks in place and keep them small and diff-able.

    python tools/notebooks.py execute notebooks/00_*.ipynb   # run, store outputs, strip
    python tools/notebooks.py strip notebooks/*.ipynb        # strip only

Stripping removes the saved widget state (a plotly FigureWidget stores megabytes of
JavaScript there), per-cell execution timestamps, and interpreter details that
differ between machines. Outputs stay: nbval compares them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat

MAX_BYTES = 400_000  # a committed notebook above this has kept something it should not


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
    return nb


def execute(path: Path, timeout: int = 600) -> float:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    nbformat.write(strip(nb), path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["execute", "strip"])
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.paths:
        if args.command == "execute":
            seconds = execute(path)
            print(f"{path}: executed in {seconds:.1f} s, {path.stat().st_size:,} bytes")
        else:
            nbformat.write(strip(nbformat.read(path, as_version=4)), path)
            print(f"{path}: stripped, {path.stat().st_size:,} bytes")
        if path.stat().st_size > MAX_BYTES:
            print(f"{path}: larger than {MAX_BYTES:,} bytes: check for embedded data", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
