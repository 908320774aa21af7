"""Trained baselines by name: committed for the embedded data, trained on demand otherwise.

    >>> model = get_baseline("lenet5")          # loads data/baselines/digits/lenet5.safetensors
    >>> model.training
    False

Baselines for the embedded ``digits`` dataset are committed under
``data/baselines/digits/`` and rebuilt with ``make baselines`` (same seed, same
machine, same printed accuracy). A missing baseline (for MNIST, say) is trained
on demand with a progress bar and saved next to them. A baseline file that fails
its checksum is reported, never silently replaced.
"""

from __future__ import annotations

import argparse
import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from . import checkpoint, data as data_mod
from ._checks import check_choice
from .models import MODELS, build
from .paths import data_dir
from .train import evaluate, train


@dataclass(frozen=True)
class Recipe:
    """How a baseline is trained (Adam, cross-entropy, seeded)."""

    num_epochs: int = 12
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 0.0
    schedule: str = "cosine"
    seed: int = 0


RECIPES: dict[str, Recipe] = {
    "lenet300": Recipe(num_epochs=15, lr=1e-3),
    "lenet5": Recipe(num_epochs=15, lr=2e-3),
    "vgg": Recipe(num_epochs=12, lr=2e-3),
    "resnet": Recipe(num_epochs=12, lr=2e-3),
    "mobilenet": Recipe(num_epochs=15, lr=2e-3),
}

_memory: dict[tuple[str, str], nn.Module] = {}


def baseline_path(model: str, dataset: str = data_mod.EMBEDDED) -> Path:
    """Where the baseline for ``model`` on ``dataset`` lives."""
    check_choice("model", model, MODELS, what="model")
    check_choice("dataset", dataset, data_mod.DATASETS, what="dataset")
    return data_dir() / "baselines" / dataset / f"{model}.safetensors"


def get_baseline(model: str = "lenet5", dataset: str | None = None, *, progress: bool = True) -> nn.Module:
    """A trained copy of the baseline ``model`` for ``dataset``, in eval mode.

    Without ``dataset``, the one ``data.load()`` gives (the course-wide switch
    ``$WORKBENCH_DATASET``, falling back to the embedded digits when offline).
    Each call returns a fresh copy: compressing it never changes the next one.
    """
    dataset = data_mod.load().name if dataset is None else dataset
    path = baseline_path(model, dataset)
    key = (model, dataset)
    if key not in _memory:
        if not path.exists():
            print(f"No saved baseline for {model} on {dataset}: training it now (saved to {path.name}).")
            trained, _ = train_baseline(model, dataset, progress=progress)
            checkpoint.save_model(trained, path, metadata=_metadata(trained, model, dataset))
        _memory[key] = checkpoint.load_model(path)
    return copy.deepcopy(_memory[key])


def baseline_info(model: str, dataset: str | None = None) -> dict:
    """What the baseline file records: test accuracy, recipe, parameters, torch version."""
    dataset = data_mod.load().name if dataset is None else dataset
    return checkpoint.read_metadata(baseline_path(model, dataset))


def train_baseline(model: str, dataset: str = data_mod.EMBEDDED, *, progress: bool = True) -> tuple[nn.Module, float]:
    """Train ``model`` on ``dataset`` with its recipe; returns the model and test accuracy."""
    check_choice("model", model, MODELS, what="model")
    ds = data_mod.load(dataset, fallback=None)
    recipe = RECIPES[model]
    net = build(model, ds.input_shape, ds.num_classes, seed=recipe.seed)
    train(net, ds, num_epochs=recipe.num_epochs, lr=recipe.lr, batch_size=recipe.batch_size,
          weight_decay=recipe.weight_decay, schedule=recipe.schedule, seed=recipe.seed, progress=progress, desc=f"{model} on {dataset}")
    return net.eval(), evaluate(net, ds.X_test, ds.y_test)


def _metadata(net: nn.Module, model: str, dataset: str) -> dict:
    ds = data_mod.load(dataset, fallback=None)
    return {
        "dataset": dataset,
        "test_accuracy": round(evaluate(net, ds.X_test, ds.y_test), 4),
        "recipe": asdict(RECIPES[model]),
        "params": sum(p.numel() for p in net.parameters()),
        "torch": torch.__version__,
    }


def rebuild(dataset: str = data_mod.EMBEDDED, names: list[str] | None = None, *, progress: bool = True) -> None:
    """Retrain and overwrite the baselines of ``dataset``; prints one line per model."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    for name in names or list(MODELS):
        start = time.perf_counter()
        net, acc = train_baseline(name, dataset, progress=progress)
        path = checkpoint.save_model(net, baseline_path(name, dataset),
                                     metadata=_metadata(net, name, dataset), overwrite=True)
        _memory.pop((name, dataset), None)
        print(f"{name:10s} test accuracy {acc:.4f}  {path.stat().st_size:>9,d} bytes  "
              f"{time.perf_counter() - start:5.1f} s  -> {path.relative_to(data_dir().parent)}")


def main(argv: list[str] | None = None) -> None:
    """``python -m workbench baselines [MODEL ...] [--dataset NAME]``: see :func:`rebuild`."""
    parser = argparse.ArgumentParser(prog="python -m workbench baselines", description="Retrain the baselines (same seed, same machine -> same accuracy).")
    parser.add_argument("--dataset", default=data_mod.EMBEDDED, choices=list(data_mod.DATASETS))
    parser.add_argument("models", nargs="*", help=f"models to rebuild (default: all of {', '.join(MODELS)})")
    args = parser.parse_args(argv)
    for name in args.models:
        check_choice("models", name, MODELS, what="model")
    rebuild(args.dataset, args.models or None, progress=False)

