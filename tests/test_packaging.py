"""The set-up commands and the two dependency lists stay in step."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    wanted = {r.split("#")[0].strip() for r in wanted}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {r for r in pip if not r.startswith("-e")} == wanted
    assert "-e ." in pip


def test_torch_and_torchvision_are_a_pinned_pair_everywhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lock = (ROOT / "requirements" / "lock.txt").read_text().splitlines()
    for pkg, version in (("torch", "2.14.1"), ("torchvision", "0.29.1")):
        assert f"{pkg}=={version}" in project and f"{pkg}=={version}" in lock


def test_every_dependency_is_locked():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = {_name(line) for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines() if line}
    for req in project["dependencies"] + project["optional-dependencies"]["test"]:
        assert _name(req).replace("_", "-") in {n.replace("_", "-") for n in lock}, req


def test_readme_commands_exist_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "make lab" in readme and "make test" in readme
    assert re.search(r"^lab: ", makefile, re.M) and re.search(r"^test: ", makefile, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().splitlines()[-1] == "make test"


def test_importing_the_workbench_leaves_the_slow_optional_imports_for_later():
    """A lecture page's wait is mostly its kernel's start: ``import workbench`` and every technique
    subpackage must not import matplotlib's pyplot (0.4-0.6 s; imported when a picture is drawn)
    nor build rfc3987-syntax's parsers (1.5-3 s through plotly -> nbformat -> jsonschema)."""
    import os
    import subprocess
    import sys

    code = ("import sys, workbench, plotly.graph_objects as go\n"
            "from workbench import (distillation, dynamic, efficient, lowrank, precision, pruning, quantization,\n"
            "                       regularization, sharing)\n"
            "go.FigureWidget()\n"
            "print(sorted(m for m in ('matplotlib.pyplot', 'rfc3987_syntax') if sys.modules.get(m) is not None))\n"
            "workbench.plots.plt.figure()\n"
            "print('matplotlib.pyplot' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={k: v for k, v in os.environ.items() if k != "WORKBENCH_IRI_FORMATS"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split("\n")[:2] == ["[]", "True"], run.stdout
