"""Scores for a whole model: run a criterion on every layer or channel group.

    >>> import workbench as wb
    >>> model = wb.get_baseline("vgg")
    >>> s = channel_scores(model, "l1")
    >>> {name: tuple(t.shape) for name, t in s.items()}
    {'features.0': (32,), 'features.4': (64,), 'features.8': (128,)}

Criteria that look at activations or gradients (``apoz``, ``entropy``, ``taylor``)
need data: one pass over the validation split (a choice made while compressing
must not see the test split), in eval mode, with the loss summed over examples
and divided by their number. For a group of coupled layers (a residual block's
output, say) the group's score is the sum of its members' scores, as
Torch-Pruning does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice, check_int, checked
from . import criteria as C
from .groups import ChannelGroup, channel_groups, names_to_module, weight_layers


def collect(model: nn.Module, data, sites: Sequence[str], needs: Sequence[str], *, split: str = "val",
            num_examples: int | None = None, batch_size: int = 250) -> dict:
    """Outputs (and their gradients) of the modules ``sites``, and the weights' gradients.

    Returns ``{"activation": {site: (N, C, ...)}, "gradient": {...}, "weight_grad": {param path: grad}}``,
    holding only what ``needs`` asks for. The model's ``.grad`` fields are left empty.
    """
    for n in needs:
        check_choice("needs", n, ("activation", "gradient", "weight_grad"))
    X, y = data.split(split)
    if num_examples is not None:
        check_int("num_examples", num_examples, 1, len(y))
        X, y = X[:num_examples], y[:num_examples]
    out: dict = {"activation": {s: [] for s in sites}, "gradient": {s: [] for s in sites}, "weight_grad": {}}
    backward = "gradient" in needs or "weight_grad" in needs
    handles = []

    def hook(site):
        def fn(module, inputs, output):
            if "activation" in needs:
                out["activation"][site].append(output.detach())
            if "gradient" in needs and output.requires_grad:
                output.register_hook(lambda g: out["gradient"][site].append(g.detach()))
        return fn

    for site in sites:
        handles.append(names_to_module(model, site).register_forward_hook(hook(site)))
    was_training = model.training
    model.eval()
    params = dict(model.named_parameters())
    grads_before = {n: p.grad for n, p in params.items()}
    try:
        for p in params.values():
            p.grad = None
        with torch.enable_grad() if backward else torch.no_grad():
            for i in range(0, len(y), batch_size):
                logits = model(X[i:i + batch_size])
                if backward:
                    F.cross_entropy(logits, y[i:i + batch_size], reduction="sum").div(len(y)).backward()
        if "weight_grad" in needs:
            out["weight_grad"] = {n: p.grad.detach().clone() for n, p in params.items() if p.grad is not None}
    finally:
        for h in handles:
            h.remove()
        for n, p in params.items():
            p.grad = grads_before[n]
        model.train(was_training)
    out["activation"] = {s: torch.cat(v) for s, v in out["activation"].items() if v}
    out["gradient"] = {s: torch.cat(v) for s, v in out["gradient"].items() if v}
    return out


def _weight_grad(grads: Mapping[str, Tensor], layer: str) -> Tensor | None:
    for key in (f"{layer}.weight", f"{layer}.parametrizations.weight.original"):
        if key in grads:
            return grads[key]
    return None


@checked
def weight_scores(model: nn.Module, criterion: str = "l1", data=None, *, split: str = "val",
                  seed: int = 0, num_examples: int | None = None) -> dict[str, Tensor]:
    """One score per weight of every conv/linear layer (keyed by layer name), higher = keep.

    >>> import workbench as wb
    >>> s = weight_scores(wb.get_baseline("lenet300"), "l1")
    >>> tuple(s["classifier.1"].shape)
    (300, 784)
    """
    check_choice("split", split, ("train", "val", "test"))
    entry = C.get(criterion, "unstructured")
    needs = entry.needs_for("unstructured")
    if needs and data is None:
        raise ValueError(f"criterion {criterion!r} needs data (gradients on the {split} split): pass data=")
    layers = weight_layers(model)
    stats = collect(model, data, [], needs, split=split, num_examples=num_examples) if needs else {"weight_grad": {}}
    out = {}
    for name, layer in layers.items():
        s = C.LayerStats(weight=layer.weight.detach(), weight_grad=_weight_grad(stats["weight_grad"], name),
                         seed=C.layer_seed(name, seed))
        out[name] = entry.weight(s)
    return out


@checked
def channel_scores(model: nn.Module, criterion: str = "l1", data=None, *, split: str = "val", seed: int = 0,
                   num_examples: int | None = None, groups: Sequence[ChannelGroup] | None = None,
                   input_shape: Sequence[int] | None = None) -> dict[str, Tensor]:
    """One score per output channel of every channel group (keyed by group name), higher = keep.

    Weight criteria score each producer's filters; activation criteria score each
    site's output; a group with several members sums them. ``input_shape`` (C, H, W)
    traces a model without a workbench config (a torchvision network, your own).
    """
    check_choice("split", split, ("train", "val", "test"))
    entry = C.get(criterion, "structured")
    needs = entry.needs_for("structured")
    if needs and data is None:
        raise ValueError(f"criterion {criterion!r} needs data (activations on the {split} split): pass data=")
    groups = list(groups) if groups is not None else channel_groups(model, input_shape)
    sites = sorted({s for g in groups for s in g.sites}) if needs else []
    stats = collect(model, data, sites, needs, split=split, num_examples=num_examples) if needs else {}
    out = {}
    for g in groups:
        total = None
        members = g.sites if needs else g.producers
        for member in members:
            weight = names_to_module(model, g.producers[0] if needs else member).weight.detach()
            s = C.LayerStats(weight=weight, activation=stats.get("activation", {}).get(member),
                             gradient=stats.get("gradient", {}).get(member), seed=C.layer_seed(g.name, seed))
            score = entry.channel(s).float()
            if score.shape != (g.channels,):
                raise ValueError(f"criterion {criterion!r} gave shape {tuple(score.shape)} for group {g.name!r}, "
                                 f"expected ({g.channels},)")
            total = score if total is None else total + score
            if criterion == "random":
                break                            # one draw per group, not a sum of draws
        out[g.name] = total
    return out
