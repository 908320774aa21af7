"""Scores -> masks -> a masked model.

Three separate steps, as in ``torch.nn.utils.prune``: a criterion gives scores
(``criteria``); ``threshold`` turns scores into a keep-mask, per layer or with one
global threshold; ``apply_masks`` registers each mask as a parametrization, so the
forward pass sees ``weight = original * mask`` and training cannot regrow a pruned
weight (the gradient reaching a masked entry is zero)::

    >>> import torch
    >>> threshold(torch.tensor([0.3, 0.1, 0.2, 0.4]), amount=0.5)
    tensor([ True, False, False,  True])
    >>> layer = torch.nn.Linear(4, 2)
    >>> _ = apply_masks(layer, {"weight": torch.tensor([[1., 0., 1., 0.], [0., 1., 1., 1.]])})
    >>> int((layer.weight == 0).sum())
    3

``amount`` is the fraction *removed*, in [0, 1), as in ``torch.nn.utils.prune``;
exactly ``round(amount * n)`` entries go, ties broken by position.
"""

from __future__ import annotations

import math

from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .._checks import check_choice, check_fraction, check_int, checked
from .groups import weight_layers

SCOPES = ("layer", "global")


class Mask(nn.Module):
    """A pruning mask as a parametrization: ``forward(w) = w * mask`` (like ``FakeSparsity``).

    The mask is a buffer, so it is saved with the model and moves with it, and is not trained.
    """

    def __init__(self, mask: Tensor):
        super().__init__()
        self.register_buffer("mask", mask.detach().clone().float())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.mask

    def extra_repr(self) -> str:
        return f"kept {int(torch.count_nonzero(self.mask))}/{self.mask.numel()}"


# ---------------------------------------------------------------- scores -> keep masks


def threshold(scores: Tensor, amount: float) -> Tensor:
    """Keep-mask (bool, shape of ``scores``) removing the ``round(amount * n)`` lowest scores.

    >>> threshold(torch.tensor([[5.0, 1.0], [3.0, 2.0]]), amount=0.25)
    tensor([[ True, False],
            [ True,  True]])
    """
    amount = check_fraction("amount", amount, high_inclusive=False)
    flat = scores.detach().reshape(-1).float()
    k = round(amount * flat.numel())
    keep = torch.ones(flat.numel(), dtype=torch.bool)
    if k:
        keep[torch.argsort(flat, stable=True)[:k]] = False
    return keep.reshape(scores.shape)


def layerwise(scores: Mapping[str, Tensor], amount: float) -> dict[str, Tensor]:
    """Remove the same fraction ``amount`` of every tensor in ``scores``, each by its own threshold."""
    check_fraction("amount", amount, high_inclusive=False)
    return {name: threshold(s, amount) for name, s in scores.items()}


def global_threshold(scores: Mapping[str, Tensor], amount: float, *, normalize: bool = False,
                     min_keep: int = 0, max_layer_amount: float = 1.0) -> dict[str, Tensor]:
    """One threshold across every tensor: remove the ``amount`` lowest scores overall.

    Layers then lose different fractions: those with many small scores lose most.
    ``normalize=True`` divides each tensor's scores by their L2 norm first, which
    makes scores of different layers comparable (Molchanov et al. 2017 do this for
    Taylor scores). ``min_keep`` keeps at least that many entries of each tensor (a
    layer with no channel left would cut the network in two), and ``max_layer_amount``
    caps the fraction any one tensor loses (Torch-Pruning's per-layer maximum ratio):
    without it a global threshold can leave a layer of 1,280 channels with one.

    >>> m = global_threshold({"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([3.0, 4.0])}, 0.5)
    >>> m["a"].tolist(), m["b"].tolist()
    ([False, False], [True, True])
    """
    amount = check_fraction("amount", amount, high_inclusive=False)
    check_int("min_keep", min_keep, 0)
    max_layer_amount = check_fraction("max_layer_amount", max_layer_amount)
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError("scores must map names to score tensors, with at least one tensor")
    names = list(scores)
    flats = []
    for name in names:
        if not isinstance(scores[name], Tensor):
            raise TypeError(f"scores[{name!r}] must be a tensor, got {type(scores[name]).__name__}")
        if not torch.isfinite(scores[name]).all():
            raise ValueError(f"scores[{name!r}] holds nan or inf values: a threshold over them means nothing")
        s = scores[name].detach().reshape(-1).float()
        if normalize:
            norm = s.norm()
            s = s / norm if norm > 0 else s
        flats.append(s)
    keep_flat = threshold(torch.cat(flats), amount)
    out, start = {}, 0
    for name, s in zip(names, flats):
        keep = keep_flat[start:start + s.numel()].clone()
        start += s.numel()
        floor = max(min(min_keep, s.numel()), math.ceil(round((1 - max_layer_amount) * s.numel(), 6)))
        if floor - int(keep.sum()) > 0:              # restore this layer's best-scored entries
            best = torch.argsort(s, descending=True, stable=True)
            keep[best[:floor]] = True
        out[name] = keep.reshape(scores[name].shape)
    return out


@checked
def keep_masks(scores: Mapping[str, Tensor], amount: float, scope: str = "layer", *, normalize: bool = False,
               min_keep: int = 0, max_layer_amount: float = 1.0) -> dict[str, Tensor]:
    """``layerwise`` or ``global_threshold``, chosen by ``scope`` ("layer" or "global").

    >>> keep_masks({"a": torch.tensor([1.0, 2.0, 3.0, 4.0]), "b": torch.tensor([9.0, 9.0])}, 0.5, "global",
    ...            max_layer_amount=0.5)["a"].tolist()
    [False, False, True, True]
    """
    check_choice("scope", scope, SCOPES)
    for name, s in scores.items():
        if isinstance(s, torch.Tensor) and s.is_floating_point() and not bool(torch.isfinite(s).all()):
            raise ValueError(f"scores for {name!r} hold nan or inf; every score must be a finite number")
    if scope == "layer":
        masks = layerwise(scores, amount)
        if min_keep:
            masks = {n: m if int(m.sum()) >= min(min_keep, m.numel()) else threshold(scores[n], 1 - min_keep / m.numel())
                     for n, m in masks.items()}
        return masks
    return global_threshold(scores, amount, normalize=normalize, min_keep=min_keep, max_layer_amount=max_layer_amount)


# ---------------------------------------------------------------- masks on a model


def _module_and_attr(model: nn.Module, path: str) -> tuple[nn.Module, str]:
    mod_name, _, attr = path.rpartition(".")
    try:
        module = model.get_submodule(mod_name) if mod_name else model
    except AttributeError:
        module = None
    if module is None or not (attr in module._parameters or
                              (parametrize.is_parametrized(module) and attr in module.parametrizations)):
        raise ValueError(f"model has no parameter {path!r}; prunable weights: "
                         f"{', '.join(n + '.weight' for n in weight_layers(model))}")
    return module, attr


@checked
def apply_masks(model: nn.Module, masks: Mapping[str, Tensor]) -> nn.Module:
    """Register each mask (keyed by parameter path, e.g. ``"features.0.weight"``) as a parametrization.

    A mask must broadcast to its parameter (a channel mask of shape ``(C, 1, 1, 1)`` does).
    Applying a mask to a parameter that already has one *replaces* it. Returns ``model``.
    """
    for path, mask in masks.items():
        module, attr = _module_and_attr(model, path)
        current = getattr(module, attr)
        mask = torch.as_tensor(mask).to(device=current.device)
        if mask.dtype != torch.bool and not ((mask == 0) | (mask == 1)).all():
            bad = mask[~((mask == 0) | (mask == 1))].reshape(-1)[0].item()
            raise ValueError(f"masks[{path!r}] must hold only 0 and 1 (or True/False), got {bad:g}: a mask keeps "
                             "or removes a weight, it does not scale it")
        try:
            torch.broadcast_shapes(mask.shape, current.shape)
        except RuntimeError:
            raise ValueError(f"mask for {path!r} has shape {tuple(mask.shape)}, which does not broadcast "
                             f"to the parameter's {tuple(current.shape)}") from None
        existing = _mask_module(module, attr)
        if existing is not None:
            existing.mask = mask.detach().clone().float().expand_as(current).clone()
        else:
            parametrize.register_parametrization(module, attr, Mask(mask.expand_as(current)))
    return model


def _mask_module(module: nn.Module, attr: str) -> Mask | None:
    if parametrize.is_parametrized(module, attr):
        for p in module.parametrizations[attr]:
            if isinstance(p, Mask):
                return p
    return None


def masks_of(model: nn.Module) -> dict[str, Tensor]:
    """Every mask registered on ``model``, by parameter path (bool tensors)."""
    out = {}
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module):
            for attr in module.parametrizations:
                m = _mask_module(module, attr)
                if m is not None:
                    out[f"{name}.{attr}" if name else attr] = m.mask.bool()
    return out


@checked
def masks_from_zeros(model: nn.Module) -> dict[str, Tensor]:
    """Masks keeping the non-zero weights of every conv/linear layer (to fine-tune a sparse model).

    >>> layer = torch.nn.Linear(2, 1)
    >>> with torch.no_grad(): _ = layer.weight.copy_(torch.tensor([[0.0, 1.5]]))
    >>> masks_from_zeros(torch.nn.Sequential(layer))["0.weight"].tolist()
    [[False, True]]
    """
    return {f"{name}.weight": (layer.weight.detach() != 0) for name, layer in weight_layers(model).items()}


@checked
def mask_weights(model: nn.Module, scores: Mapping[str, Tensor], amount: float, scope: str = "layer") -> nn.Module:
    """Unstructured pruning: mask the ``amount`` lowest-scored weights (scores keyed by layer name).

    Returns ``model`` with masks registered as parametrizations (``weight == original * mask``).
    """
    masks = keep_masks(scores, amount, scope)
    return apply_masks(model, {f"{name}.weight": m for name, m in masks.items()})


@checked
def zero_weights(model: nn.Module, scores: Mapping[str, Tensor], amount: float, scope: str = "layer") -> nn.Module:
    """Like :func:`mask_weights`, but writes the zeros into the weights (no parametrization).

    What a deployed sparse model holds; quick to evaluate. Fine-tuning it would regrow
    the zeros: wrap it with ``apply_masks(model, masks_from_zeros(model))`` first.
    """
    masks = keep_masks(scores, amount, scope)
    layers = weight_layers(model)
    with torch.no_grad():
        for name, keep in masks.items():
            if name not in layers:
                raise ValueError(f"scores name {name!r} is not a layer; layers: {', '.join(layers)}")
            layers[name].weight.mul_(keep.to(layers[name].weight.dtype))
    return model


def layer_sparsity(model: nn.Module):
    """Fraction of zero weights in each conv/linear layer, and overall (pandas Series)."""
    import pandas as pd

    layers = weight_layers(model)
    zeros = {n: int((m.weight == 0).sum()) for n, m in layers.items()}
    sizes = {n: m.weight.numel() for n, m in layers.items()}
    out = {n: zeros[n] / sizes[n] for n in layers}
    out["all weights"] = sum(zeros.values()) / sum(sizes.values())
    return pd.Series(out, name="sparsity")
