"""The uniform affine rule: real value = scale * (integer - zero_point).

Jacob et al. (2018, *Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference*) map a real range ``[lo, hi]`` onto the integers
``[qmin, qmax]`` with a ``scale`` (the step between levels) and a ``zero_point``
(the integer that stands for real 0, so zero padding is exact)::

    >>> import torch
    >>> x = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    >>> scale, zp = scale_zero_point(x, bits=8, symmetric=False)
    >>> round(scale.item(), 5), zp.item()
    (0.01176, 85)
    >>> q = quantize(x, scale, zp, bits=8, symmetric=False)
    >>> q.tolist()
    [0, 85, 127, 255]
    >>> (dequantize(q, scale, zp) - x).abs().max().item() <= scale.item() / 2
    True

- **symmetric**: ``zero_point = 0`` and the signed range ``[-(2^(b-1) - 1), 2^(b-1) - 1]``
  (weights; 2 bits give the ternary levels -1, 0, 1);
- **asymmetric**: ``[0, 2^b - 1]`` with a zero point (activations after a ReLU);
- **per-tensor** (``axis=None``): one scale for the tensor; **per-channel**
  (``axis=0``): one scale per output channel (Krishnamoorthi 2018).

All functions are pure: tensors in, tensors out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._checks import check_choice, check_int, checked

GRANULARITIES: dict[str, int | None] = {"per-channel": 0, "per-tensor": None}  # name -> channel axis
SCHEMES: dict[str, bool] = {"symmetric": True, "asymmetric": False}            # name -> symmetric?


def check_bits(bits: int, *, symmetric: bool = False) -> int:
    """``bits`` as an int in [1, 32] ([2, 32] when symmetric: one bit has no zero level)."""
    check_int("bits", bits, 1, 32)
    if symmetric and bits < 2:
        raise ValueError("bits must be in [2, 32] for symmetric quantization, got 1 "
                         "(one bit has no level for 0: use workbench.quantization.binary)")
    return int(bits)


def qrange(bits: int, symmetric: bool = True) -> tuple[int, int]:
    """The integer range ``(qmin, qmax)`` of ``bits``-bit codes.

    >>> qrange(8, symmetric=True), qrange(8, symmetric=False), qrange(2, symmetric=True)
    ((-127, 127), (0, 255), (-1, 1))
    """
    check_bits(bits, symmetric=symmetric)
    if symmetric:
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _check_axis(x: Tensor, axis: int | None) -> None:
    if axis is not None:
        check_int("axis", axis, 0, max(0, x.ndim - 1))
        if x.ndim == 0:
            raise ValueError("axis must be None for a 0-d tensor (per-channel needs a channel dimension)")


def _check_nonempty(x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.numel() == 0:
        raise ValueError("x must hold at least one value to choose a range from, got an empty tensor")


def _bcast(v: Tensor, x: Tensor, axis: int | None) -> Tensor:
    """Reshape per-channel values ``(C,)`` to broadcast against ``x`` along ``axis``."""
    if axis is None or v.ndim == 0:
        return v
    shape = [1] * x.ndim
    shape[axis] = -1
    return v.reshape(shape)


def _dtype(bits: int, x: Tensor) -> torch.dtype:
    # float32 holds every integer up to 2**24 exactly; wider grids are computed in float64
    return torch.float64 if bits > 16 else (x.dtype if x.is_floating_point() else torch.float32)


@checked
def tensor_range(x: Tensor, axis: int | None = None) -> tuple[Tensor, Tensor]:
    """Min and max of ``x`` (per slice along ``axis``, or over everything).

    >>> tensor_range(torch.tensor([[1., -2.], [3., 4.]]), axis=0)
    (tensor([-2.,  3.]), tensor([1., 4.]))
    """
    _check_nonempty(x)
    _check_axis(x, axis)
    if axis is None:
        return x.min(), x.max()
    rows = x.movedim(axis, 0).reshape(x.shape[axis], -1)
    return rows.min(dim=1).values, rows.max(dim=1).values


@checked(own_nan_check=("lo", "hi"))
def qparams(lo: Tensor, hi: Tensor, bits: int = 8, *, symmetric: bool = True) -> tuple[Tensor, Tensor]:
    """Scale and zero point that map ``[lo, hi]`` (widened to contain 0) onto the grid.

    A zero-width range (an all-zero tensor) gets scale 1: any scale stores 0 exactly.

    >>> qparams(torch.tensor(-1.0), torch.tensor(3.0), 2, symmetric=False)
    (tensor(1.3333), tensor(1))
    """
    qmin, qmax = qrange(bits, symmetric)
    lo, hi = torch.as_tensor(lo), torch.as_tensor(hi)
    if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
        raise ValueError("lo and hi must be finite: a range with nan or inf gives no usable scale")
    if torch.any(lo > hi):
        raise ValueError("lo must not exceed hi")
    dtype = lo.dtype if lo.is_floating_point() else torch.float32
    lo = torch.minimum(lo, torch.zeros((), dtype=dtype))
    hi = torch.maximum(hi, torch.zeros((), dtype=dtype))
    if symmetric:
        scale = torch.maximum(-lo, hi) / qmax
        zero_point = torch.zeros_like(scale, dtype=torch.int64)
    else:
        scale = (hi - lo) / (qmax - qmin)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        zero_point = (qmin - torch.round(lo / safe)).clamp(qmin, qmax).to(torch.int64)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return scale, zero_point


@checked
def scale_zero_point(x: Tensor, bits: int = 8, *, symmetric: bool = True,
                     axis: int | None = None) -> tuple[Tensor, Tensor]:
    """Scale and zero point from the min and max of ``x`` (per channel along ``axis``).

    >>> scale_zero_point(torch.tensor([-0.5, 1.0]), bits=8)
    (tensor(0.0079), tensor(0))
    """
    check_bits(bits, symmetric=symmetric)
    lo, hi = tensor_range(x, axis)
    return qparams(lo, hi, bits, symmetric=symmetric)


@checked(empty_ok=("x",), own_nan_check=("scale", "zero_point"))
def quantize(x: Tensor, scale: Tensor, zero_point: Tensor, bits: int = 8, *, symmetric: bool = True,
             axis: int | None = None) -> Tensor:
    """Integer codes ``clamp(round(x / scale) + zero_point, qmin, qmax)`` as int64.

    ``round`` is round-half-to-even, as in PyTorch's kernels. An empty ``x`` gives
    an empty result.

    >>> quantize(torch.tensor([0.1, 0.26, 9.0]), torch.tensor(0.1), torch.tensor(0), bits=4).tolist()
    [1, 3, 7]
    """
    qmin, qmax = qrange(bits, symmetric)
    _check_axis(x, axis)
    dtype = _dtype(bits, x)
    s = _bcast(torch.as_tensor(scale), x, axis).to(dtype)
    z = _bcast(torch.as_tensor(zero_point), x, axis).to(dtype)
    if not torch.isfinite(s).all() or torch.any(s <= 0):
        raise ValueError(f"scale must be > 0 and finite, got {_worst(s)}")
    if not torch.isfinite(z).all():
        raise ValueError(f"zero_point must be finite, got {_worst(z)}")
    if not torch.isfinite(x).all():
        raise ValueError("x holds nan or inf values: they have no integer code")
    return (torch.round(x.to(dtype) / s) + z).clamp(qmin, qmax).to(torch.int64)


def _worst(t: Tensor) -> str:
    """The first offending value of a scale or zero point, for an error message."""
    bad = t[~torch.isfinite(t) | (t <= 0)] if t.is_floating_point() else t
    return f"{float(bad.reshape(-1)[0]):g}" if bad.numel() else f"{float(t.reshape(-1)[0]):g}"


@checked(empty_ok=("q",))
def dequantize(q: Tensor, scale: Tensor, zero_point: Tensor, *, axis: int | None = None,
               dtype: torch.dtype = torch.float32) -> Tensor:
    """Real values ``scale * (q - zero_point)``.

    >>> dequantize(torch.tensor([0, 3]), torch.tensor(0.5), torch.tensor(1)).tolist()
    [-0.5, 1.0]
    """
    _check_axis(q, axis)
    wide = q.numel() > 0 and int(q.abs().max()) > 2**24      # beyond float32's exact integers
    work = torch.float64 if dtype == torch.float64 or wide else torch.float32
    s = _bcast(torch.as_tensor(scale), q, axis).to(work)
    z = _bcast(torch.as_tensor(zero_point), q, axis).to(work)
    return ((q.to(work) - z) * s).to(dtype)


@checked(empty_ok=("x",), own_nan_check=("scale", "zero_point"))
def fake_quantize(x: Tensor, scale: Tensor, zero_point: Tensor, bits: int = 8, *, symmetric: bool = True,
                  axis: int | None = None) -> Tensor:
    """Quantize then dequantize: the real values the integer grid can hold (same dtype as ``x``).

    >>> fake_quantize(torch.tensor([0.12, -0.33]), torch.tensor(0.1), torch.tensor(0), bits=4).tolist()
    [0.10000000149011612, -0.30000001192092896]
    """
    q = quantize(x, scale, zero_point, bits, symmetric=symmetric, axis=axis)
    return dequantize(q, scale, zero_point, axis=axis, dtype=_dtype(bits, x)).to(x.dtype)


@checked
def levels(scale: float | Tensor, zero_point: int | Tensor, bits: int, *, symmetric: bool = True) -> Tensor:
    """Every real value a per-tensor ``bits``-bit grid can represent, ascending.

    >>> levels(0.5, 0, 2).tolist()
    [-0.5, 0.0, 0.5]
    """
    qmin, qmax = qrange(bits, symmetric)
    if qmax - qmin > 2**16:
        raise ValueError(f"bits must be at most 16 to list the levels, got {bits}")
    q = torch.arange(qmin, qmax + 1)
    return dequantize(q, torch.as_tensor(scale).reshape(()), torch.as_tensor(zero_point).reshape(()))


@dataclass(frozen=True)
class QuantError:
    """Where the error of a quantizer comes from (mean squared error per value)."""

    rounding_mse: float      # values inside the range, off by at most scale/2
    clipping_mse: float      # values outside the range, pulled to the nearest end
    clipped_fraction: float  # how many values fell outside
    max_abs_error: float

    @property
    def mse(self) -> float:
        return self.rounding_mse + self.clipping_mse


@checked(empty_ok=("x",), own_nan_check=("scale", "zero_point"))
def quantization_error(x: Tensor, scale: Tensor, zero_point: Tensor, bits: int = 8, *, symmetric: bool = True,
                       axis: int | None = None) -> QuantError:
    """Split the error of quantizing ``x`` into rounding (inside the range) and clipping (outside).

    >>> e = quantization_error(torch.tensor([0.0, 0.26, 9.0]), torch.tensor(0.1), torch.tensor(0), bits=4)
    >>> round(e.clipping_mse, 3), e.clipped_fraction
    (22.963, 0.3333333333333333)
    """
    _check_nonempty(x)
    qmin, qmax = qrange(bits, symmetric)
    x64 = x.double()
    err = fake_quantize(x64, scale, zero_point, bits, symmetric=symmetric, axis=axis) - x64
    s = _bcast(torch.as_tensor(scale), x, axis).double()
    z = _bcast(torch.as_tensor(zero_point), x, axis).double()
    lo, hi = (qmin - z) * s - s / 2, (qmax - z) * s + s / 2
    outside = (x64 < lo) | (x64 > hi)
    n = x.numel()
    return QuantError(rounding_mse=float((err[~outside] ** 2).sum() / n),
                      clipping_mse=float((err[outside] ** 2).sum() / n),
                      clipped_fraction=float(outside.sum()) / n,
                      max_abs_error=float(err.abs().max()))


@checked
def quantize_tensor(x: Tensor, bits: int = 8, *, granularity: str = "per-tensor",
                    scheme: str = "symmetric") -> Tensor:
    """Fake-quantize ``x`` with a min-max range, naming granularity and scheme as the dropdowns do.

    >>> w = torch.tensor([[1.0, -0.1], [0.01, 0.02]])
    >>> quantize_tensor(w, 2, granularity="per-channel").tolist()
    [[1.0, 0.0], [0.0, 0.019999999552965164]]
    """
    axis = GRANULARITIES[check_choice("granularity", granularity, GRANULARITIES)]
    symmetric = SCHEMES[check_choice("scheme", scheme, SCHEMES)]
    scale, zp = scale_zero_point(x, bits, symmetric=symmetric, axis=axis)
    return fake_quantize(x, scale, zp, bits, symmetric=symmetric, axis=axis)
