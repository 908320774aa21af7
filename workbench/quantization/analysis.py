"""Sweeps behind the notebook's tables: error against bits, calibration methods, layer sensitivity.

Each returns a ``pandas.DataFrame`` a plot helper in :mod:`.plots` can draw::

    >>> import torch
    >>> w = torch.randn(16, 32) * torch.linspace(0.1, 2, 16)[:, None]
    >>> t = error_table(w, bits=[4, 8])
    >>> bool((t.loc["per-channel", "mse"] <= t.loc["per-tensor", "mse"]).all())
    True
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import pandas as pd
import torch
from torch import Tensor, nn

from .._checks import check_choice
from ..train import evaluate
from .affine import GRANULARITIES, qparams, quantization_error
from .calibration import CALIBRATIONS, calibrate_range, quantizable_layers
from .fake import FLOAT_BITS, quantize_model


def error_table(w: Tensor, bits: Iterable[int] = range(2, 9), *, granularities: Sequence[str] = tuple(GRANULARITIES),
                calibration: str = "minmax", symmetric: bool = True) -> pd.DataFrame:
    """Rounding and clipping error of quantizing ``w``, per granularity and bit width.

    Indexed by ``(granularity, bits)``; columns ``rounding_mse``, ``clipping_mse``,
    ``mse``, ``clipped_fraction``, ``sqnr_db`` (signal-to-quantization-noise ratio).
    """
    rows = []
    power = float((w.double() ** 2).mean())
    for gran in granularities:
        axis = GRANULARITIES[check_choice("granularities", gran, GRANULARITIES)]
        for b in bits:
            lo, hi = calibrate_range(w, calibration, b, symmetric=symmetric, axis=axis)
            scale, zp = qparams(lo, hi, b, symmetric=symmetric)
            e = quantization_error(w, scale, zp, b, symmetric=symmetric, axis=axis)
            rows.append({"granularity": gran, "bits": b, "rounding_mse": e.rounding_mse,
                         "clipping_mse": e.clipping_mse, "mse": e.mse, "clipped_fraction": e.clipped_fraction,
                         "sqnr_db": 10 * torch.log10(torch.tensor(power / max(e.mse, 1e-30))).item()})
    return pd.DataFrame(rows).set_index(["granularity", "bits"])


def calibration_table(x: Tensor, bits: int = 4, *, methods: Iterable[str] = tuple(CALIBRATIONS),
                      symmetric: bool = False) -> pd.DataFrame:
    """Range, clipped fraction and error of each calibration method on activations ``x``.

    >>> x = torch.cat([torch.rand(1000), torch.tensor([20.0])])
    >>> float(calibration_table(x, 4).loc["minmax", "hi"])
    20.0
    """
    rows = {}
    for method in methods:
        lo, hi = calibrate_range(x, method, bits, symmetric=symmetric)
        scale, zp = qparams(lo, hi, bits, symmetric=symmetric)
        e = quantization_error(x, scale, zp, bits, symmetric=symmetric)
        rows[method] = {"lo": round(float(lo), 4), "hi": round(float(hi), 4), "scale": float(scale),
                        "clipped_fraction": e.clipped_fraction, "rounding_mse": e.rounding_mse,
                        "clipping_mse": e.clipping_mse, "mse": e.mse}
    return pd.DataFrame.from_dict(rows, orient="index")


def layer_sensitivity(model: nn.Module, data, *, weight_bits: int = FLOAT_BITS, activation_bits: int = FLOAT_BITS,
                      split: str = "val", calibration_examples: int = 500, **options) -> pd.DataFrame:
    """Accuracy when only one layer is quantized (the others stay float), layer by layer.

    Shows which layers a low bit width hurts most (often the first and the last).
    Measured on ``split`` (VAL by default: this is a choice made while compressing).

    >>> import workbench as wb
    >>> t = layer_sensitivity(wb.get_baseline("lenet5"), wb.load("digits"), weight_bits=2)
    >>> t.drop_pp.idxmax()
    'classifier.5'
    """
    X, y = data.split(split)
    X_cal = data.X_val[:calibration_examples]
    base_acc = evaluate(model, X, y)
    rows = {}
    for name, layer in quantizable_layers(model).items():
        q = quantize_model(copy.deepcopy(model), X_cal, weight_bits={name: weight_bits},
                           activation_bits={name: activation_bits}, **options)
        acc = evaluate(q, X, y)
        rows[name] = {"type": type(layer).__name__, "weights": layer.weight.numel(), "accuracy": acc,
                      "drop_pp": 100 * (base_acc - acc)}
    return pd.DataFrame.from_dict(rows, orient="index")
