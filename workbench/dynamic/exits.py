"""Exit rules as pure functions of precomputed logits: uncertainty, which exit, what it costs.

An example leaves at the first exit whose *uncertainty* is below that exit's
threshold (the last exit takes everyone left). Two uncertainties are offered:
the entropy of the softmax in nats (BranchyNet, Teerapittayanon et al. 2016) and
the doubt ``1 - max softmax`` (the confidence rule of cascades). Both are >= 0,
so a threshold of 0 lets nobody leave early and ``inf`` sends everyone to the
first exit::

    >>> logits = [torch.tensor([[4.0, 0.0], [0.1, 0.0]]), torch.tensor([[0.0, 3.0], [2.0, 0.0]])]
    >>> choose_exit(logits, [0.5]).tolist()
    [0, 1]
    >>> average_macs(torch.tensor([0, 1]), [100, 300])
    200.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .._checks import check_choice, check_int, check_number, checked

if TYPE_CHECKING:
    import pandas as pd


@checked
def entropy(logits: Tensor) -> Tensor:
    """Entropy of ``softmax(logits)`` in nats, per row: ``(N, C) -> (N,)``; 0 for a certain answer.

    >>> round(entropy(torch.zeros(1, 4)).item(), 4)   # log(4): four equally likely classes
    1.3863
    """
    logp = logits.log_softmax(-1)
    return (-(logp.exp() * logp).sum(-1)).clamp_min(0.0)


@checked
def doubt(logits: Tensor) -> Tensor:
    """``1 - max softmax`` per row: 0 when the top class has all the probability.

    >>> doubt(torch.tensor([[0.0, 0.0]])).item()
    0.5
    """
    return 1.0 - logits.softmax(-1).max(-1).values


RULES: dict[str, Callable[[Tensor], Tensor]] = {"entropy": entropy, "confidence": doubt}


@checked
def uncertainty(logits: Tensor, rule: str = "entropy") -> Tensor:
    """The score an exit rule compares with its threshold (``rule`` one of :data:`RULES`)."""
    check_choice("rule", rule, RULES, what="exit rule")
    return RULES[rule](logits)


def check_thresholds(thresholds: Sequence[float] | float, exits: int) -> tuple[float, ...]:
    """One threshold per early exit (``exits - 1`` of them); a single number is used for all.

    >>> check_thresholds(0.3, 3)
    (0.3, 0.3)
    """
    check_int("exits", exits, 1)
    if isinstance(thresholds, (int, float)) and not isinstance(thresholds, bool):
        thresholds = [thresholds] * (exits - 1)
    thresholds = list(thresholds)
    if len(thresholds) != exits - 1:
        raise ValueError(f"thresholds must give one value per early exit ({exits - 1}), got {len(thresholds)}")
    return tuple(check_number("thresholds", t, 0.0, math.inf) for t in thresholds)


@checked
def choose_exit(logits: Sequence[Tensor], thresholds: Sequence[float] | float, rule: str = "entropy") -> Tensor:
    """Index of the exit each example leaves at, from every exit's logits ``[(N, C), ...]``.

    Example ``n`` leaves at the first exit ``k`` with ``uncertainty < thresholds[k]``
    (strictly below: a threshold of 0 keeps everyone); the last exit takes the rest.
    """
    if len(logits) == 0:
        raise ValueError("logits must hold the logits of at least one exit")
    return exit_from_scores([uncertainty(lg, rule) for lg in logits[:-1]] + [logits[-1][:, 0]], thresholds)


@checked
def exit_from_scores(scores: Sequence[Tensor], thresholds: Sequence[float] | float) -> Tensor:
    """:func:`choose_exit` from uncertainties already computed, ``[(N,), ...]`` (the last one is unused)."""
    thresholds = check_thresholds(thresholds, len(scores))
    chosen = torch.full((len(scores[0]),), len(scores) - 1, dtype=torch.long)
    for k in reversed(range(len(scores) - 1)):        # earlier exits overwrite later ones
        chosen[scores[k] < thresholds[k]] = k
    return chosen


@checked(ndim={"chosen": 1})
def exit_predictions(logits: Sequence[Tensor], chosen: Tensor) -> Tensor:
    """The class each example gets from the exit it left at."""
    preds = torch.stack([lg.argmax(-1) for lg in logits], 1)      # (N, exits)
    return preds.gather(1, chosen[:, None])[:, 0]


@checked(ndim={"chosen": 1})
def exit_fractions(chosen: Tensor, exits: int) -> list[float]:
    """Fraction of examples leaving at each exit (sums to 1).

    >>> exit_fractions(torch.tensor([0, 0, 2, 1]), 3)
    [0.5, 0.25, 0.25]
    """
    check_int("exits", exits, 1)
    counts = torch.bincount(chosen, minlength=exits).tolist()
    return [c / len(chosen) for c in counts]


@checked(ndim={"chosen": 1})
def average_macs(chosen: Tensor, exit_macs: Sequence[float]) -> float:
    """Mean MACs per example when example ``n`` pays ``exit_macs[chosen[n]]``.

    ``exit_macs[k]`` is the cost of leaving at exit ``k``: every block up to it
    and every side classifier evaluated on the way (rejected ones included).
    """
    if len(chosen) == 0:
        raise ValueError("chosen must hold at least one example")
    costs = torch.as_tensor(list(exit_macs), dtype=torch.float64)
    if int(chosen.max()) >= len(costs) or int(chosen.min()) < 0:
        raise ValueError(f"chosen holds exit indices outside 0..{len(costs) - 1}")
    return float(costs[chosen].mean())


@checked(ndim={"y": 1})
def outcome(logits: Sequence[Tensor], y: Tensor, thresholds: Sequence[float] | float, exit_macs: Sequence[float],
            rule: str = "entropy", *, scores: Sequence[Tensor] | None = None) -> dict:
    """Accuracy, fraction per exit and average MACs of one threshold setting (no model runs).

    ``scores`` may pass each exit's uncertainty, computed once (the explorer does).

    >>> lg = [torch.tensor([[4.0, 0.0], [0.1, 0.0]]), torch.tensor([[0.0, 3.0], [2.0, 0.0]])]
    >>> outcome(lg, torch.tensor([0, 0]), 0.5, [100, 300])["accuracy"]
    1.0
    """
    if len(exit_macs) != len(logits):
        raise ValueError(f"exit_macs must give one cost per exit ({len(logits)}), got {len(exit_macs)}")
    chosen = choose_exit(logits, thresholds, rule) if scores is None else exit_from_scores(scores, thresholds)
    correct = exit_predictions(logits, chosen) == y
    return dict(accuracy=float(correct.float().mean()), fractions=exit_fractions(chosen, len(logits)),
                macs=average_macs(chosen, exit_macs), chosen=chosen)


@checked(ndim={"y": 1})
def sweep(logits: Sequence[Tensor], y: Tensor, exit_macs: Sequence[float], thresholds: Sequence[float],
          rule: str = "entropy"):
    """One row per shared threshold: accuracy, average MACs, fraction leaving early (a DataFrame)."""
    import pandas as pd

    rows = []
    for t in thresholds:
        o = outcome(logits, y, t, exit_macs, rule)
        rows.append(dict(threshold=float(t), accuracy=o["accuracy"], macs=o["macs"],
                         early=1.0 - o["fractions"][-1], **{f"exit_{k + 1}": f for k, f in enumerate(o["fractions"])}))
    return pd.DataFrame(rows)


@checked
def pick_threshold(table: pd.DataFrame, full_accuracy: float, max_drop_pp: float = 0.5) -> float:
    """The shared threshold with the fewest average MACs whose accuracy is within ``max_drop_pp`` of the full model.

    Use it on the validation split's :func:`sweep`, then report the test split.
    """
    check_number("max_drop_pp", max_drop_pp, 0.0, 100.0)
    ok = table[table.accuracy >= full_accuracy - max_drop_pp / 100 - 1e-12]
    if ok.empty:
        return 0.0
    return float(ok.sort_values(["macs", "threshold"]).iloc[0].threshold)
