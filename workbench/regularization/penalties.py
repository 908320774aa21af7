"""Sparsity penalties and their proximal steps, as pure functions of tensors and models.

Two ways to make a penalty produce zeros. Adding ``λ·Σ|w|`` to the loss and
following its (sub)gradient pushes every weight towards zero by ``lr·λ`` per step,
overshoots, and leaves weights oscillating *around* zero. The **proximal** step
applies the penalty exactly after each optimiser step instead: soft-thresholding
sets every weight within ``lr·λ`` of zero to exactly zero::

    >>> import torch
    >>> soft_threshold(torch.tensor([0.3, -0.05, 0.1, -0.2]), 0.1)
    tensor([ 0.2000, -0.0000,  0.0000, -0.1000])

Group lasso (Yuan & Lin 2006; Wen et al. 2016's Structured Sparsity Learning)
sums the L2 norms of *groups* of weights, so whole groups reach zero together.
The group kinds, for a conv weight ``(out, in, kh, kw)``:

- ``filter``: one output channel — its filter, bias and BatchNorm scale and shift
  (so a zeroed filter outputs exactly 0 and can be removed);
- ``channel``: one input channel of the *next* layer, across all its filters;
- ``shape``: one ``(in, kh, kw)`` position across all filters of a conv;
- ``depth``: a whole residual branch of a ResNet block (the block becomes its shortcut);
- ``conv-filter``: the filters of the conv layers alone (Wen et al. regularize LeNet's convs;
  the classifier's hidden neurons are left alone); where BatchNorm follows a conv, the group
  is the BN scale and shift, which set the channel's output (the conv is scale-invariant).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .._checks import check_choice, check_number, checked
from ..pruning.groups import channel_groups, names_to_module, weight_layers

GROUP_KINDS = ("filter", "channel", "shape", "depth", "conv-filter")


def check_lam(name: str, value) -> float:
    """A penalty strength: a finite number ≥ 0 (NaN and infinity are refused)."""
    value = check_number(name, value, 0.0)
    if math.isinf(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


# ---------------------------------------------------------------- single tensors


@checked
def soft_threshold(w: Tensor, threshold: float) -> Tensor:
    """The proximal step of ``threshold·|w|``: ``sign(w)·max(|w| − threshold, 0)``.

    >>> soft_threshold(torch.tensor([1.0, -0.5]), 0.75).tolist()
    [0.25, -0.0]
    """
    threshold = check_lam("threshold", threshold)
    return torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0)


def weight_groups(weight: Tensor, kind: str) -> Tensor:
    """The groups of one conv or linear weight as rows of a matrix ``(groups, size)``.

    ``filter``: one row per output channel; ``channel``: per input channel; ``shape``:
    per ``(in, kh, kw)`` position of a conv (conv weights only).

    >>> weight_groups(torch.ones(4, 3, 5, 5), "shape").shape
    torch.Size([75, 4])
    """
    check_choice("kind", kind, GROUP_KINDS[:3], what="group kind for one weight")
    if weight.ndim not in (2, 4):
        raise ValueError(f"weight must be a linear (2-D) or conv (4-D) weight, got {weight.ndim}-D")
    if kind == "filter":
        return weight.reshape(weight.shape[0], -1)
    if kind == "channel":
        return weight.transpose(0, 1).reshape(weight.shape[1], -1)
    if weight.ndim != 4:
        raise ValueError("kind 'shape' groups the (in, kh, kw) positions of a conv weight; "
                         f"got a {weight.ndim}-D (linear) weight")
    return weight.permute(1, 2, 3, 0).reshape(-1, weight.shape[0])


def group_norm_values(weight: Tensor, kind: str) -> Tensor:
    """L2 norm of every group of ``weight`` (differentiable; a zero group has subgradient 0).

    >>> group_norm_values(torch.tensor([[3.0, 4.0], [0.0, 0.0]]), "filter")
    tensor([5., 0.])
    """
    return torch.linalg.vector_norm(weight_groups(weight, kind), dim=1)


@checked
def prox_group(weight: Tensor, kind: str, threshold: float) -> Tensor:
    """Group soft-thresholding: each group ``g ← g·max(0, 1 − threshold/‖g‖)``.

    >>> prox_group(torch.tensor([[3.0, 4.0], [0.3, 0.4]]), "filter", 1.0)
    tensor([[2.4000, 3.2000],
            [0.0000, 0.0000]])
    """
    threshold = check_lam("threshold", threshold)
    norms = group_norm_values(weight, kind)
    scale = torch.clamp(1 - threshold / norms.clamp_min(1e-30), min=0.0)
    rows = weight_groups(weight, kind) * scale[:, None]
    if kind == "filter":
        return rows.reshape(weight.shape)
    if kind == "channel":
        return rows.reshape(weight.shape[1], weight.shape[0], *weight.shape[2:]).transpose(0, 1).contiguous()
    return rows.reshape(*weight.shape[1:], weight.shape[0]).permute(3, 0, 1, 2).contiguous()


# ---------------------------------------------------------------- groups of a model


@dataclass(frozen=True)
class Member:
    """One tensor's part in a set of groups: ``dims`` index the group (``()``: the tensor is one group)."""

    path: str                  # parameter path, e.g. "features.0.weight"
    dims: tuple[int, ...]      # dimensions that index the groups
    factor: int = 1            # consecutive entries of dims[0] per group (a Linear after Flatten)


@dataclass(frozen=True)
class GroupSet:
    """Groups that share an index across several tensors (a filter: weight rows, bias, BN scale and shift)."""

    name: str
    size: int                  # number of groups
    members: tuple[Member, ...]


def _param(model: nn.Module, path: str) -> Tensor:
    mod, _, attr = path.rpartition(".")
    return getattr(model.get_submodule(mod) if mod else model, attr)


def _rows(t: Tensor, m: Member, size: int) -> Tensor:
    if not m.dims:
        return t.reshape(1, -1)
    rest = [d for d in range(t.ndim) if d not in m.dims]
    return t.permute(*m.dims, *rest).reshape(size, -1)


def group_sets(model: nn.Module, kind: str) -> list[GroupSet]:
    """Every set of groups of ``kind`` in ``model`` (what the penalty sums, what the prox shrinks).

    >>> from workbench import models
    >>> [(s.name, s.size) for s in group_sets(models.build("lenet5"), "filter")]
    [('features.0', 6), ('features.3', 16), ('classifier.1', 120), ('classifier.3', 84)]
    """
    check_choice("kind", kind, GROUP_KINDS, what="group kind")
    if kind == "conv-filter":
        sets = [s for s, g in zip(output_sets(model), channel_groups(model))
                if all(isinstance(names_to_module(model, p), nn.Conv2d) for p in g.producers)]
        if not sets:
            raise ValueError("kind 'conv-filter' needs conv layers: this model has no conv filter to regularize")
        return sets
    if kind == "depth":
        blocks = [(n, b) for n, b in model.named_modules() if all(hasattr(b, a) for a in ("conv1", "bn1", "conv2", "bn2"))]
        if not blocks:
            raise ValueError("kind 'depth' needs a residual model (resnet): this model has no residual block")
        return [GroupSet(n, 1, tuple(Member(f"{n}.{m}.{a}", ()) for m in ("conv1", "bn1", "conv2", "bn2")
                                     for a in ("weight", "bias") if getattr(getattr(b, m), a, None) is not None))
                for n, b in blocks]
    if kind == "shape":
        convs = {n: m for n, m in weight_layers(model).items() if isinstance(m, nn.Conv2d) and m.groups == 1}
        if not convs:
            raise ValueError("kind 'shape' groups conv kernel positions: this model has no (plain) conv layer")
        return [GroupSet(n, m.in_channels * m.kernel_size[0] * m.kernel_size[1], (Member(f"{n}.weight", (1, 2, 3)),))
                for n, m in convs.items()]
    sets = []
    for g in channel_groups(model):
        if kind == "filter":
            members = [Member(f"{p}.{a}", (0,)) for p in g.producers + g.norms for a in ("weight", "bias")
                       if getattr(names_to_module(model, p), a, None) is not None]
        else:
            members = [Member(f"{c}.weight", (1,), g.factor) for c in g.consumers]
            if any(names_to_module(model, c).weight.shape[1] != g.channels * g.factor for c in g.consumers):
                raise ValueError("kind 'channel' needs plain consumers of every channel (no depthwise conv)")
        sets.append(GroupSet(g.name, g.channels, tuple(members)))
    return sets


def output_sets(model: nn.Module) -> list[GroupSet]:
    """Per channel group, the parameters that set each channel's final value: the BatchNorm scale and
    shift where a norm follows (the conv before it is scale-invariant, Liu et al. 2017), else the
    filter's weight and bias. A channel whose group is all zero outputs exactly 0."""
    sets = []
    for g in channel_groups(model):
        members = [Member(f"{p}.{a}", (0,)) for p in (g.norms or g.producers) for a in ("weight", "bias")
                   if getattr(names_to_module(model, p), a, None) is not None]
        sets.append(GroupSet(g.name, g.channels, tuple(members)))
    return sets


def _set_matrix(model: nn.Module, s: GroupSet) -> Tensor:
    return torch.cat([_rows(_param(model, m.path), m, s.size) for m in s.members], dim=1)


def group_norms(model: nn.Module, kind: str) -> dict[str, Tensor]:
    """L2 norm of every group of ``kind``, per group set (differentiable).

    >>> from workbench import models
    >>> norms = group_norms(models.build("lenet5"), "filter")
    >>> tuple(norms["features.0"].shape)
    (6,)
    """
    return {s.name: torch.linalg.vector_norm(_set_matrix(model, s), dim=1) for s in group_sets(model, kind)}


def group_lasso(model: nn.Module, lam: float, kind: str = "filter") -> Tensor:
    """Wen et al.'s group-lasso term ``λ·Σ_g ‖w_g‖₂`` over the groups of ``kind``.

    >>> from workbench import models
    >>> group_lasso(models.build("lenet5"), 0.0).item()
    0.0
    """
    lam = check_lam("lam", lam)
    return lam * sum(n.sum() for n in group_norms(model, kind).values())


@checked
def l1(model: nn.Module, lam: float) -> Tensor:
    """``λ·Σ|w|`` over the weights of every conv and linear layer (biases and norms excluded).

    >>> from workbench import models
    >>> l1(models.build("lenet300"), 0.0).item()
    0.0
    """
    lam = check_lam("lam", lam)
    return lam * sum(m.weight.abs().sum() for m in weight_layers(model).values())


@checked
@torch.no_grad()
def prox_l1_(model: nn.Module, threshold: float) -> nn.Module:
    """Soft-threshold every conv/linear weight in place (the proximal step of ``l1``)."""
    threshold = check_lam("threshold", threshold)
    for m in weight_layers(model).values():
        m.weight.copy_(soft_threshold(m.weight, threshold))
    return model


def _scale_member(t: Tensor, m: Member, scale: Tensor) -> None:
    if not m.dims:
        t.mul_(scale.reshape(()))
        return
    if m.factor > 1:
        scale = scale.repeat_interleave(m.factor)
    shape = [t.shape[d] if d in m.dims else 1 for d in range(t.ndim)]
    t.mul_(scale.reshape(shape))


@checked
@torch.no_grad()
def prox_group_(model: nn.Module, kind: str, threshold: float) -> nn.Module:
    """Group soft-thresholding of every group of ``kind`` in place (the proximal step of ``group_lasso``)."""
    threshold = check_lam("threshold", threshold)
    for s in group_sets(model, kind):
        norms = torch.linalg.vector_norm(_set_matrix(model, s), dim=1)
        scale = torch.clamp(1 - threshold / norms.clamp_min(1e-30), min=0.0)
        for m in s.members:
            _scale_member(_param(model, m.path), m, scale)
    return model


@checked
@torch.no_grad()
def zero_groups_(model: nn.Module, kind: str, threshold: float, *, relative: bool = False) -> dict[str, int]:
    """Zero every group of ``kind`` whose L2 norm is at most ``threshold``; returns zeroed groups per set.

    ``relative=True``: at most ``threshold`` times the largest norm of the group's set (its layer).
    """
    threshold = check_lam("threshold", threshold)
    out = {}
    for s in group_sets(model, kind):
        norms = torch.linalg.vector_norm(_set_matrix(model, s), dim=1)
        keep = (norms > threshold * (norms.max() if relative else 1.0)).float()
        for m in s.members:
            _scale_member(_param(model, m.path), m, keep)
        out[s.name] = int((keep == 0).sum())
    return out


def zero_group_fraction(model: nn.Module, kind: str) -> dict[str, float]:
    """Fraction of exactly-zero groups of ``kind`` per group set."""
    return {n: float((v == 0).float().mean()) for n, v in group_norms(model, kind).items()}


@checked
def exact_zeros(model: nn.Module, layers: Sequence[str] | None = None) -> float:
    """Fraction of conv/linear weights that are exactly 0.0 (not merely small).

    >>> from workbench import models
    >>> exact_zeros(models.build("lenet300"))
    0.0
    """
    ws = [m.weight for n, m in weight_layers(model).items() if layers is None or n in layers]
    return sum(int((w == 0).sum()) for w in ws) / sum(w.numel() for w in ws)


@checked
def near_zeros(model: nn.Module, tol: float = 1e-3) -> float:
    """Fraction of conv/linear weights with ``|w| < tol``: small, though maybe not zero.

    >>> from workbench import models
    >>> near_zeros(models.build("lenet300"), 1.0)
    1.0
    """
    tol = check_lam("tol", tol)
    ws = [m.weight for m in weight_layers(model).values()]
    return sum(int((w.abs() < tol).sum()) for w in ws) / sum(w.numel() for w in ws)
