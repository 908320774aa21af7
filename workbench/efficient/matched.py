"""Matched budgets: a network designed small against a large one pruned or distilled to the same MACs.

Notebook 07 designs small networks; notebooks 01 and 06 shrink a trained one. At an
equal MAC budget, which is better? ``matched_budget`` takes the designed network's
MACs and builds two rivals from the full standard-block network:

- **pruned**: whole channels removed (``workbench.pruning``: L1 filter norms, Li et
  al. 2017; the same fraction from every layer, found by bisection so that the MACs
  come closest to the designed network's), then a short fine-tune;
- **distilled**: the pruned architecture with fresh weights, trained from the full
  network's soft targets (``workbench.distillation``, Hinton et al. 2015) — the
  "train the pruned shape from scratch" question of Liu et al. (2019), with a teacher.

    >>> from workbench.efficient.nets import build_net
    >>> full = build_net("standard")
    >>> small = prune_to_macs(full, 600_000, (1, 28, 28))
    >>> abs(count_macs(small, (1, 28, 28)) / 600_000 - 1) < 0.05
    True
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from .._checks import check_choice, check_int, check_number, checked
from ..latency import compare_latency
from ..metrics import count_macs, count_params
from ..train import evaluate, train

COLUMNS = ("macs", "params", "MACs / designed", "test_acc", "val_acc", "latency_ms", "training")


@dataclass(frozen=True)
class MatchRecipe:
    """How the pruned and the distilled rivals are trained (Adam, cosine schedule, seeded)."""

    finetune_epochs: int = 5        # after channel pruning
    distill_epochs: int = 10        # from fresh weights: the designed grid networks' epochs (grid.RECIPE)
    lr: float = 1e-2                # the grid's learning rate (BatchNorm networks)
    temperature: float = 4.0        # softening of the teacher's logits (Hinton et al. 2015)
    soft_weight: float = 0.9        # weight of the soft-target loss against the labels
    criterion: str = "l1"           # channel criterion of workbench.pruning (CRITERIA)
    seed: int = 0
    threads: int | None = 1         # while training: one thread suits these small networks (None: leave as is)

    def __post_init__(self):
        from ..pruning import CRITERIA

        check_int("finetune_epochs", self.finetune_epochs, 0)
        check_int("distill_epochs", self.distill_epochs, 1)
        check_number("lr", self.lr, 0.0, 10.0, low_inclusive=False)
        check_number("temperature", self.temperature, 0.0, 100.0, low_inclusive=False)
        check_number("soft_weight", self.soft_weight, 0.0, 1.0)
        check_choice("criterion", self.criterion, CRITERIA)
        check_int("seed", self.seed, 0)
        if self.threads is not None:
            check_int("threads", self.threads, 1, 1024)


MATCHED = MatchRecipe()


@checked
def prune_to_macs(model: nn.Module, macs: int, input_shape: Sequence[int], *, criterion: str = "l1",
                  data=None, steps: int = 20) -> nn.Module:
    """A copy of ``model`` with channels removed so that its MACs come closest to ``macs``.

    Every channel group loses the same fraction (its lowest-scored channels); the fraction
    is found by bisection. Activation criteria need ``data``.
    """
    from ..pruning import channel_scores, prune_channels

    check_int("macs", macs, 1)
    check_int("steps", steps, 1)
    full = count_macs(model, input_shape)
    if macs > full:
        raise ValueError(f"macs must be at most the model's own {full:,}, got {macs:,}")
    scores = channel_scores(model, criterion, data)

    def pruned(amount: float) -> nn.Module:
        return prune_channels(copy.deepcopy(model), scores, amount).eval()

    lo, hi = 0.0, 0.99                 # MACs fall as the amount grows: keep lo above, hi below the target
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if count_macs(pruned(mid), input_shape) > macs else (lo, mid)
    candidates = [copy.deepcopy(model).eval() if lo == 0.0 else pruned(lo), pruned(hi)]
    return min(candidates, key=lambda m: abs(count_macs(m, input_shape) - macs))


def fresh_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """The same architecture with newly initialized weights (seeded) and reset BatchNorm statistics."""
    out = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in out.modules():
        if module is not out and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return out


@checked
def matched_budget(data, designed: nn.Module, full: nn.Module, *, recipe: MatchRecipe = MATCHED,
                   latency: bool = True, repeats: int = 30, threads: int | None = None
                   ) -> tuple[pd.DataFrame, dict[str, nn.Module]]:
    """The designed network against ``full`` pruned and ``full`` distilled to the designed network's MACs.

    Returns (table, networks). One row per network — full, designed, pruned, distilled —
    with the columns of ``COLUMNS``: MACs and parameters, MACs relative to the designed
    network, test and validation accuracy, median latency at batch 1 (interleaved; NaN
    when ``latency=False``) and how the network was trained.
    """
    from ..distillation import CachedTeacher, Recipe, distill, experiments

    check_int("repeats", repeats, 1)
    check_int("finetune_epochs", recipe.finetune_epochs, 0)
    check_int("distill_epochs", recipe.distill_epochs, 1)
    check_number("lr", recipe.lr, 0.0, 10.0, low_inclusive=False)
    shape = data.input_shape
    target = count_macs(designed, shape)
    pruned = prune_to_macs(full, target, shape, criterion=recipe.criterion, data=data)
    student = fresh_copy(pruned, recipe.seed)
    with experiments.threads(recipe.threads):
        if recipe.finetune_epochs:
            train(pruned, data, num_epochs=recipe.finetune_epochs, lr=recipe.lr, schedule="cosine",
                  seed=recipe.seed, progress=False, desc="fine-tune the pruned network")
        distill(student, data, CachedTeacher(full, data.X_train), temperature=recipe.temperature,
                alpha=recipe.soft_weight, recipe=Recipe(num_epochs=recipe.distill_epochs, lr=recipe.lr, threads=None),
                seed=recipe.seed)
    nets = {"full": full.eval(), "designed": designed.eval(), "pruned": pruned.eval(), "distilled": student.eval()}
    training = {"full": "trained", "designed": "trained", "pruned": f"full, pruned, {recipe.finetune_epochs} epochs",
                "distilled": f"pruned shape, fresh weights, {recipe.distill_epochs} epochs of distillation"}
    times = compare_latency(nets, shape, batch_size=1, repeats=repeats, threads=threads) if latency else {}
    rows = {}
    for name, net in nets.items():
        macs = count_macs(net, shape)
        rows[name] = {"macs": macs, "params": count_params(net), "MACs / designed": macs / target,
                      "test_acc": evaluate(net, data.X_test, data.y_test),
                      "val_acc": evaluate(net, data.X_val, data.y_val),
                      "latency_ms": times[name].median_ms if latency else float("nan"), "training": training[name]}
    table = pd.DataFrame.from_dict(rows, orient="index")[list(COLUMNS)]
    table.index.name = "model"
    return table, nets
