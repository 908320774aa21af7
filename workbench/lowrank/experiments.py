"""The notebook's experiments, each one call: a rank sweep, the choice it supports, methods side by side.

    >>> import workbench as wb
    >>> dec = Decomposer(wb.get_baseline("lenet300", progress=False))
    >>> table = rank_sweep(dec, wb.load(), "svd", {r: {"classifier.1": r} for r in (10, 50)})
    >>> list(table.columns)
    ['params', 'param_cut', 'macs', 'mac_cut', 'accuracy']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor, nn

from .._checks import check_choice, check_number, checked
from ..metrics import count_macs, count_params
from ..train import evaluate
from .decompose import Decomposer
from .layers import LowRank, cp_conv, spatial_conv, tucker_conv, weight_count
from .spectra import relative_error


def rank_sweep(decomposer: Decomposer, data, method: str, settings: Mapping[object, Mapping[str, object]], *,
               split: str = "val") -> pd.DataFrame:
    """One row per setting (label -> {layer: rank}): parameters, MACs, their cuts, accuracy on ``split``.

    No training: this is what truncation alone costs, and it is measured on the
    validation split so that the test split stays for the final report.
    """
    check_choice("split", split, ("train", "val", "test"))
    if not settings:
        raise ValueError("settings must hold at least one {layer: rank} setting")
    base = decomposer.model
    base_params, base_macs = count_params(base), count_macs(base, data.input_shape)
    X, y = data.split(split)
    rows = {}
    for label, ranks in settings.items():
        model = decomposer.decompose(method, ranks=ranks)
        params, macs = count_params(model), count_macs(model, data.input_shape)
        rows[label] = dict(params=params, param_cut=base_params / params, macs=macs, mac_cut=base_macs / macs,
                           accuracy=evaluate(model, X, y))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "setting"
    table.attrs["baseline_accuracy"] = evaluate(base, X, y)
    return table


def smallest_within(table: pd.DataFrame, tolerance: float) -> object:
    """The setting with the fewest parameters whose accuracy is within ``tolerance`` of the baseline's.

    >>> t = pd.DataFrame({"params": [10, 20, 30], "accuracy": [0.80, 0.95, 0.96]}, index=["a", "b", "c"])
    >>> t.attrs["baseline_accuracy"] = 0.96
    >>> smallest_within(t, 0.01)
    'b'
    """
    check_number("tolerance", tolerance, 0.0, 1.0)
    ok = table[table["accuracy"] >= table.attrs["baseline_accuracy"] - tolerance - 1e-12]
    if ok.empty:
        raise ValueError(f"no setting is within tolerance {tolerance:g} of the baseline; widen the sweep")
    return ok["params"].idxmin()


@checked
def compare_methods(conv: nn.Conv2d, ranks: Mapping[str, object], input_shape: Sequence[int]) -> pd.DataFrame:
    """One conv factored by several methods (method -> rank): weights, MACs, their cuts, kernel error.

    The error is ‖K̂ − K‖ / ‖K‖, K̂ being the kernel the factored chain computes.
    """
    builders = {"spatial": spatial_conv, "tucker": tucker_conv, "cp": cp_conv}
    dense_macs = count_macs(conv, input_shape)
    rows = {}
    for method, rank in ranks.items():
        check_choice("method", method, builders)
        layer = builders[method](conv, rank)
        macs = count_macs(layer, input_shape)
        rows[method] = dict(rank=str(rank), weights=weight_count(conv, method, rank),
                            weight_cut=conv.weight.numel() / weight_count(conv, method, rank), macs=macs,
                            mac_cut=dense_macs / macs, layers=len(layer),
                            kernel_error=relative_error(kernel_of(layer), conv.weight.detach()))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = f"{tuple(conv.weight.shape)} conv"
    return table


@checked
def kernel_of(layer: LowRank) -> Tensor:
    """The single conv kernel (C_out, C_in, kh, kw) a factored conv chain computes, from its weights.

    >>> conv = nn.Conv2d(3, 4, 3)
    >>> relative_error(kernel_of(tucker_conv(conv, (4, 3))), conv.weight.detach()) < 1e-5
    True
    """
    w = [m.weight.detach() for m in layer]
    if layer.method == "spatial":          # vertical (r, C_in, kh, 1), horizontal (C_out, r, 1, kw)
        return torch.einsum("rih,orw->oihw", w[0][..., 0], w[1][:, :, 0])
    if layer.method == "tucker":           # (r_in, C_in, 1, 1), core (r_out, r_in, kh, kw), (C_out, r_out, 1, 1)
        return torch.einsum("bi,abhw,oa->oihw", w[0][:, :, 0, 0], w[1], w[2][:, :, 0, 0])
    if layer.method == "cp":               # (R, C_in, 1, 1), (R, 1, kh, 1), (R, 1, 1, kw), (C_out, R, 1, 1)
        return torch.einsum("ri,rh,rw,or->oihw", w[0][:, :, 0, 0], w[1][:, 0, :, 0], w[2][:, 0, 0, :],
                            w[3][:, :, 0, 0])
    raise ValueError(f"layer must be a factored conv (spatial, tucker or cp), got method {layer.method!r}")


__all__ = ["compare_methods", "kernel_of", "rank_sweep", "smallest_within"]
