"""Training, evaluation and fine-tuning, seeded and with progress bars.

The same call prints the same numbers: ``train`` seeds the data order and any
randomness from its ``seed``, and models are built with a seed too::

    >>> from workbench import data, models
    >>> ds = data.load("digits")
    >>> model = models.build("lenet300")
    >>> history = train(model, ds, num_epochs=1, progress=False)
    >>> round(history.final["val_acc"], 2) > 0.8
    True
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_choice, check_int, check_labels, check_number, checked

LossFn = Callable[[Tensor, Tensor, Tensor], Tensor]  # (logits, y, X) -> scalar loss
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine")


def get_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA, then Apple's MPS, then the CPU.

    >>> get_device("cpu")
    device(type='cpu')
    """
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) random generators."""
    check_int("seed", seed, 0, 2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class History:
    """Per-epoch records of a training run: epoch, loss, train_acc, val_acc, seconds."""

    records: list[dict] = field(default_factory=list)

    @property
    def final(self) -> dict:
        """The last epoch's record (empty if no epoch ran)."""
        return self.records[-1] if self.records else {}

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.records).set_index("epoch") if self.records else pd.DataFrame()

    def __repr__(self) -> str:
        if not self.records:
            return "History(no epochs)"
        f = self.final
        return (f"History({len(self.records)} epochs: loss {f['loss']:.3f}, "
                f"train acc {f['train_acc']:.3f}, val acc {f['val_acc']:.3f})")


@checked(fits=("model", "X"))
@torch.inference_mode()
def predict(model: nn.Module, X: Tensor, *, batch_size: int = 250, device: str | torch.device | None = None) -> Tensor:
    """Logits of ``model`` on ``X`` ``(N, C, H, W)`` -> ``(N, classes)``, in eval mode, on the CPU.

    The model's train/eval mode is restored afterwards.
    """
    check_int("batch_size", batch_size, 1)
    device = get_device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    try:
        outs = [model(X[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(X), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)


@checked(empty_ok=("X", "y"))
def evaluate(model: nn.Module, X: Tensor, y: Tensor, *, batch_size: int = 250,
             device: str | torch.device | None = None) -> float:
    """Top-1 accuracy of ``model`` on ``(X, y)``, a fraction in [0, 1].

    >>> from workbench import data, models
    >>> ds = data.load("digits")
    >>> 0.0 <= evaluate(models.build("lenet5"), ds.X_test, ds.y_test) <= 1.0
    True
    """
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    if len(y) == 0:
        raise ValueError("X must hold at least one example, got 0")
    y = check_labels("y", y, n=len(X))
    logits = predict(model, X, batch_size=batch_size, device=device)
    return (logits.argmax(1) == y).float().mean().item()


@checked(weight_decay=(0, math.inf, "[)"))
def train(
    model: nn.Module,
    data,
    *,
    num_epochs: int = 5,
    lr: float = 1e-3,
    batch_size: int = 64,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    schedule: str = "constant",
    loss_fn: LossFn | None = None,
    penalty: Callable[[nn.Module], Tensor] | None = None,
    on_step: Callable[[nn.Module, int], None] | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    live_plot: bool = False,
    monitor=None,
    desc: str = "train",
) -> History:
    """Train ``model`` in place on ``data`` (a :class:`workbench.data.Dataset`).

    - ``loss_fn(logits, y, X)`` replaces cross-entropy (distillation passes its own);
    - ``schedule="cosine"`` anneals the learning rate to zero over the run;
    - ``penalty(model)`` is added to the loss (e.g. an L1 sparsity regulariser);
    - ``on_step(model, step)`` runs after every optimiser step (e.g. a gradual pruning
      schedule, or clipping latent weights in BinaryConnect).

    Shows a ``tqdm`` progress bar and, with ``live_plot=True``, a live loss/accuracy
    plot; a :class:`workbench.widgets.TrainingMonitor` passed as ``monitor`` gets
    both instead (inside a panel). Returns the per-epoch :class:`History`
    (accuracy on the validation split).
    """
    check_int("num_epochs", num_epochs, 0)
    check_number("lr", lr, 0.0, 10.0, low_inclusive=False)
    check_int("batch_size", batch_size, 1)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_number("weight_decay", weight_decay, 0.0)
    check_choice("schedule", schedule, SCHEDULES)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not hasattr(data, "loader") or not hasattr(data, "y_train"):
        raise TypeError(f"data must be a workbench Dataset (wb.load(...)), got {type(data).__name__}")
    classes = getattr(data, "num_classes", None)
    labels = {f"y_{s}": check_labels(f"data.y_{s}", getattr(data, f"y_{s}"), num_classes=classes)
              for s in ("train", "val")}
    if any(getattr(data, k).dtype != v.dtype for k, v in labels.items()):
        data = dataclasses.replace(data, **labels)          # int32 labels from NumPy: widened, not refused
    device = get_device(device)
    seed_everything(seed)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    loader = data.loader("train", batch_size=batch_size, seed=seed)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, num_epochs * len(loader)))
             if schedule == "cosine" else None)
    loss_fn = loss_fn or (lambda logits, y, X: F.cross_entropy(logits, y))
    history = History()
    if monitor is None and live_plot:
        from .widgets import TrainingMonitor, show

        monitor = TrainingMonitor(desc)
        show(monitor.widget, f"training monitor: {desc}")
    bar = None if monitor is not None else _progress_bar(num_epochs * len(loader), desc, progress)
    if monitor is not None:
        monitor.start(num_epochs * len(loader), desc)
    step = 0
    for epoch in range(1, num_epochs + 1):
        model.train()
        start, total_loss, correct, seen = time.perf_counter(), 0.0, 0, 0
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            logits = model(X)
            loss = loss_fn(logits, y, X)
            if penalty is not None:
                loss = loss + penalty(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
            if on_step is not None:
                on_step(model, step)
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            if bar is not None:
                bar.update(1)
            if monitor is not None:
                monitor.step()
        record = dict(epoch=epoch, loss=total_loss / seen, train_acc=correct / seen,
                      val_acc=evaluate(model, data.X_val, data.y_val, device=device),
                      seconds=time.perf_counter() - start)
        history.records.append(record)
        if bar is not None:
            bar.set_postfix(loss=f"{record['loss']:.3f}", val_acc=f"{record['val_acc']:.3f}", refresh=False)
        if monitor is not None:
            monitor.epoch(record)
    if bar is not None:
        bar.close()
    if monitor is not None:
        monitor.finish()
    model.eval()
    return history


def fine_tune(model: nn.Module, data, *, num_epochs: int = 2, lr: float = 1e-4, **kwargs) -> History:
    """Continue training a compressed model at a lower learning rate.

    Masks and fake quantizers registered as parametrizations stay in force, so a
    pruned weight stays zero while the others adapt.
    """
    kwargs.setdefault("desc", "fine-tune")
    return train(model, data, num_epochs=num_epochs, lr=lr, **kwargs)


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _progress_bar(total: int, desc: str, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", leave=True)
