"""Command line: ``python -m workbench baselines [MODEL ...] [--dataset NAME]``.

Rebuilds the committed baselines (see ``make baselines``).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"baselines": "retrain the baselines (same seed, same machine -> same accuracy)"}
    if not argv or argv[0] not in commands:
        listed = "\n".join(f"  {name:10s} {text}" for name, text in commands.items())
        print(f"usage: python -m workbench COMMAND [ARGS]\ncommands:\n{listed}")
        raise SystemExit(2 if argv else 0)
    from .baselines import main as baselines_main

    baselines_main(argv[1:])


if __name__ == "__main__":
    main()
