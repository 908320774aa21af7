"""The oracle: remove each channel, one at a time, and measure what the loss does.

No criterion can know better than actually trying. Molchanov et al. (2017) rank
every channel by the loss change its removal causes and compare each criterion's
ranking with this one by Spearman's rank correlation (1: same order, 0: unrelated)::

    >>> import workbench as wb
    >>> model, ds = wb.get_baseline("lenet5"), wb.load("digits")
    >>> delta = oracle(model, ds, num_examples=100)
    >>> {name: tuple(t.shape) for name, t in delta.items()}
    {'features.0': (6,), 'features.3': (16,), 'classifier.1': (120,), 'classifier.3': (84,)}

Removing a channel is the same as zeroing its value where it is final (the output
of its BatchNorm, or of the layer): after the ReLU the next layer sees zero, as
if the input channel were gone. For the plain chains the network up to that point
runs once and only the rest runs per channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_int
from .groups import ChannelGroup, channel_groups, is_chain, names_to_module


def _flat_chain(model: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """The chain's modules in forward order, or None if the model is not a plain chain."""
    if not is_chain(model):
        return None
    flat = []
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential):
            flat += [(f"{name}.{n}", m) for n, m in child.named_children()]
        else:
            flat.append((name, child))
    return flat


def _run(modules: Sequence[nn.Module], x: Tensor) -> Tensor:
    for m in modules:
        x = m(x)
    return x


@torch.no_grad()
def oracle(model: nn.Module, data, *, split: str = "val", num_examples: int | None = None,
           groups: Sequence[ChannelGroup] | None = None, absolute: bool = True) -> dict[str, Tensor]:
    """Loss change when each channel of each group is removed alone (``|ΔL|`` if ``absolute``).

    The loss is the mean cross-entropy on ``split`` (first ``num_examples`` examples).
    """
    X, y = data.split(split)
    if num_examples is not None:
        check_int("num_examples", num_examples, 1, len(y))
        X, y = X[:num_examples], y[:num_examples]
    groups = list(groups) if groups is not None else channel_groups(model)
    was_training = model.training
    model.eval()
    try:
        base_loss = F.cross_entropy(model(X), y).item()
        flat = _flat_chain(model)
        if flat is not None and not torch.allclose(_run([m for _, m in flat], X[:8]), model(X[:8]), atol=1e-5):
            flat = None                                   # forward is not the plain composition
        out = {}
        for g in groups:
            if flat is not None and len(g.sites) == 1:
                out[g.name] = _chain_oracle(flat, g.sites[0], X, y, g.channels) - base_loss
            else:
                out[g.name] = _hook_oracle(model, g, X, y) - base_loss
            if absolute:
                out[g.name] = out[g.name].abs()
        return out
    finally:
        model.train(was_training)


_ZERO_PRESERVING = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity, nn.Dropout)


def _chain_oracle(flat, site: str, X: Tensor, y: Tensor, channels: int) -> Tensor:
    """Loss with each channel of ``site`` zeroed, running the network up to the next layer only once.

    Between the site and the next conv/linear layer every module maps a zero channel to
    a zero channel (ReLU, pooling, flatten), and that layer is linear in its input: so
    zeroing channel ``c`` subtracts exactly channel ``c``'s contribution from its output.
    Only the layers after it run per channel.
    """
    names = [n for n, _ in flat]
    k = names.index(site)
    nxt = next((j for j in range(k + 1, len(flat)) if isinstance(flat[j][1], (nn.Conv2d, nn.Linear))), None)
    mods = [m for _, m in flat]
    losses = torch.empty(channels)
    if nxt is None or not all(isinstance(m, _ZERO_PRESERVING) for m in mods[k + 1:nxt]) or (
            isinstance(mods[nxt], nn.Conv2d) and mods[nxt].groups != 1):
        h = _run(mods[:k + 1], X)                       # (N, C, ...) the site's output, computed once
        for c in range(channels):
            saved = h[:, c].clone()
            h[:, c] = 0
            losses[c] = F.cross_entropy(_run(mods[k + 1:], h), y).item()
            h[:, c] = saved
        return losses
    layer, tail = mods[nxt], mods[nxt + 1:]
    u = _run(mods[:nxt], X)                             # the next layer's input, computed once
    z = layer(u)
    w = layer.weight
    per = u.shape[1] // channels                        # inputs per channel (H * W after a Flatten)
    for c in range(channels):
        if isinstance(layer, nn.Conv2d):
            part = F.conv2d(u[:, c:c + 1], w[:, c:c + 1], None, layer.stride, layer.padding, layer.dilation)
        else:
            part = u[:, c * per:(c + 1) * per] @ w[:, c * per:(c + 1) * per].T
        losses[c] = F.cross_entropy(_run(tail, z - part), y).item()
    return losses


def _hook_oracle(model: nn.Module, g: ChannelGroup, X: Tensor, y: Tensor) -> Tensor:
    current = {"c": 0}

    def zero(module, inputs, output):
        output = output.clone()
        output[:, current["c"]] = 0
        return output

    handles = [names_to_module(model, s).register_forward_hook(zero) for s in g.sites]
    try:
        losses = torch.empty(g.channels)
        for c in range(g.channels):
            current["c"] = c
            losses[c] = F.cross_entropy(model(X), y).item()
        return losses
    finally:
        for h in handles:
            h.remove()


def rank_correlation(scores: Mapping[str, Mapping[str, Tensor]], reference: Mapping[str, Tensor]) -> pd.DataFrame:
    """Spearman correlation of each criterion's scores with the oracle, per group, and their mean.

    ``scores`` maps criterion -> group -> scores (as ``channel_scores`` returns them).

    >>> ref = {"g": torch.tensor([0.1, 0.5, 0.3])}
    >>> float(rank_correlation({"same order": {"g": torch.tensor([1.0, 9.0, 4.0])}}, ref).loc["same order", "g"])
    1.0
    """
    from scipy.stats import spearmanr

    rows = {}
    for crit, per_group in scores.items():
        row = {}
        for name, ref in reference.items():
            if name not in per_group:
                raise ValueError(f"scores[{crit!r}] has no group {name!r}; it has: {', '.join(per_group)}")
            s, r = per_group[name].detach().double().numpy(), ref.detach().double().numpy()
            if s.shape != r.shape:
                raise ValueError(f"scores[{crit!r}][{name!r}] has shape {s.shape}, the oracle {r.shape}")
            rho = spearmanr(s, r).statistic if len(set(s.tolist())) > 1 and len(set(r.tolist())) > 1 else float("nan")
            row[name] = float(rho)
        row["mean"] = float(pd.Series(row).mean())
        rows[crit] = row
    return pd.DataFrame.from_dict(rows, orient="index")
