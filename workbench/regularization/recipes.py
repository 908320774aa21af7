"""The notebook's and the benchmark's recipes: structured sparsity with λ chosen after fine-tuning.

A snapshot's accuracy straight off the regularization path says little about what it is
worth: the penalty has shrunk every surviving group too, and a few epochs of fine-tuning
after removal recover most of it. So each snapshot of the path is *removed and fine-tuned*
first, and λ is chosen among those candidates: the largest conv-MAC cut whose fine-tuned
validation accuracy stays within ``tolerance`` of the baseline's::

    >>> choose([Candidate(0.0, None, 0.0, 0.98), Candidate(0.1, None, 0.6, 0.975),
    ...         Candidate(0.2, None, 0.8, 0.95)], base_val=0.98).lam
    0.1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from .._checks import check_int, check_number, checked
from ..replay import replayable
from ..train import evaluate, fine_tune
from ..weights import deep_copy
from .penalties import check_lam, zero_groups_
from .surgery import conv_macs, remove_zero_channels
from .training import Snapshot, regularization_path


@dataclass
class Candidate:
    """One snapshot after removal and fine-tuning: its λ, the smaller model, its conv-MAC cut, its val accuracy."""

    lam: float
    model: nn.Module | None
    conv_mac_cut: float
    val_acc: float


@checked
def choose(candidates: Sequence[Candidate], base_val: float, tolerance: float = 0.01) -> Candidate:
    """The candidate with the largest conv-MAC cut whose val accuracy is ≥ ``base_val − tolerance``.

    Ties go to the higher val accuracy, then to the smaller λ. If none is within the
    tolerance, the most accurate candidate (the rule never returns nothing).
    """
    if not candidates:
        raise ValueError("candidates must hold at least one candidate")
    tolerance = check_lam("tolerance", tolerance)
    within = [c for c in candidates if c.val_acc >= base_val - tolerance - 1e-9]
    if not within:
        return max(candidates, key=lambda c: (c.val_acc, -c.lam))
    return max(within, key=lambda c: (round(c.conv_mac_cut, 9), c.val_acc, -c.lam))


def removed_and_fine_tuned(snapshot: Snapshot, data, input_shape, base_macs: int, *, threshold: float = 0.0,
                           kind: str = "conv-filter", ft_epochs: int = 3, ft_lr: float = 1e-3, **ft_kwargs) -> Candidate:
    """Zero the groups at or below ``threshold`` × their layer's largest norm, remove the channels that compute
    nothing, fine-tune the smaller network (Adam, ``ft_epochs``) and measure it on the validation digits."""
    model = deep_copy(snapshot.model)
    if threshold > 0:
        zero_groups_(model, kind, threshold, relative=True)
    small = remove_zero_channels(model)
    ft_kwargs.setdefault("progress", False)
    fine_tune(small, data, num_epochs=ft_epochs, lr=ft_lr, **ft_kwargs)
    cut = 1 - conv_macs(small, input_shape) / base_macs
    return Candidate(snapshot.lam, small.eval(), cut, evaluate(small, data.X_val, data.y_val))


@checked
@replayable
def structured_sparsity(baseline: nn.Module, data, lams: Sequence[float], *, regularizer: str = "group-conv-filter",
                        epochs_per_lam: int = 2, lr: float = 0.02, optimizer: str = "sgd", threshold: float = 0.0,
                        ft_epochs: int = 3, ft_lr: float = 1e-3, tolerance: float = 0.01,
                        ) -> tuple[list[Snapshot], list[Candidate], Candidate]:
    """SSL end to end: a warm-started group-lasso path, every snapshot removed and fine-tuned, λ chosen by
    :func:`choose` on the validation digits. Returns ``(path, candidates, chosen)``."""
    check_int("ft_epochs", ft_epochs, 0)
    check_number("threshold", threshold, 0.0, 1.0)
    if not regularizer.startswith("group-"):
        raise ValueError(f"regularizer must be a group-lasso regularizer ('group-…'), got {regularizer!r}")
    path = regularization_path(baseline, data, regularizer, lams, epochs_per_lam=epochs_per_lam, lr=lr,
                               optimizer=optimizer)
    base_macs = conv_macs(baseline, data.input_shape)
    candidates = [removed_and_fine_tuned(s, data, data.input_shape, base_macs, threshold=threshold,
                                         kind=regularizer.removeprefix("group-"), ft_epochs=ft_epochs, ft_lr=ft_lr)
                  for s in path]
    base_val = evaluate(baseline, data.X_val, data.y_val)
    return path, candidates, choose(candidates, base_val, tolerance)


@checked
def candidates_table(candidates: Sequence[Candidate]):
    """One row per candidate: channels per conv-bearing config, conv MACs removed, val accuracy after fine-tuning."""
    import pandas as pd

    rows = {c.lam: {"channels": c.model.config.get("channels") if c.model is not None else None,
                    "conv_macs_removed": c.conv_mac_cut, "val_acc_fine_tuned": c.val_acc} for c in candidates}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "λ"
    return table


@checked
def one_shot_magnitude(baseline: nn.Module, data, amount: float, *, num_epochs: int = 6, lr: float = 1e-3,
                       **train_kwargs) -> nn.Module:
    """Notebook 01's baseline for DNS: one global magnitude threshold at ``amount``, then ``num_epochs`` of
    fine-tuning with the masks held (the same epochs, optimiser and lr DNS gets in all)."""
    from ..pruning.masks import mask_weights
    from ..pruning.scores import weight_scores
    from ..weights import plain_copy

    model = mask_weights(deep_copy(baseline), weight_scores(baseline, "l1"), amount, scope="global")
    train_kwargs.setdefault("progress", False)
    fine_tune(model, data, num_epochs=num_epochs, lr=lr, desc=f"one-shot {amount:.0%}", **train_kwargs)
    return plain_copy(model).eval()
