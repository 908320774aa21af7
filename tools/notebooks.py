"""Execute notebooks in place and keep them small and diff-able.

    python tools/notebooks.py execute notebooks/00_*.ipynb   # check the machine, run, store outputs, strip
    python tools/notebooks.py execute --force notebooks/…    # store even if the machine looked busy
    python tools/notebooks.py strip notebooks/*.ipynb        # strip only

Stripping removes the saved widget state (a plotly FigureWidget stores megabytes of
JavaScript there), per-cell execution timestamps, and interpreter details that
differ between machines. Outputs stay: nbval compares them.

Stored timings must come from a quiet machine (a loaded one printed "LeNet-5 at
105.7 ms for batch 1 against 10.6 ms for batch 32"). So ``execute`` checks the
machine before and after each notebook and refuses to store the outputs when it
was busy, saying why:

- the 1-minute load average above ``MAX_LOAD_PER_CORE`` per core (before only:
  afterwards it counts the notebook's own work);
- a calibration timing — one thread, a fixed 192×192 matmul, ``CALIBRATION_RUNS``
  times — whose spread (90th / 10th percentile) exceeds ``MAX_SPREAD``, or whose
  median is more than ``MAX_SLOWDOWN`` times the quietest median this machine has
  recorded (kept in ``~/.cache/workbench/calibration.json``, or
  ``$WORKBENCH_CALIBRATION``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

MAX_BYTES = 400_000  # a committed notebook above this has kept something it should not
MAX_LOAD_PER_CORE = 1.5
MAX_SPREAD = 1.6     # 90th / 10th percentile of the calibration runs
MAX_SLOWDOWN = 1.6   # calibration median / the quietest median recorded here
CALIBRATION_RUNS = 150
EXIT_BUSY = 3


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
    return nb


# ---------------------------------------------------------------------- is the machine quiet?
@dataclass
class Check:
    """One look at the machine: load per core and a calibration timing; ``reasons`` says why it is busy."""

    load_per_core: float | None
    median_ms: float
    spread: float
    reference_ms: float | None
    reasons: list[str] = field(default_factory=list)

    @property
    def quiet(self) -> bool:
        return not self.reasons

    def __str__(self) -> str:
        load = "n/a" if self.load_per_core is None else f"{self.load_per_core:.2f}"
        ref = "none yet" if self.reference_ms is None else f"{self.reference_ms:.3f} ms"
        return (f"load {load}/core, calibration median {self.median_ms:.3f} ms, spread {self.spread:.2f} "
                f"(p90/p10), quietest recorded {ref}")


def calibration_samples(runs: int = CALIBRATION_RUNS) -> list[float]:
    """Milliseconds of a fixed single-thread matmul, ``runs`` times (after a warm-up)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = torch.randn(192, 192, generator=torch.Generator().manual_seed(0))
        for _ in range(5):
            a @ a
        out = []
        for _ in range(runs):
            start = time.perf_counter()
            for _ in range(4):
                a @ a
            out.append(1e3 * (time.perf_counter() - start))
        return out
    finally:
        torch.set_num_threads(old)


def judge(samples_ms: list[float], load_per_core: float | None, reference_ms: float | None) -> Check:
    """Decide from the numbers alone (no timing here, so it can be tested).

    >>> judge([1.0] * 20, 0.2, 1.0).quiet
    True
    >>> judge([1.0] * 10 + [3.0] * 10, 0.2, None).reasons
    ['calibration spread 3.00 (p90/p10) > 1.6: other processes interrupted the timing']
    """
    if len(samples_ms) < 2:
        raise ValueError("samples_ms must hold at least two calibration timings")
    deciles = statistics.quantiles(samples_ms, n=10, method="inclusive")
    median, spread = statistics.median(samples_ms), deciles[-1] / deciles[0]
    check = Check(load_per_core, median, spread, reference_ms)
    if load_per_core is not None and load_per_core > MAX_LOAD_PER_CORE:
        check.reasons.append(f"load average {load_per_core:.2f} per core > {MAX_LOAD_PER_CORE}: "
                             f"other processes compete for the CPU")
    if spread > MAX_SPREAD:
        check.reasons.append(f"calibration spread {spread:.2f} (p90/p10) > {MAX_SPREAD}: "
                             f"other processes interrupted the timing")
    if reference_ms is not None and median > MAX_SLOWDOWN * reference_ms:
        check.reasons.append(f"calibration {median / reference_ms:.2f}× slower than the quietest run recorded "
                             f"here ({reference_ms:.3f} ms) > {MAX_SLOWDOWN}×")
    return check


def _reference_path() -> Path:
    return Path(os.environ.get("WORKBENCH_CALIBRATION", Path.home() / ".cache" / "workbench" / "calibration.json"))


def _machine() -> str:
    return f"{platform.node()}|{platform.processor() or platform.machine()}|{os.cpu_count()}"


def load_reference() -> float | None:
    try:
        return json.loads(_reference_path().read_text()).get(_machine())
    except (OSError, ValueError):
        return None


def save_reference(median_ms: float) -> None:
    """Record ``median_ms`` if it is the quietest calibration seen on this machine."""
    path = _reference_path()
    try:
        table = json.loads(path.read_text()) if path.exists() else {}
        if median_ms < table.get(_machine(), float("inf")):
            table[_machine()] = median_ms
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(table, indent=1))
    except (OSError, ValueError):
        pass                                   # a read-only home only loses the reference


def check_machine(*, with_load: bool = True) -> Check:
    """Look at the machine now (about a tenth of a second)."""
    load = os.getloadavg()[0] / (os.cpu_count() or 1) if with_load and hasattr(os, "getloadavg") else None
    check = judge(calibration_samples(), load, load_reference())
    if check.quiet:
        save_reference(check.median_ms)
    return check


# ---------------------------------------------------------------------- executing
def execute(path: Path, timeout: int = 600, *, write: bool = True) -> tuple[float, nbformat.NotebookNode]:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    if write:
        nbformat.write(strip(nb), path)
    return seconds, nb


def _refuse(path: Path, when: str, check: Check) -> int:
    print(f"{path}: machine busy {when} ({check}); outputs NOT stored:", file=sys.stderr)
    for reason in check.reasons:
        print(f"  - {reason}", file=sys.stderr)
    print("  wait for a quiet machine and run again, or pass --force to store them anyway", file=sys.stderr)
    return EXIT_BUSY


def execute_checked(path: Path, *, force: bool = False) -> int:
    """Execute ``path`` and store its outputs only if the machine was quiet before and after."""
    before = check_machine()
    if not before.quiet and not force:
        return _refuse(path, "before running", before)
    seconds, nb = execute(path, write=False)
    after = check_machine(with_load=False)
    if not after.quiet and not force:
        return _refuse(path, "after running", after)
    for when, check in (("before", before), ("after", after)):
        if not check.quiet:
            print(f"{path}: --force: stored although the machine was busy {when}: {'; '.join(check.reasons)}",
                  file=sys.stderr)
    nbformat.write(strip(nb), path)
    print(f"{path}: executed in {seconds:.1f} s, {path.stat().st_size:,} bytes; machine before: {before}; "
          f"after: {after}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["execute", "strip"])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--force", action="store_true",
                        help="store outputs even when the machine looked busy (timings may be nonsense)")
    args = parser.parse_args(argv)
    for path in args.paths:
        if args.command == "execute":
            code = execute_checked(path, force=args.force)
            if code:
                return code
        else:
            nbformat.write(strip(nbformat.read(path, as_version=4)), path)
            print(f"{path}: stripped, {path.stat().st_size:,} bytes")
        if path.stat().st_size > MAX_BYTES:
            print(f"{path}: larger than {MAX_BYTES:,} bytes: check for embedded data", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
