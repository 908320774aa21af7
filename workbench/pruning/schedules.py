"""When to prune: one shot, iteratively (Han et al. 2015), or gradually (Zhu & Gupta 2017).

Han et al. prune, retrain, and repeat; each round removes more. Zhu & Gupta prune
*during* training, raising the sparsity along a cubic curve that removes many
weights early (when many are redundant) and few near the end::

    >>> [round(cubic_sparsity(t, 0.9, begin=0, end=100), 3) for t in (0, 25, 50, 100)]
    [0.0, 0.52, 0.787, 0.9]

Both keep the masks as parametrizations while training, so a pruned weight stays
at zero; both prune by weight magnitude (the criterion that needs no data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn

from .._checks import check_choice, check_fraction, check_int, check_number
from ..train import History, evaluate, fine_tune, train
from ..weights import plain_copy
from .groups import weight_layers
from .masks import SCOPES, apply_masks, keep_masks


def cubic_sparsity(step: int, final: float, *, begin: int, end: int, initial: float = 0.0) -> float:
    """Zhu & Gupta's schedule: ``s_t = s_f + (s_i - s_f) (1 - (t - t0) / (t1 - t0))^3``.

    ``initial`` before ``begin``, ``final`` after ``end``.

    >>> cubic_sparsity(50, 0.8, begin=0, end=100)
    0.7
    """
    check_int("step", step, 0)
    check_fraction("final", final, high_inclusive=False)
    check_fraction("initial", initial, high_inclusive=False)
    check_int("begin", begin, 0)
    check_int("end", end, begin + 1)
    if step <= begin:
        return initial
    if step >= end:
        return final
    progress = (step - begin) / (end - begin)
    return round(final + (initial - final) * (1.0 - progress) ** 3, 12)


def magnitudes(model: nn.Module) -> dict[str, torch.Tensor]:
    """``|w|`` of every conv/linear layer's effective weight (masked entries score 0)."""
    return {name: layer.weight.detach().abs() for name, layer in weight_layers(model).items()}


def prune_by_magnitude(model: nn.Module, amount: float, scope: str = "layer") -> nn.Module:
    """Mask the ``amount`` smallest weights as parametrizations (re-masking replaces old masks)."""
    masks = keep_masks(magnitudes(model), amount, scope)
    return apply_masks(model, {f"{n}.weight": m for n, m in masks.items()})


class GradualPruner:
    """An ``on_step`` callback for :func:`workbench.train`: re-prune to the cubic schedule.

    Every ``every`` optimiser steps between ``begin`` and ``end`` the masks are recomputed
    from the current magnitudes at the scheduled sparsity. ``trace`` records
    ``(step, scheduled sparsity)`` at each update.
    """

    def __init__(self, model: nn.Module, final: float, *, begin: int, end: int, every: int = 10,
                 scope: str = "layer", initial: float = 0.0):
        check_fraction("final", final, high_inclusive=False)
        check_int("begin", begin, 0)
        check_int("end", end, begin + 1)
        check_int("every", every, 1)
        check_choice("scope", scope, SCOPES)
        self.final, self.begin, self.end, self.every = final, begin, end, every
        self.scope, self.initial = scope, initial
        self.trace: list[tuple[int, float]] = []
        prune_by_magnitude(model, initial, scope)

    def __call__(self, model: nn.Module, step: int) -> None:
        if step < self.begin or step > self.end or ((step - self.begin) % self.every and step != self.end):
            return
        s = cubic_sparsity(step, self.final, begin=self.begin, end=self.end, initial=self.initial)
        prune_by_magnitude(model, s, self.scope)
        self.trace.append((step, s))


@dataclass
class ScheduleResult:
    """A pruned model (masks still registered), its training history and what the schedule did."""

    model: nn.Module
    history: History
    steps: pd.DataFrame = field(default_factory=pd.DataFrame)


def gradual_prune(model: nn.Module, data, amount: float, *, num_epochs: int = 10, lr: float = 1e-3,
                  begin_epoch: float = 0.0, end_epoch: float | None = None, every: int = 10, scope: str = "layer",
                  **train_kwargs) -> ScheduleResult:
    """Train while raising sparsity from 0 to ``amount`` along the cubic schedule.

    The sparsity ramps from ``begin_epoch`` to ``end_epoch`` (default: 3/4 of the run,
    leaving the last quarter to recover at the final sparsity).

    >>> import workbench as wb
    >>> out = gradual_prune(wb.get_baseline("lenet300"), wb.load("digits"), 0.5, num_epochs=1, progress=False)
    >>> round(float(out.steps["sparsity"].iloc[-1]), 2)
    0.5
    """
    check_fraction("amount", amount, high_inclusive=False)
    check_int("num_epochs", num_epochs, 1)
    end_epoch = 0.75 * num_epochs if end_epoch is None else end_epoch
    check_number("begin_epoch", begin_epoch, 0.0, num_epochs)
    check_number("end_epoch", end_epoch, begin_epoch, num_epochs, low_inclusive=False)
    per_epoch = len(data.loader("train", batch_size=train_kwargs.get("batch_size", 64)))
    begin, end = round(begin_epoch * per_epoch), max(round(end_epoch * per_epoch), round(begin_epoch * per_epoch) + 1)
    pruner = GradualPruner(model, amount, begin=begin, end=end, every=every, scope=scope)
    train_kwargs.setdefault("desc", f"gradual pruning to {amount:.0%}")
    history = train(model, data, num_epochs=num_epochs, lr=lr, on_step=pruner, **train_kwargs)
    steps = pd.DataFrame(pruner.trace, columns=["step", "sparsity"])
    return ScheduleResult(model, history, steps)


def iterative_prune(model: nn.Module, data, amounts: Sequence[float] = (0.5, 0.75, 0.9), *, epochs_per_step: int = 2,
                    lr: float = 1e-3, scope: str = "layer", **train_kwargs) -> ScheduleResult:
    """Han et al.'s loop: prune to each of ``amounts`` in turn, fine-tuning after each.

    ``steps`` records, per round, the sparsity and the validation accuracy before and
    after fine-tuning.
    """
    if not amounts:
        raise ValueError("amounts must list at least one sparsity")
    for a in amounts:
        check_fraction("amounts", a, high_inclusive=False)
    if list(amounts) != sorted(amounts):
        raise ValueError(f"amounts must increase (each round prunes more), got {list(amounts)}")
    check_int("epochs_per_step", epochs_per_step, 0)
    records, history = [], History()
    train_kwargs.setdefault("progress", False)
    for i, amount in enumerate(amounts, start=1):
        prune_by_magnitude(model, amount, scope)
        before = evaluate(model, data.X_val, data.y_val)
        h = fine_tune(model, data, num_epochs=epochs_per_step, lr=lr, desc=f"round {i}: {amount:.0%}",
                      **train_kwargs)
        history.records += [{**r, "epoch": len(history.records) + j + 1} for j, r in enumerate(h.records)]
        records.append({"round": i, "sparsity": amount, "val_acc_pruned": before,
                        "val_acc_fine_tuned": evaluate(model, data.X_val, data.y_val)})
    return ScheduleResult(model, history, pd.DataFrame(records).set_index("round"))


def fine_tune_masked(model: nn.Module, data, *, num_epochs: int = 2, lr: float = 1e-4, **kwargs) -> nn.Module:
    """Fine-tune a model whose zeros must stay zero: mask them, train, make the masks permanent.

    Returns a plain model (no parametrizations) with at least the original zeros.
    """
    from .masks import masks_from_zeros

    apply_masks(model, masks_from_zeros(model))
    fine_tune(model, data, num_epochs=num_epochs, lr=lr, **kwargs)
    return plain_copy(model)
