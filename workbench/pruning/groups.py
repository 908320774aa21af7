"""Which weights and channels of a model can be pruned, and which are coupled.

Unstructured pruning masks the weights of every conv and linear layer. Structured
pruning removes output channels (filters, neurons), and a channel is rarely one
layer's business: its BatchNorm goes with it, the next layer loses the matching
input channel, and in a residual network the channels added together must go
together. A :class:`ChannelGroup` names everything one channel index touches::

    >>> from workbench import models
    >>> [g.name for g in channel_groups(models.build("vgg"))]
    ['features.0', 'features.4', 'features.8']
    >>> channel_groups(models.build("vgg"))[0]
    ChannelGroup('features.0': 32 channels; producers features.0; norms features.1; consumers features.4)

For the plain chains (``lenet300``, ``lenet5``, ``vgg``) the groups are read off the
layer order; for any other graph (``resnet``, ``mobilenet``) Torch-Pruning's
``DependencyGraph`` traces the model and finds the coupling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from .._checks import checked

PRUNABLE = (nn.Conv2d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
CHAIN_MODELS = ("lenet300", "lenet5", "vgg")   # each layer feeds only the next one


@dataclass(frozen=True)
class ChannelGroup:
    """The layers one output-channel index touches."""

    name: str                          # the first producer's name (the group's label)
    producers: tuple[str, ...]         # layers whose output channels these are (lose filters / neurons)
    norms: tuple[str, ...]             # BatchNorms on these channels (lose the channel)
    consumers: tuple[str, ...]         # layers reading these channels (lose input channels)
    channels: int                      # how many channels the group has now
    factor: int = 1                    # inputs of a consumer per channel (a Linear after Flatten: H * W)

    @property
    def sites(self) -> tuple[str, ...]:
        """Modules whose output is the channels' final value: the norms, else the producers."""
        return self.norms or self.producers

    def __repr__(self) -> str:
        return (f"ChannelGroup({self.name!r}: {self.channels} channels; producers {', '.join(self.producers)}; "
                f"norms {', '.join(self.norms) or '-'}; consumers {', '.join(self.consumers)})")


def _plain_modules(model: nn.Module):
    """``named_modules`` without the modules a parametrization inserts."""
    for name, m in model.named_modules():
        if "parametrizations" in name.split("."):
            continue
        yield name, m


@checked
def weight_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every conv and linear layer by name: the weights unstructured pruning masks.

    >>> from workbench import models
    >>> list(weight_layers(models.build("lenet300")))
    ['classifier.1', 'classifier.3', 'classifier.5']
    """
    return {name: m for name, m in _plain_modules(model) if isinstance(m, PRUNABLE)}


def out_channels(layer: nn.Module) -> int:
    """Output channels of a conv, linear or BatchNorm layer."""
    if isinstance(layer, nn.Conv2d):
        return layer.out_channels
    if isinstance(layer, nn.Linear):
        return layer.out_features
    if isinstance(layer, NORMS):
        return layer.num_features
    raise ValueError(f"layer must be a Conv2d, Linear or BatchNorm, got {type(layer).__name__}")


def is_chain(model: nn.Module) -> bool:
    """Whether ``model`` is one of the plain chains whose groups the layer order gives."""
    config = getattr(model, "config", None)
    return isinstance(config, dict) and config.get("name") in CHAIN_MODELS


def channel_groups(model: nn.Module, input_shape: Sequence[int] | None = None) -> list[ChannelGroup]:
    """Every group of channels that can be pruned, in layer order (the output layer is never one).

    ``input_shape`` (C, H, W) is needed only for a model without a workbench ``config``
    that Torch-Pruning must trace.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    for name, m in _plain_modules(model):
        if isinstance(m, nn.Conv2d) and 1 < m.groups < m.in_channels:
            raise ValueError(
                f"layer {name!r} is a grouped convolution (groups={m.groups}, {m.in_channels}->{m.out_channels} "
                f"channels): removing its channels would have to keep all {m.groups} groups the same size, which "
                "structured pruning here does not do. It handles ordinary (groups=1) and depthwise convolutions; "
                "use unstructured pruning (weight_scores, mask_weights) for this model")
    if is_chain(model):
        return _chain_groups(model)
    return _graph_groups(model, input_shape)


def _chain_groups(model: nn.Module) -> list[ChannelGroup]:
    mods = list(_plain_modules(model))
    layers = [(i, name, m) for i, (name, m) in enumerate(mods) if isinstance(m, PRUNABLE)]
    groups = []
    for (i, name, layer), (_, next_name, nxt) in zip(layers[:-1], layers[1:]):
        c = out_channels(layer)
        after = mods[i + 1][1] if i + 1 < len(mods) else None
        norms = (mods[i + 1][0],) if isinstance(after, NORMS) and after.num_features == c else ()
        fan_in = nxt.in_features if isinstance(nxt, nn.Linear) else nxt.in_channels
        if fan_in % c:
            raise ValueError(f"cannot pair {name} ({c} outputs) with {next_name} ({fan_in} inputs)")
        groups.append(ChannelGroup(name, (name,), norms, (next_name,), c, fan_in // c))
    return groups


def example_input(model: nn.Module, input_shape: Sequence[int] | None = None) -> torch.Tensor:
    """A zero batch of one example for tracing ``model`` (shape from its config if not given)."""
    if input_shape is None:
        config = getattr(model, "config", None) or {}
        if "in_channels" in config and "image_size" in config:
            input_shape = (config["in_channels"], config["image_size"], config["image_size"])
        elif "in_features" in config:
            input_shape = (config["in_features"],)
        else:
            raise ValueError("input_shape must be given, the shape (C, H, W) of one example, for a model without "
                             "a workbench config (a torchvision network, your own): e.g. input_shape=(3, 32, 32)")
    return torch.zeros(1, *input_shape)


def dependency_graph(model: nn.Module, input_shape: Sequence[int] | None = None):
    """Torch-Pruning's ``DependencyGraph`` of ``model`` (traced on one zero example)."""
    import torch_pruning as tp

    if any(parametrize.is_parametrized(m) for m in model.modules()):
        raise ValueError("model holds parametrized masks; trace a plain model (workbench.weights.plain_copy)")
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():                     # Torch-Pruning traces through autograd
            return tp.DependencyGraph().build_dependency(model, example_inputs=example_input(model, input_shape),
                                                         verbose=False)
    finally:
        model.train(was_training)


def _graph_groups(model: nn.Module, input_shape) -> list[ChannelGroup]:
    names = {m: n for n, m in _plain_modules(model)}
    order = {n: i for i, n in enumerate(names.values())}
    layers = weight_layers(model)
    if not layers:
        raise ValueError("model has no conv or linear layer to prune")
    output_layer = list(layers.values())[-1]
    graph = dependency_graph(model, input_shape)
    groups = []
    for g in graph.get_all_groups(ignored_layers=[output_layer], root_module_types=PRUNABLE):
        producers, norms, consumers = set(), set(), set()
        for item in g:
            mod, handler = item.dep.target.module, getattr(item.dep.handler, "__name__", "")
            name = names.get(mod)
            if name is None:
                continue
            if isinstance(mod, PRUNABLE):
                depthwise = isinstance(mod, nn.Conv2d) and mod.groups > 1 and mod.groups == mod.in_channels
                (producers if handler == "prune_out_channels" or depthwise else consumers).add(name)
            elif isinstance(mod, NORMS):
                norms.add(name)
        producers_sorted = sorted(producers, key=order.get)
        if not producers_sorted:
            continue
        first = names_to_module(model, producers_sorted[0])
        groups.append(ChannelGroup(producers_sorted[0], tuple(producers_sorted), tuple(sorted(norms, key=order.get)),
                                   tuple(sorted(consumers - producers, key=order.get)), out_channels(first)))
    return sorted(groups, key=lambda gr: order[gr.name])


def names_to_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (a ValueError naming the layers if there is none)."""
    mods = dict(_plain_modules(model))
    if name not in mods:
        raise ValueError(f"model has no layer {name!r}; its layers are: {', '.join(weight_layers(model))}")
    return mods[name]
