"""Structured pruning: remove whole filters (and the next layer's matching inputs).

A masked filter still costs its multiply-accumulates on a dense kernel; a removed
one does not. Removal is surgery in pairs (as Torch-Pruning's ``pruner/function.py``
does it): ``prune_out_channels`` drops filters from one layer,
``prune_in_channels`` the matching input channels from the next::

    >>> import torch
    >>> conv, nxt = torch.nn.Conv2d(1, 4, 3), torch.nn.Conv2d(4, 2, 3)
    >>> _ = prune_out_channels(conv, [1, 3]), prune_in_channels(nxt, [1, 3])
    >>> tuple(conv.weight.shape), tuple(nxt.weight.shape)
    ((2, 1, 3, 3), (2, 2, 3, 3))

``remove_channels`` does this for every channel group of a plain chain by hand
(``lenet300``, ``lenet5``, ``vgg``) and hands any other graph (the residual
``resnet``, the depthwise ``mobilenet``) to Torch-Pruning's ``DependencyGraph``,
which finds what a channel is coupled with. Either way ``model.config`` is updated,
so ``workbench.build(**model.config)`` rebuilds the smaller architecture.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .._checks import check_choice, check_int, checked
from .groups import NORMS, ChannelGroup, channel_groups, dependency_graph, is_chain, names_to_module, weight_layers
from .masks import apply_masks, keep_masks

METHODS = ("auto", "hand", "dependency_graph")


def _keep_index(idxs: Sequence[int], n: int, what: str) -> Tensor:
    idxs = [int(i) for i in (idxs.tolist() if isinstance(idxs, Tensor) else idxs)]
    for i in idxs:
        if not 0 <= i < n:
            raise ValueError(f"idxs must be channel indices in [0, {n - 1}] of {what}, got {i}")
    if len(set(idxs)) >= n:
        raise ValueError(f"idxs must leave at least one of the {n} channels of {what}")
    drop = set(idxs)
    return torch.tensor([i for i in range(n) if i not in drop], dtype=torch.long)


def _replace(module: nn.Module, name: str, value: Tensor) -> None:
    old = getattr(module, name)
    if isinstance(old, nn.Parameter):
        setattr(module, name, nn.Parameter(value.detach().clone(), requires_grad=old.requires_grad))
    else:
        setattr(module, name, value.detach().clone())


def _check_plain(layer: nn.Module) -> None:
    if parametrize.is_parametrized(layer) or any(n.endswith("_orig") for n in layer._parameters):
        raise ValueError(f"{type(layer).__name__} holds a mask; remove the masks first "
                         "(workbench.weights.plain_copy)")


def prune_out_channels(layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
    """Remove output channels ``idxs`` of a Conv2d (plain or depthwise), Linear or BatchNorm, in place.

    >>> bn = torch.nn.BatchNorm2d(3)
    >>> prune_out_channels(bn, [0]).num_features
    2
    """
    _check_plain(layer)
    if isinstance(layer, nn.Conv2d):
        keep = _keep_index(idxs, layer.out_channels, "the conv's output channels")
        depthwise = layer.groups > 1
        if depthwise and not layer.groups == layer.in_channels == layer.out_channels:
            raise ValueError("layer must be a plain or depthwise conv; grouped convs are not supported")
        _replace(layer, "weight", layer.weight[keep])
        if layer.bias is not None:
            _replace(layer, "bias", layer.bias[keep])
        layer.out_channels = len(keep)
        if depthwise:
            layer.in_channels = layer.groups = len(keep)
    elif isinstance(layer, nn.Linear):
        keep = _keep_index(idxs, layer.out_features, "the linear layer's outputs")
        _replace(layer, "weight", layer.weight[keep])
        if layer.bias is not None:
            _replace(layer, "bias", layer.bias[keep])
        layer.out_features = len(keep)
    elif isinstance(layer, NORMS):
        keep = _keep_index(idxs, layer.num_features, "the BatchNorm's channels")
        for name in ("weight", "bias", "running_mean", "running_var"):
            if getattr(layer, name, None) is not None:
                _replace(layer, name, getattr(layer, name)[keep])
        layer.num_features = len(keep)
    else:
        raise ValueError(f"layer must be a Conv2d, Linear or BatchNorm to lose output channels, "
                         f"got {type(layer).__name__}")
    return layer


def prune_in_channels(layer: nn.Module, idxs: Sequence[int], factor: int = 1) -> nn.Module:
    """Remove input channels ``idxs`` of a Conv2d or Linear, in place.

    For a Linear after a ``Flatten`` of ``(C, H, W)``, each channel is ``factor = H * W``
    consecutive inputs.

    >>> fc = torch.nn.Linear(8, 3)
    >>> prune_in_channels(fc, [1], factor=4).in_features
    4
    """
    _check_plain(layer)
    check_int("factor", factor, 1)
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1:
            raise ValueError("layer must be a plain conv (groups=1) to lose input channels; a depthwise conv "
                             "loses them together with its outputs (prune_out_channels)")
        if factor != 1:
            raise ValueError(f"factor must be 1 for a Conv2d, got {factor}")
        keep = _keep_index(idxs, layer.in_channels, "the conv's input channels")
        _replace(layer, "weight", layer.weight[:, keep])
        layer.in_channels = len(keep)
    elif isinstance(layer, nn.Linear):
        if layer.in_features % factor:
            raise ValueError(f"factor must divide in_features={layer.in_features}, got {factor}")
        keep_ch = _keep_index(idxs, layer.in_features // factor, "the linear layer's input channels")
        keep = (keep_ch[:, None] * factor + torch.arange(factor)).reshape(-1)
        _replace(layer, "weight", layer.weight[:, keep])
        layer.in_features = len(keep)
    else:
        raise ValueError(f"layer must be a Conv2d or Linear to lose input channels, got {type(layer).__name__}")
    return layer


def _check_keep(groups: Sequence[ChannelGroup], keep: Mapping[str, Tensor]) -> dict[str, Tensor]:
    by_name = {g.name: g for g in groups}
    out = {}
    for name, mask in keep.items():
        if name not in by_name:
            raise ValueError(f"{name!r} is not a prunable channel group; groups: {', '.join(by_name)} "
                             "(the output layer cannot lose its classes)")
        mask = torch.as_tensor(mask).bool().reshape(-1)
        if mask.numel() != by_name[name].channels:
            raise ValueError(f"keep[{name!r}] must have {by_name[name].channels} entries, got {mask.numel()}")
        if not mask.any():
            raise ValueError(f"keep[{name!r}] must keep at least one channel")
        out[name] = mask
    return out


@checked
def remove_channels(model: nn.Module, keep: Mapping[str, Tensor], *, method: str = "auto",
                    input_shape: Sequence[int] | None = None) -> nn.Module:
    """Physically remove the channels whose ``keep`` entry is False, per group; in place.

    ``method="hand"`` does the surgery layer by layer (plain chains only);
    ``"dependency_graph"`` uses Torch-Pruning; ``"auto"`` picks hand for chains.
    ``input_shape`` (C, H, W) traces a model without a workbench config (a torchvision
    network, your own). Everything is checked before the first layer is touched, and
    the surgery runs on a copy that replaces the model's layers only when it succeeds:
    an error never leaves a half-pruned model.
    """
    check_choice("method", method, METHODS)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if any(parametrize.is_parametrized(m) for m in model.modules()):
        raise ValueError("model holds parametrized masks; remove_channels needs a plain model "
                         "(workbench.weights.plain_copy)")
    groups = channel_groups(model, input_shape)
    keep = _check_keep(groups, keep)
    if method == "auto":
        method = "hand" if is_chain(model) else "dependency_graph"
    if method == "hand" and not is_chain(model):
        raise ValueError("method='hand' handles the plain chains (lenet300, lenet5, vgg); "
                         "use method='dependency_graph' for residual or depthwise models")
    work = copy.deepcopy(model)                     # surgery on a copy; swapped in when it succeeded
    _surgery(work, groups, keep, method, input_shape)
    _swap_in(model, work)
    sync_config(model)
    return model


def _swap_in(model: nn.Module, work: nn.Module) -> None:
    """Make ``model`` hold ``work``'s (pruned) submodules and parameters, keeping its identity."""
    model.__dict__.update({k: v for k, v in work.__dict__.items() if k != "config"})


def _surgery(model: nn.Module, groups, keep, method: str, input_shape) -> None:
    if method == "hand":
        for g in groups:
            if g.name in keep:
                drop = (~keep[g.name]).nonzero().flatten().tolist()
                if not drop:
                    continue
                for name in g.producers + g.norms:
                    prune_out_channels(names_to_module(model, name), drop)
                for name in g.consumers:
                    prune_in_channels(names_to_module(model, name), drop, g.factor)
    else:
        import torch_pruning as tp

        graph = dependency_graph(model, input_shape)
        for g in groups:
            if g.name in keep:
                drop = (~keep[g.name]).nonzero().flatten().tolist()
                if not drop:
                    continue
                root = names_to_module(model, g.name)
                fn = tp.prune_conv_out_channels if isinstance(root, nn.Conv2d) else tp.prune_linear_out_channels
                graph.get_pruning_group(root, fn, drop).prune()


@checked
def mask_channels(model: nn.Module, keep: Mapping[str, Tensor], *,
                  input_shape: Sequence[int] | None = None) -> nn.Module:
    """The soft version of :func:`remove_channels`: zero the channels with parametrized masks.

    Masks each producer's filter rows and bias and each norm's weight and bias, so the
    channel's output is exactly zero, as if it were removed (the tests check this).
    """
    all_groups = channel_groups(model, input_shape)
    keep = _check_keep(all_groups, keep)
    groups = {g.name: g for g in all_groups}
    masks = {}
    for name, k in keep.items():
        g = groups[name]
        for member in g.producers + g.norms:
            module = names_to_module(model, member)
            for attr in ("weight", "bias"):
                if getattr(module, attr, None) is not None:
                    shape = (-1,) + (1,) * (getattr(module, attr).ndim - 1)
                    masks[f"{member}.{attr}"] = k.float().reshape(shape)
    return apply_masks(model, masks)


# With a global threshold no layer loses more than this fraction of its channels: a floor of
# 10% per layer, as Torch-Pruning's per-layer maximum ratio (one global threshold emptied
# all but 1 of MobileNetV2's 1,280 final channels without it).
MAX_LAYER_AMOUNT = 0.9


def channel_keep(scores: Mapping[str, Tensor], amount: float, scope: str = "layer", *,
                 max_layer_amount: float = MAX_LAYER_AMOUNT) -> dict[str, Tensor]:
    """Keep-masks per channel group: the ``amount`` lowest-scored channels go, at least one stays.

    Global thresholds compare L2-normalised scores (Molchanov et al. 2017), since raw
    scores of different layers live on different scales, and take at most
    ``max_layer_amount`` of any one group.

    >>> a = torch.cat([torch.full((19,), 1e-3), torch.ones(1)])      # one strong channel, 19 idle
    >>> keep = channel_keep({"a": a, "b": torch.ones(20)}, 0.5, "global")
    >>> int(keep["a"].sum()), int(channel_keep({"a": a, "b": torch.ones(20)}, 0.5, "global",
    ...                                        max_layer_amount=1.0)["a"].sum())
    (2, 1)
    """
    return keep_masks(scores, amount, scope, normalize=True, min_keep=1, max_layer_amount=max_layer_amount)


@checked
def prune_channels(model: nn.Module, scores: Mapping[str, Tensor], amount: float, scope: str = "layer", *,
                   method: str = "auto", input_shape: Sequence[int] | None = None) -> nn.Module:
    """Remove the ``amount`` lowest-scored channels of every group (``scores`` from ``channel_scores``)."""
    return remove_channels(model, channel_keep(scores, amount, scope), method=method, input_shape=input_shape)


def sync_config(model: nn.Module) -> dict | None:
    """Rewrite ``model.config``'s channel counts from the layers (after surgery); returns it."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        return None
    name = config.get("name")
    convs = [m for m in weight_layers(model).values() if isinstance(m, nn.Conv2d)]
    linears = [m for m in weight_layers(model).values() if isinstance(m, nn.Linear)]
    if name == "lenet300":
        config["hidden"] = tuple(m.out_features for m in linears[:-1])
    elif name == "lenet5":
        config["channels"] = tuple(m.out_channels for m in convs)
        config["hidden"] = tuple(m.out_features for m in linears[:-1])
    elif name == "vgg":
        config["channels"] = tuple(m.out_channels for m in convs)
    elif name == "resnet":
        config["channels"] = (model.stem[0].out_channels, *(b.conv2.out_channels for b in model.layers))
        config["mid"] = tuple(b.conv1.out_channels for b in model.layers)
    elif name == "mobilenet":
        pointwise = [m for m in convs[1:] if m.kernel_size == (1, 1)]
        config["channels"] = (convs[0].out_channels, *(m.out_channels for m in pointwise))
    return config
