"""From zeros to a smaller network: which channels a regularizer emptied, and removing them.

A channel can go when nothing it computes reaches the output: its filter, bias and
BatchNorm scale and shift are all zero (it outputs 0), or the next layer reads it
with all-zero weights. Removal is notebook 01's surgery
(:func:`workbench.pruning.remove_channels`); here only the keep-masks are new::

    >>> import torch, workbench as wb
    >>> model = wb.build("lenet5")
    >>> with torch.no_grad(): _ = model.features[0].weight[2:].zero_(), model.features[0].bias[2:].zero_()
    >>> keep = zero_channel_keep(model)
    >>> keep["features.0"].tolist()
    [True, True, False, False, False, False]
    >>> remove_zero_channels(model).config["channels"]
    (2, 16)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import checked
from ..pruning.groups import channel_groups
from ..pruning.structured import remove_channels
from ..weights import plain_copy
from .penalties import _set_matrix, group_norms, output_sets


@checked
def zero_channel_keep(model: nn.Module) -> dict[str, Tensor]:
    """Keep-masks per channel group: False where the channel's filter group, its BatchNorm scale and shift
    (the channel then outputs 0) or its consumers' inputs are all zero.

    At least one channel of each group is kept (a layer with no channel would cut the network).
    """
    model = plain_copy(model)
    filters, channels = group_norms(model, "filter"), group_norms(model, "channel")
    outputs = {s.name: torch.linalg.vector_norm(_set_matrix(model, s), dim=1) for s in output_sets(model)}
    keep = {}
    for g in channel_groups(model):
        k = (filters[g.name] > 0) & (channels[g.name] > 0) & (outputs[g.name] > 0)
        if not k.any():
            k[0] = True
        keep[g.name] = k.detach()
    return keep


@checked
@torch.no_grad()
def remove_zero_channels(model: nn.Module) -> nn.Module:
    """A plain copy of ``model`` with every channel that computes nothing physically removed.

    The outputs do not change (the tests check it against the model with its zeros).
    """
    return remove_channels(plain_copy(model), zero_channel_keep(model))


@checked
def surviving(model: nn.Module) -> dict[str, tuple[int, int]]:
    """Per channel group: ``(channels that compute something, channels in all)``."""
    return {name: (int(k.sum()), k.numel()) for name, k in zero_channel_keep(model).items()}


@checked
def conv_macs(model: nn.Module, input_shape) -> int:
    """Multiply-accumulates of the conv layers alone, per example (Wen et al. count conv FLOPs).

    >>> import workbench as wb
    >>> conv_macs(wb.build("lenet5"), (1, 28, 28))
    357600
    """
    from ..metrics import layer_table

    table = layer_table(model, input_shape)
    return int(table.loc[table["type"] == "Conv2d", "macs"].sum())


def path_table(path, baseline: nn.Module | None = None):
    """One row per λ of a regularization path: val accuracy, exact zeros, channels kept per layer and overall."""
    import pandas as pd

    rows = {}
    for snap in path:
        kept = surviving(snap.model)
        row = {"val_acc": snap.val_acc, "exact_zeros": snap.exact_zeros}
        row.update({name: f"{k}/{n}" for name, (k, n) in kept.items()})
        row["channels_kept"] = sum(k for k, _ in kept.values()) / sum(n for _, n in kept.values())
        rows[snap.lam] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "λ"
    return table
