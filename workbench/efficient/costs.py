"""Where the MACs go: counted per layer kind, for our blocks and torchvision's reference networks.

Howard et al. (2017, Table 2) report that MobileNet spends about 95% of its
multiply-adds in 1×1 convolutions. ``mac_shares`` counts the same split for any
model with PyTorch's ``FlopCounterMode`` (the counter behind ``wb.count_macs``)::

    >>> from workbench.efficient.nets import build_net
    >>> shares = mac_shares(build_net("separable"), (1, 28, 28))
    >>> round(float(shares.sum()), 6), shares.idxmax()
    (1.0, '1x1 conv')
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .._checks import check_int, checked
from .blocks import BLOCKS, separable_macs, standard_macs

KINDS = ("1x1 conv", "depthwise conv", "grouped conv", "full kxk conv", "linear")
REFERENCES = ("mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x1_0", "squeezenet1_1")


@checked
def layer_kind(module: nn.Module) -> str | None:
    """Which of ``KINDS`` a layer is (None for layers without MACs worth counting).

    >>> layer_kind(nn.Conv2d(8, 8, 3, groups=8)), layer_kind(nn.Conv2d(8, 16, 1, groups=4))
    ('depthwise conv', 'grouped conv')
    """
    if isinstance(module, nn.Linear):
        return "linear"
    if not isinstance(module, nn.Conv2d):
        return None
    if module.groups > 1 and module.groups == module.in_channels:
        return "depthwise conv"
    if module.groups > 1:
        return "grouped conv"
    return "1x1 conv" if module.kernel_size == (1, 1) else "full kxk conv"


@checked
def macs_by_kind(model: nn.Module, input_shape: Sequence[int]) -> pd.Series:
    """MACs of one example, summed per layer kind (every kind of ``KINDS`` present, zeros included)."""
    from ..metrics import check_input_fits, check_input_shape
    input_shape = check_input_shape("input_shape", input_shape)
    check_input_fits(model, torch.zeros(1, *input_shape))
    totals = dict.fromkeys(KINDS, 0)

    def hook(module, inputs, output):
        with FlopCounterMode(display=False) as counter:
            module.forward(*inputs)              # .forward: calling the module would re-enter this hook
        totals[layer_kind(module)] += counter.get_total_flops() // 2

    handles = [m.register_forward_hook(hook) for m in model.modules() if layer_kind(m) is not None]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return pd.Series(totals, name="macs")


@checked
def mac_shares(model: nn.Module, input_shape: Sequence[int]) -> pd.Series:
    """Fraction of the model's MACs in each layer kind (sums to 1)."""
    from ..metrics import check_input_shape
    input_shape = check_input_shape("input_shape", input_shape)
    macs = macs_by_kind(model, input_shape)
    return macs / macs.sum()


def reference_shares(names: Sequence[str] = REFERENCES, resolution: int = 224) -> pd.DataFrame:
    """MAC shares of torchvision's reference networks (untrained: no download), one row each.

    Columns: the kinds of ``KINDS`` (fractions), ``macs`` and ``params`` (counts).
    """
    from ..metrics import count_params
    from ..models import torchvision_model

    check_int("resolution", resolution, 32)
    rows = {}
    for name in names:
        net = torchvision_model(name)
        macs = macs_by_kind(net, (3, resolution, resolution))
        rows[name] = {**(macs / macs.sum()).to_dict(), "macs": int(macs.sum()), "params": count_params(net)}
    return pd.DataFrame.from_dict(rows, orient="index")


@checked
def block_costs(c_in: int, c_out: int, size: int, blocks: Sequence[str] = ("standard", "separable")) -> pd.DataFrame:
    """Parameters and counted MACs of one block of each type (stride 1, ``size``×``size`` input).

    The ``formula`` column is the MAC formula of the block's convolutions (standard:
    k²MNHW; separable: k²MHW + MNHW); BatchNorm and ReLU are not multiply-accumulates.

    >>> t = block_costs(64, 64, 7)
    >>> bool((t["macs"] == t["formula"]).all())
    True
    """
    from ..metrics import count_macs, count_params

    check_int("size", size, 1)
    formulas = {"standard": standard_macs(c_in, c_out, 3, size, size),
                "separable": separable_macs(c_in, c_out, 3, size, size)}
    rows = {}
    for name in blocks:
        block = BLOCKS[name](c_in, c_out, 1)
        rows[name] = {"params": count_params(block), "macs": count_macs(block, (c_in, size, size)),
                      "formula": formulas.get(name)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["MAC cut"] = table.loc["standard", "macs"] / table["macs"] if "standard" in rows else None
    return table
