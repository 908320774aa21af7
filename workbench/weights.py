"""The effective weights of a model: what a deployed copy would hold.

Compression techniques here wrap weights (a pruning mask, a fake quantizer, a
shared-weight codebook) as parametrizations or, in PyTorch's pruning utilities,
as ``weight_orig`` * ``weight_mask``. Counting and encoding look through those
wrappers at the weights the forward pass actually uses, under their plain names::

    >>> import torch
    >>> from torch.nn.utils import prune
    >>> layer = prune.l1_unstructured(torch.nn.Linear(4, 2), "weight", amount=0.5)
    >>> sorted(effective_state_dict(layer)), int(torch.count_nonzero(effective_state_dict(layer)["weight"]))
    (['bias', 'weight'], 4)
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize


def effective_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The tensors a deployed model needs, under their plain names, masks applied.

    Parametrized weights (``parametrizations.weight.original`` + mask) become
    ``weight``; ``torch.nn.utils.prune``'s ``weight_orig`` / ``weight_mask`` become
    ``weight``; other parameters and persistent buffers are kept as they are.

    >>> from workbench import models
    >>> list(effective_state_dict(models.build("lenet300")))[:2]
    ['classifier.1.weight', 'classifier.1.bias']
    """
    out: dict[str, Tensor] = {}
    for mod_name, module in model.named_modules():
        if ".parametrizations." in f".{mod_name}." or mod_name.endswith("parametrizations"):
            continue
        prefix = f"{mod_name}." if mod_name else ""
        names = list(module._parameters)
        if parametrize.is_parametrized(module):
            names += list(module.parametrizations.keys())
        for name in names:
            if name.endswith("_orig"):        # torch.nn.utils.prune: weight = weight_orig * weight_mask
                name = name[: -len("_orig")]
            value = getattr(module, name)
            if value is not None:
                out[prefix + name] = value.detach()
        for name, buf in module._buffers.items():
            if buf is None or name in module._non_persistent_buffers_set or name.endswith("_mask"):
                continue
            out[prefix + name] = buf.detach()
    return out


def weight_tensors(model: nn.Module) -> dict[str, Tensor]:
    """Every learnable tensor under its plain name, masks applied (no buffers)."""
    state = effective_state_dict(model)
    names = set()
    for mod_name, module in model.named_modules():
        if "parametrizations" in mod_name.split("."):
            continue
        prefix = f"{mod_name}." if mod_name else ""
        for name in module._parameters:
            names.add(prefix + (name[:-5] if name.endswith("_orig") else name))
        if parametrize.is_parametrized(module):
            names.update(prefix + n for n in module.parametrizations.keys())
    return {n: t for n, t in state.items() if n in names}


def plain_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every mask or parametrization made permanent.

    The result has ordinary ``weight`` parameters and loads an encoding's decoded
    state dict directly.
    """
    from torch.nn.utils import prune

    model = deep_copy(model)
    for module in model.modules():
        if parametrize.is_parametrized(module):
            _unparametrize(module)
        for name in [n[: -len("_orig")] for n in list(module._parameters) if n.endswith("_orig")]:
            prune.remove(module, name)
    return model


def _unparametrize(module: nn.Module) -> None:
    """Make a (copied) module's parametrized tensors plain, leaving its class object alone.

    ``parametrize.remove_parametrizations`` deletes properties from the module's
    injected class, which a ``deepcopy`` shares with the original module: on a copy
    it would break the original. Here only the copy's ``__class__`` is switched back.
    """
    values = {}
    for name, plist in module.parametrizations.items():
        original = plist.original
        value = getattr(module, name).detach().clone()
        values[name] = nn.Parameter(value, requires_grad=original.requires_grad) if isinstance(
            original, nn.Parameter) else value
    delattr(module, "parametrizations")
    module.__class__ = module.__class__.__bases__[0]
    for name, value in values.items():
        if isinstance(value, nn.Parameter):
            module.register_parameter(name, value)
        else:
            module.register_buffer(name, value)


def deep_copy(model: nn.Module) -> nn.Module:
    """``copy.deepcopy`` that also copies models pruned with ``torch.nn.utils.prune``.

    That utility stores ``weight`` as a computed (non-leaf) tensor, which
    ``deepcopy`` refuses; it is recomputed on the next forward pass anyway.
    """
    memo: dict[int, object] = {}
    for module in model.modules():
        for name in module._parameters:
            if name.endswith("_orig"):
                computed = getattr(module, name[: -len("_orig")], None)
                if isinstance(computed, Tensor):
                    memo[id(computed)] = computed.detach().clone()
    return copy.deepcopy(model, memo)
