"""Pruning criteria: how important is each weight, and each filter?

A criterion turns what we know about a layer into one score per weight or per
output channel; **higher means more important**, so pruning removes the lowest
scores. Each is a pure function of tensors, and the registry ``CRITERIA`` (which
the explorer's dropdown reads) says which statistics it needs::

    >>> import torch
    >>> w = torch.tensor([[[[1.0, -2.0]]], [[[0.5, 0.5]]]])    # (C_out=2, C_in=1, 1, 2)
    >>> l1_norm(w)
    tensor([3., 1.])
    >>> apoz(torch.tensor([[[0.0, 1.0]], [[0.0, 0.0]]]))         # (N=2, C=1, 2): 3 of 4 zero
    tensor([0.7500])

| name | channel score | weight score | paper |
|---|---|---|---|
| ``l1`` | L1 norm of the filter | magnitude ``|w|`` | Li et al. 2016; Han et al. 2015 |
| ``apoz`` | 1 − average percentage of zeros after ReLU | — | Hu et al. 2016 |
| ``entropy`` | entropy of the globally pooled activation | — | Luo & Wu 2017 |
| ``taylor`` | ``|mean(activation × gradient)|`` | ``|w × ∂L/∂w|`` | Molchanov et al. 2017 |
| ``random`` | uniform noise | uniform noise | Anwar et al. 2017 |

Activation statistics are taken where a channel's value is final: the output of
the BatchNorm after the layer (or the layer itself when it has none), on the
validation split, with the model in eval mode. ``apoz`` and ``entropy`` look at
that output after the ReLU. For Taylor the ReLU does not matter: where it cuts,
both the activation and its gradient are zero.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .._checks import check_choice, check_int


@dataclass
class LayerStats:
    """What a criterion may look at for one layer (``None`` where not collected)."""

    weight: Tensor                       # (C_out, ...) the layer's effective weight
    activation: Tensor | None = None     # (N, C_out, ...) output at the channel's site, before ReLU
    gradient: Tensor | None = None       # dLoss/d activation, same shape
    weight_grad: Tensor | None = None    # dLoss/d weight, shape of weight
    seed: int = 0                        # for the random criterion


# ---------------------------------------------------------------- pure scoring functions


def l1_norm(weight: Tensor) -> Tensor:
    """L1 norm of each output channel's filter (Li et al. 2016): ``(C_out, ...) -> (C_out,)``.

    >>> l1_norm(torch.tensor([[1.0, -3.0], [0.0, 2.0]]))
    tensor([4., 2.])
    """
    _check_ndim("weight", weight, 2)
    return weight.detach().abs().flatten(1).sum(1)


def magnitude(weight: Tensor) -> Tensor:
    """Magnitude ``|w|`` of each weight (Han et al. 2015), same shape as ``weight``.

    >>> magnitude(torch.tensor([-0.5, 0.25]))
    tensor([0.5000, 0.2500])
    """
    return weight.detach().abs()


def apoz(activation: Tensor) -> Tensor:
    """Average Percentage of Zeros of each channel (Hu et al. 2016), a fraction in [0, 1].

    ``activation`` is ``(N, C, ...)`` *after* the ReLU; the mean runs over examples and
    positions. A channel that is almost always zero carries little: prune high APoZ.

    >>> apoz(torch.tensor([[0.0, 3.0], [0.0, 0.0]]))            # (N=2, C=2)
    tensor([1.0000, 0.5000])
    """
    _check_ndim("activation", activation, 2)
    a = activation.detach()
    return (a == 0).float().transpose(0, 1).flatten(1).mean(1)


def entropy(activation: Tensor, bins: int = 16) -> Tensor:
    """Entropy in bits of each channel's globally pooled activation (Luo & Wu 2017).

    ``activation`` is ``(N, C, ...)`` after the ReLU. Each channel's spatial mean gives one
    value per example; the values are put into ``bins`` equal bins between their minimum
    and maximum, and the entropy of the bin frequencies is returned. A channel whose
    response hardly varies across inputs (low entropy) tells the next layer little.

    >>> entropy(torch.tensor([[0.0], [0.0], [1.0], [1.0]]), bins=2)   # two equally likely values
    tensor([1.])
    """
    _check_ndim("activation", activation, 2)
    check_int("bins", bins, 2, 4096)
    pooled = activation.detach().flatten(2).mean(2) if activation.ndim > 2 else activation.detach()  # (N, C)
    lo, hi = pooled.min(0).values, pooled.max(0).values
    span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    idx = ((pooled - lo) / span * bins).long().clamp_(0, bins - 1)                                  # (N, C)
    counts = torch.zeros(bins, pooled.shape[1]).scatter_add_(0, idx, torch.ones_like(pooled))
    p = counts / pooled.shape[0]
    h = -(p * torch.log2(torch.where(p > 0, p, torch.ones_like(p)))).sum(0)
    return torch.where(hi > lo, h, torch.zeros_like(h)) + 0.0                                       # no -0.0


def taylor(activation: Tensor, gradient: Tensor) -> Tensor:
    """First-order Taylor estimate of the loss change when a channel is zeroed (Molchanov et al. 2017).

    ``|mean over positions of activation × gradient|``, averaged over examples:
    ``(N, C, ...) -> (C,)``.

    >>> taylor(torch.tensor([[1.0, 2.0], [3.0, 0.0]]), torch.tensor([[1.0, 1.0], [-1.0, 5.0]]))
    tensor([2., 1.])
    """
    _check_ndim("activation", activation, 2)
    if activation.shape != gradient.shape:
        raise ValueError(f"gradient must have the shape of activation {tuple(activation.shape)}, "
                         f"got {tuple(gradient.shape)}")
    prod = (activation.detach() * gradient.detach())
    per_example = prod.flatten(2).mean(2) if prod.ndim > 2 else prod                                # (N, C)
    return per_example.abs().mean(0)


def weight_taylor(weight: Tensor, weight_grad: Tensor) -> Tensor:
    """First-order Taylor saliency of each weight, ``|w × ∂L/∂w|`` (the loss change if zeroed).

    >>> weight_taylor(torch.tensor([2.0, -1.0]), torch.tensor([0.5, 3.0]))
    tensor([1., 3.])
    """
    if weight.shape != weight_grad.shape:
        raise ValueError(f"weight_grad must have the shape of weight {tuple(weight.shape)}, "
                         f"got {tuple(weight_grad.shape)}")
    return (weight.detach() * weight_grad.detach()).abs()


def random_scores(shape: tuple[int, ...], seed: int = 0) -> Tensor:
    """Uniform random scores (Anwar et al. 2017's baseline): any criterion must beat this.

    >>> random_scores((3,), seed=0).shape
    torch.Size([3])
    """
    return torch.rand(tuple(shape), generator=torch.Generator().manual_seed(seed))


def layer_seed(name: str, seed: int = 0) -> int:
    """A per-layer seed, so random masks differ between layers but not between runs."""
    return (zlib.crc32(name.encode()) + seed) % 2**31


def _check_ndim(name: str, t: Tensor, low: int) -> None:
    if not isinstance(t, Tensor):
        raise ValueError(f"{name} must be a tensor, got {type(t).__name__}")
    if t.ndim < low:
        raise ValueError(f"{name} must have at least {low} dimensions (N or C_out first), got shape {tuple(t.shape)}")


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Criterion:
    """A registry entry: how to score channels and (optionally) single weights."""

    channel: Callable[[LayerStats], Tensor]            # -> (C_out,), higher = keep
    weight: Callable[[LayerStats], Tensor] | None       # -> shape of weight; None: channels only
    needs: tuple[str, ...]                              # statistics to collect: activation, gradient, weight_grad
    paper: str
    summary: str

    def needs_data(self, structure: str) -> bool:
        """Whether scoring needs a pass over data (activations or gradients)."""
        return bool(self.needs_for(structure))

    def needs_for(self, structure: str) -> tuple[str, ...]:
        if structure == "unstructured":
            return tuple(n for n in self.needs if n == "weight_grad")
        return tuple(n for n in self.needs if n != "weight_grad")


CRITERIA: dict[str, Criterion] = {
    "l1": Criterion(
        channel=lambda s: l1_norm(s.weight), weight=lambda s: magnitude(s.weight), needs=(),
        paper="Li et al. 2016 (filters); Han et al. 2015 (weights)",
        summary="L1 norm of each filter; magnitude |w| of each weight"),
    "apoz": Criterion(
        channel=lambda s: 1.0 - apoz(s.activation.clamp(min=0)), weight=None, needs=("activation",),
        paper="Hu et al. 2016, Network Trimming",
        summary="1 - average percentage of zero activations after ReLU"),
    "entropy": Criterion(
        channel=lambda s: entropy(s.activation.clamp(min=0)), weight=None, needs=("activation",),
        paper="Luo & Wu 2017",
        summary="entropy of each channel's globally pooled activation"),
    "taylor": Criterion(
        channel=lambda s: taylor(s.activation, s.gradient), weight=lambda s: weight_taylor(s.weight, s.weight_grad),
        needs=("activation", "gradient", "weight_grad"), paper="Molchanov et al. 2017",
        summary="|activation x gradient|: first-order loss change when removed"),
    "random": Criterion(
        channel=lambda s: random_scores(s.weight.shape[:1], s.seed),
        weight=lambda s: random_scores(tuple(s.weight.shape), s.seed), needs=(),
        paper="Anwar et al. 2017 (random masks as the baseline)",
        summary="uniform noise: the baseline every criterion must beat"),
}

STRUCTURES = ("unstructured", "structured")


def get(name: str, structure: str = "structured") -> Criterion:
    """The registry entry ``name``, checked to have a form for ``structure``.

    >>> get("apoz", "unstructured")
    Traceback (most recent call last):
    ...
    ValueError: criterion 'apoz' scores whole channels from their activations and has no per-weight form; for unstructured pruning use one of: l1, taylor, random
    """
    check_choice("criterion", name, CRITERIA, what="criterion")
    check_choice("structure", structure, STRUCTURES)
    entry = CRITERIA[name]
    if structure == "unstructured" and entry.weight is None:
        usable = ", ".join(n for n, c in CRITERIA.items() if c.weight is not None)
        raise ValueError(f"criterion {name!r} scores whole channels from their activations and has no "
                         f"per-weight form; for unstructured pruning use one of: {usable}")
    return entry


def table():
    """The registry as a table: what each criterion scores, what it needs, the paper."""
    import pandas as pd

    return pd.DataFrame({name: {"scores": c.summary, "per weight": c.weight is not None,
                                "needs data": bool(c.needs), "paper": c.paper}
                         for name, c in CRITERIA.items()}).T

