"""Per-layer sensitivity: prune one layer at a time and watch the accuracy (as Distiller does).

Layers are not equally redundant. Pruning each alone at a range of amounts, with
every other layer intact, gives one accuracy curve per layer; flat curves can be
pruned hard, steep ones gently. The curves are measured on the **validation**
split, since choosing amounts from them is a decision made while compressing::

    >>> import workbench as wb
    >>> curves = sensitivity(wb.get_baseline("lenet300"), wb.load("digits"), amounts=(0.5, 0.9))
    >>> list(curves.index), list(curves.columns)
    (['classifier.1', 'classifier.3', 'classifier.5'], [0.5, 0.9])
    >>> choose_amounts(curves, floor=0.0)
    {'classifier.1': 0.9, 'classifier.3': 0.9, 'classifier.5': 0.9}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor, nn

from .._checks import check_choice, check_fraction
from ..train import evaluate
from ..weights import deep_copy
from .criteria import STRUCTURES
from .masks import threshold
from .scores import channel_scores, weight_scores
from .structured import channel_keep, remove_channels

DEFAULT_AMOUNTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def prune_layers(model: nn.Module, scores: Mapping[str, Tensor], amounts: Mapping[str, float],
                 structure: str = "unstructured") -> nn.Module:
    """Prune each named layer (or channel group) by its own amount; in place, returns ``model``.

    Unstructured pruning writes zeros into the weights (a deployed sparse model);
    structured pruning removes the channels.
    """
    check_choice("structure", structure, STRUCTURES)
    for name, a in amounts.items():
        check_fraction(f"amounts[{name!r}]", a, high_inclusive=False)
        if name not in scores:
            raise ValueError(f"amounts names {name!r}, which has no scores; scored: {', '.join(scores)}")
    if structure == "structured":
        keep = {name: channel_keep({name: scores[name]}, a)[name] for name, a in amounts.items() if a > 0}
        return remove_channels(model, keep)
    layers = dict(model.named_modules())
    with torch.no_grad():
        for name, a in amounts.items():
            layers[name].weight.mul_(threshold(scores[name], a).to(layers[name].weight.dtype))
    return model


def sensitivity(model: nn.Module, data, *, amounts: Sequence[float] = DEFAULT_AMOUNTS, criterion: str = "l1",
                structure: str = "unstructured", split: str = "val",
                scores: Mapping[str, Tensor] | None = None) -> pd.DataFrame:
    """Accuracy on ``split`` with one layer pruned at a time: rows are layers, columns amounts.

    ``curves.attrs["baseline"]`` holds the unpruned accuracy. Pass ``scores`` to reuse
    scores already computed (``weight_scores`` / ``channel_scores``).
    """
    check_choice("structure", structure, STRUCTURES)
    if not amounts:
        raise ValueError("amounts must list at least one amount")
    for a in amounts:
        check_fraction("amounts", a, high_inclusive=False)
    if scores is None:
        score_fn = weight_scores if structure == "unstructured" else channel_scores
        scores = score_fn(model, criterion, data)
    X, y = data.split(split)
    rows = {}
    for name in scores:
        rows[name] = {a: evaluate(prune_layers(deep_copy(model), scores, {name: a}, structure), X, y)
                      for a in amounts}
    curves = pd.DataFrame.from_dict(rows, orient="index")
    curves.attrs["baseline"] = evaluate(model, X, y)
    curves.attrs.update(criterion=criterion, structure=structure, split=split)
    return curves


def one_shot(model: nn.Module, data, scores: Mapping[str, Mapping[str, Tensor]], amounts: Sequence[float], *,
             structure: str = "unstructured", scope: str | Sequence[str] = "layer",
             split: str = "test") -> pd.DataFrame:
    """Accuracy right after pruning (no fine-tuning), one row per set of scores, one column per amount.

    ``scores`` maps a label (a criterion, say) to that criterion's scores of ``model``.
    Unstructured pruning writes the zeros in; structured pruning removes the channels.
    Several scopes give one row per label and scope (``"l1, global"``).

    >>> import workbench as wb
    >>> model = wb.get_baseline("lenet300")
    >>> table = one_shot(model, wb.load("digits"), {"l1": weight_scores(model, "l1")}, [0.5])
    >>> table.shape
    (1, 1)
    """
    from .masks import zero_weights
    from .structured import prune_channels

    check_choice("structure", structure, STRUCTURES)
    if not amounts:
        raise ValueError("amounts must list at least one amount")
    scopes = [scope] if isinstance(scope, str) else list(scope)
    X, y = data.split(split)
    prune = zero_weights if structure == "unstructured" else prune_channels
    rows = {}
    for sc in scopes:
        for label, s in scores.items():
            name = label if len(scopes) == 1 else f"{label}, {sc}"
            rows[name] = {a: evaluate(prune(deep_copy(model), s, a, sc), X, y) for a in amounts}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs.update(structure=structure, scope=scope, split=split)
    return table


def choose_amounts(curves: pd.DataFrame, floor: float) -> dict[str, float]:
    """For each layer, the largest amount whose accuracy is at least ``floor`` (0.0 if none is).

    >>> curves = pd.DataFrame({0.5: [0.95, 0.90], 0.9: [0.93, 0.40]}, index=["fc1", "fc2"])
    >>> choose_amounts(curves, floor=0.92)
    {'fc1': 0.9, 'fc2': 0.0}
    """
    check_fraction("floor", floor)
    out = {}
    for name, row in curves.iterrows():
        ok = [float(a) for a, acc in row.items() if acc >= floor]
        out[name] = max(ok) if ok else 0.0
    return out
