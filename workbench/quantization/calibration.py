"""Choosing the range ``[lo, hi]`` a quantizer covers: min-max, percentile, MSE-optimal.

Weights are known in advance; activations are not, so their ranges come from
*calibration data*: a few hundred VAL examples run through the float model
(Krishnamoorthi 2018; Migacz 2017, *8-bit Inference with TensorRT*)::

    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> x = torch.cat([torch.randn(10_000), torch.tensor([40.0])])   # one outlier
    >>> for name in CALIBRATIONS:
    ...     lo, hi = calibrate_range(x, name, bits=4)
    ...     print(name, round(hi.item(), 1))
    minmax 40.0
    percentile 4.3
    mse 3.2

- ``minmax`` covers every value: no clipping, but one outlier stretches the
  step for everyone;
- ``percentile`` ignores the most extreme 0.01 % (clips them);
- ``mse`` searches the clipping point that minimises the mean squared error of
  the quantized tensor (rounding error traded against clipping error).

A calibrator is a function ``(x, bits, symmetric, axis) -> (lo, hi)`` in
``CALIBRATIONS``, the registry the explorer's dropdown reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from .._checks import check_choice, check_int, check_number, checked
from .affine import _check_axis, _check_nonempty, check_bits, qparams, qrange, tensor_range

Calibrator = Callable[..., tuple[Tensor, Tensor]]  # (x, bits, *, symmetric, axis) -> (lo, hi)
QUANTIZABLE = (nn.Conv2d, nn.Linear)


def _rows(x: Tensor, axis: int | None) -> Tensor:
    """``x`` as ``(channels, values)``: one row per channel, or a single row."""
    return x.reshape(1, -1) if axis is None else x.movedim(axis, 0).reshape(x.shape[axis], -1)


def _unrow(v: Tensor, axis: int | None) -> Tensor:
    return v.reshape(()) if axis is None else v


@checked
def minmax_range(x: Tensor, bits: int = 8, *, symmetric: bool = True, axis: int | None = None) -> tuple[Tensor, Tensor]:
    """The whole range of ``x`` (symmetric: ``±max|x|``).

    >>> minmax_range(torch.tensor([-1.0, 3.0]))
    (tensor(-3.), tensor(3.))
    """
    check_bits(bits, symmetric=symmetric)
    lo, hi = tensor_range(x, axis)
    if symmetric:
        amax = torch.maximum(-lo, hi)
        return -amax, amax
    return lo, hi


def _kth(rows: Tensor, fraction: float) -> Tensor:
    """The value below which ``fraction`` of each row lies (nearest rank)."""
    n = rows.shape[1]
    k = min(n, max(1, math.ceil(fraction * n)))
    return rows.kthvalue(k, dim=1).values


@checked
def percentile_range(x: Tensor, bits: int = 8, *, symmetric: bool = True, axis: int | None = None,
                     percentile: float = 99.99) -> tuple[Tensor, Tensor]:
    """Clip the most extreme ``100 - percentile`` % of values (per channel along ``axis``).

    >>> percentile_range(torch.arange(101.0), percentile=90, symmetric=False)
    (tensor(10.), tensor(90.))
    """
    check_bits(bits, symmetric=symmetric)
    check_number("percentile", percentile, 50.0, 100.0)
    _check_nonempty(x)
    _check_axis(x, axis)
    rows = _rows(x.detach(), axis)
    p = percentile / 100
    if symmetric:
        amax = _unrow(_kth(rows.abs(), p), axis)
        return -amax, amax
    return _unrow(_kth(rows, 1 - p), axis), _unrow(_kth(rows, p), axis)


def _sample(rows: Tensor, max_samples: int) -> Tensor:
    """Every k-th column, so at most ``max_samples`` values in all (deterministic)."""
    step = max(1, math.ceil(rows.numel() / max_samples))
    return rows[:, ::step]


@checked
def mse_range(x: Tensor, bits: int = 8, *, symmetric: bool = True, axis: int | None = None,
              grid: int = 50, max_samples: int = 2**15) -> tuple[Tensor, Tensor]:
    """The clipped min-max range ``alpha * [lo, hi]`` with the smallest mean squared error.

    ``alpha`` is searched over ``grid`` values in (0, 1] per channel, on at most
    ``max_samples`` values (every k-th one). Ties keep the wider range.

    >>> lo, hi = mse_range(torch.tensor([0.0, 0.1, 0.2, 0.3, 10.0]), bits=2, symmetric=False)
    >>> round(hi.item(), 1)
    10.0
    """
    check_bits(bits, symmetric=symmetric)
    check_int("grid", grid, 1, 10_000)
    check_int("max_samples", max_samples, 1)
    lo, hi = minmax_range(x, bits, symmetric=symmetric, axis=axis)
    rows = _sample(_rows(x.detach(), axis), max_samples).float()
    lo_r, hi_r = lo.reshape(-1, 1).float(), hi.reshape(-1, 1).float()
    qmin, qmax = qrange(bits, symmetric)
    alphas = torch.linspace(1.0, 1.0 / grid, grid)          # descending: argmin keeps the widest tie
    errors = []
    for a in alphas:                                         # fake_quantize, inlined for speed
        scale, zp = qparams(a * lo_r, a * hi_r, bits, symmetric=symmetric)
        z = zp.float()
        err = (torch.clamp(torch.round(rows / scale) + z, qmin, qmax) - z) * scale - rows
        errors.append(err.square_().mean(dim=1))
    best = alphas[torch.stack(errors).argmin(dim=0)]        # (channels,)
    best = _unrow(best, axis).to(lo.dtype)
    return best * lo, best * hi


CALIBRATIONS: dict[str, Calibrator] = {
    "minmax": minmax_range,
    "percentile": percentile_range,
    "mse": mse_range,
}


@checked
def calibrate_range(x: Tensor, method: str = "minmax", bits: int = 8, *, symmetric: bool = True,
                    axis: int | None = None) -> tuple[Tensor, Tensor]:
    """``(lo, hi)`` of ``x`` by a calibrator named in ``CALIBRATIONS``.

    >>> calibrate_range(torch.tensor([-1.0, 2.0]), "minmax", symmetric=False)
    (tensor(-1.), tensor(2.))
    """
    check_choice("method", method, CALIBRATIONS, what="calibration")
    return CALIBRATIONS[method](x, bits, symmetric=symmetric, axis=axis)


@checked
def quantizable_layers(model: nn.Module, skip: Iterable[str] = ()) -> dict[str, nn.Module]:
    """The ``Conv2d`` and ``Linear`` layers of ``model`` by name, minus those in ``skip``.

    >>> from workbench import models
    >>> list(quantizable_layers(models.build("lenet5")))
    ['features.0', 'features.3', 'classifier.1', 'classifier.3', 'classifier.5']
    """
    layers = {n: m for n, m in model.named_modules() if isinstance(m, QUANTIZABLE)}
    for name in skip:
        check_choice("skip", name, layers, what="layer")
    return {n: m for n, m in layers.items() if n not in set(skip)}


@checked(fits=("model", "X"), empty_ok=("X",))
@torch.no_grad()
def collect_inputs(model: nn.Module, X: Tensor, layers: Iterable[str] | None = None, *,
                   batch_size: int = 250) -> dict[str, Tensor]:
    """The input activations each quantizable layer sees on ``X`` (calibration data).

    >>> from workbench import models
    >>> acts = collect_inputs(models.build("lenet5"), torch.zeros(4, 1, 28, 28))
    >>> tuple(acts["features.3"].shape)
    (4, 6, 14, 14)
    """
    if len(X) == 0:
        raise ValueError("X must hold at least one calibration example, got 0")
    check_int("batch_size", batch_size, 1)
    named = quantizable_layers(model)
    names = list(named) if layers is None else list(layers)
    for name in names:
        check_choice("layers", name, named, what="layer")
    seen: dict[str, list[Tensor]] = {n: [] for n in names}
    hooks = [named[n].register_forward_pre_hook(lambda m, args, n=n: seen[n].append(args[0].detach()))
             for n in names]
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(X), batch_size):
            model(X[i:i + batch_size])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return {n: torch.cat(v) for n, v in seen.items()}
