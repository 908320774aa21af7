"""Integer-only inference of one layer (Jacob et al. 2018): int8 in, int32 sums, int8 out.

With real values ``r = s * (q - z)``, a layer ``y = relu(W x + b)`` becomes, for
output channel ``c`` (weights symmetric, ``z_w = 0``; Jacob et al., eq. 4-7)::

    acc_c  = sum_k (q_x[k] - z_x) * q_w[c, k]  +  q_b[c]           # int8 x int8 -> int32
    q_y[c] = z_y + M_c * acc_c,   M_c = s_x * s_w[c] / s_y          # requantize
    q_b[c] = round(b[c] / (s_x * s_w[c]))                           # bias in int32, scale s_x s_w

``M_c`` is a real number in (0, 1); an integer-only chip applies it as a 31-bit
fixed-point multiplier ``M0`` and a right shift ``n`` (``M = M0 * 2^-31 * 2^-n``,
section 2.2), with the rounding of gemmlowp. The ReLU is the clamp at ``z_y``.
BatchNorm is folded into the weights and bias first (section 3.2)::

    >>> quantize_multiplier(0.0003)
    (1319413953, 11)
    >>> 1319413953 * 2.0**-31 * 2**-11
    0.00029999999992469384

A float64 convolution of integer-valued tensors is exact here (every partial sum
is an integer far below 2^53), and the sums are then checked to fit in int32 —
what FBGEMM, oneDNN and gemmlowp compute in int32 registers.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .._checks import check_number, checked
from .affine import dequantize, fake_quantize, qparams, qrange, quantize, tensor_range

INT32 = (-(2**31), 2**31 - 1)


@checked
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``Conv2d`` followed by ``BatchNorm2d`` merged into one conv.

    ``w' = w * gamma / sigma`` per output channel, ``b' = beta + (b - mu) * gamma / sigma``;
    the BatchNorm becomes an ``Identity``. Outputs are unchanged (up to float rounding).

    >>> from workbench import models
    >>> folded = fold_batchnorm(models.build("vgg").eval())
    >>> type(folded.features[1]).__name__, folded.features[0].bias is not None
    ('Identity', True)
    """
    model = copy.deepcopy(model).eval()
    for parent in model.modules():
        children = list(parent.named_children())
        for (_, a), (b_name, b) in zip(children, children[1:]):
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                fused = fuse_conv_bn_eval(a, b)
                a.weight, a.bias = fused.weight, fused.bias
                setattr(parent, b_name, nn.Identity())
    return model


def quantize_multiplier(M: float) -> tuple[int, int]:
    """``(M0, shift)`` with ``M = M0 * 2^-31 * 2^-shift`` and ``M0`` in ``[2^30, 2^31)``."""
    check_number("M", M, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    mantissa, exponent = math.frexp(M)           # M = mantissa * 2^exponent, mantissa in [0.5, 1)
    M0 = round(mantissa * 2**31)
    if M0 == 2**31:                              # rounding carried into the next power of two
        M0, exponent = M0 // 2, exponent + 1
    return M0, -exponent


@checked
def rounding_doubling_high_mul(a: Tensor, M0: Tensor) -> Tensor:
    """``round(a * M0 / 2^31)`` in integers, ties away from zero (gemmlowp's SaturatingRoundingDoublingHighMul).

    >>> rounding_doubling_high_mul(torch.tensor([1000, -1000]), torch.tensor(2**30)).tolist()
    [500, -500]
    """
    ab = a.to(torch.int64) * M0.to(torch.int64)
    nudge = torch.where(ab >= 0, torch.tensor(1 << 30), torch.tensor(1 - (1 << 30)))
    return torch.div(ab + nudge, 2**31, rounding_mode="trunc")


@checked
def rounding_right_shift(x: Tensor, shift: Tensor) -> Tensor:
    """``round(x / 2^shift)``, ties away from zero (gemmlowp's RoundingDivideByPOT).

    >>> rounding_right_shift(torch.tensor([5, -5, 6]), torch.tensor(1)).tolist()
    [3, -3, 3]
    """
    shift = shift.to(torch.int64)
    mask = (torch.ones_like(shift) << shift) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0).to(torch.int64)
    return (x >> shift) + (remainder > threshold).to(torch.int64)


@checked
def requantize(acc: Tensor, M0: Tensor, shift: Tensor, zero_point: int, bits: int = 8) -> Tensor:
    """Output codes ``clamp(z_y + M * acc)`` with ``M`` applied in fixed point (per channel, dim 1).

    >>> M0, shift = quantize_multiplier(0.25)
    >>> requantize(torch.tensor([[100, -8, 2000]]).T, torch.tensor([M0]), torch.tensor([shift]), 10).T.tolist()
    [[35, 8, 255]]
    """
    qmin, qmax = qrange(bits, symmetric=False)
    shape = [1, -1] + [1] * (acc.ndim - 2)
    scaled = rounding_right_shift(rounding_doubling_high_mul(acc, M0.view(shape)), shift.view(shape))
    return (scaled + zero_point).clamp(qmin, qmax)


@dataclass
class IntegerLayer:
    """A Conv2d or Linear layer as integers only: int8 weights, int32 bias, fixed-point multipliers."""

    weight_q: Tensor          # int8, symmetric per output channel
    bias_q: Tensor            # int32, at scale x_scale * weight_scale
    weight_scale: Tensor      # (C,) fp32, used only to build the multipliers and the reference
    x_scale: float
    x_zero_point: int         # input codes are uint8 in [0, 255]
    y_scale: float
    y_zero_point: int
    M0: Tensor                # (C,) int64 in [2^30, 2^31)
    shift: Tensor             # (C,) int64
    relu: bool
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)

    def accumulate(self, x_q: Tensor) -> Tensor:
        """The int32 sums ``sum (q_x - z_x) q_w + q_b``, exactly."""
        x = x_q.to(torch.float64) - self.x_zero_point      # integers, exactly representable
        w = self.weight_q.to(torch.float64)
        if w.ndim == 4:
            acc = F.conv2d(x, w, stride=self.stride, padding=self.padding)
        else:
            acc = x @ w.T
        acc = acc.round().to(torch.int64) + self.bias_q.to(torch.int64).view([1, -1] + [1] * (acc.ndim - 2))
        if acc.min() < INT32[0] or acc.max() > INT32[1]:
            raise OverflowError("the accumulator overflowed int32")
        return acc.to(torch.int32)

    def __call__(self, x_q: Tensor) -> Tensor:
        """Output codes (uint8 values in an int64 tensor) from input codes, integer arithmetic only."""
        y = requantize(self.accumulate(x_q), self.M0, self.shift, self.y_zero_point)
        return y.clamp(min=self.y_zero_point) if self.relu else y

    def quantize_input(self, x: Tensor) -> Tensor:
        return quantize(x, torch.tensor(self.x_scale), torch.tensor(self.x_zero_point), 8, symmetric=False)

    def dequantize_output(self, y_q: Tensor) -> Tensor:
        return dequantize(y_q, torch.tensor(self.y_scale), torch.tensor(self.y_zero_point))


@checked(fits=("layer", "x_calibration"))
def integer_layer(layer: nn.Module, x_calibration: Tensor, *, relu: bool = True) -> IntegerLayer:
    """Build the integer-only version of ``layer`` (Conv2d or Linear, BatchNorm folded).

    Input and output ranges are the min-max of ``x_calibration`` and of the layer's
    float output on it (ReLU applied when ``relu``).

    >>> conv = nn.Conv2d(3, 4, 3, padding=1)
    >>> il = integer_layer(conv, torch.randn(2, 3, 8, 8))
    >>> il.weight_q.dtype, il.bias_q.dtype, bool((il.M0 >= 2**30).all())
    (torch.int8, torch.int32, True)
    """
    if not isinstance(layer, (nn.Conv2d, nn.Linear)):
        raise ValueError(f"layer must be a Conv2d or Linear, got {type(layer).__name__}")
    if isinstance(layer, nn.Conv2d) and (layer.groups != 1 or layer.dilation != (1, 1)
                                         or not isinstance(layer.padding, tuple)):
        raise ValueError("layer must be a plain Conv2d (groups=1, dilation=1, numeric padding)")
    w = layer.weight.detach()
    b = layer.bias.detach() if layer.bias is not None else torch.zeros(w.shape[0])
    x_scale, x_zp = qparams(*tensor_range(x_calibration), 8, symmetric=False)
    with torch.no_grad():
        y = layer(x_calibration)
    y = torch.relu(y) if relu else y
    y_scale, y_zp = qparams(*tensor_range(y), 8, symmetric=False)
    w_scale, _ = qparams(*tensor_range(w, axis=0), 8, symmetric=True)
    w_q = quantize(w, w_scale, torch.zeros_like(w_scale, dtype=torch.int64), 8, symmetric=True, axis=0)
    b_q = torch.round(b.double() / (x_scale.double() * w_scale.double())).clamp(*INT32).to(torch.int32)
    multipliers = [quantize_multiplier(float(x_scale) * float(s) / float(y_scale)) for s in w_scale]
    return IntegerLayer(
        weight_q=w_q.to(torch.int8), bias_q=b_q, weight_scale=w_scale, x_scale=float(x_scale),
        x_zero_point=int(x_zp), y_scale=float(y_scale), y_zero_point=int(y_zp),
        M0=torch.tensor([m for m, _ in multipliers]), shift=torch.tensor([n for _, n in multipliers]),
        relu=relu, stride=tuple(getattr(layer, "stride", (1, 1))), padding=tuple(getattr(layer, "padding", (0, 0))))


def _check_fits(il: IntegerLayer, x: Tensor) -> None:
    want = 4 if il.weight_q.ndim == 4 else 2
    if x.ndim != want or x.shape[1] != il.weight_q.shape[1]:
        shape = "(N, C, H, W) with C" if want == 4 else "(N, features) with features"
        raise ValueError(f"x must be a batch {shape} = {il.weight_q.shape[1]} for this layer, got shape {tuple(x.shape)}")


@checked
def fake_quant_forward(il: IntegerLayer, x: Tensor) -> Tensor:
    """The same layer in floats with fake-quantized input, weights, bias and output (the simulation).

    >>> il = integer_layer(nn.Linear(3, 2), torch.randn(5, 3))
    >>> tuple(fake_quant_forward(il, torch.randn(4, 3)).shape)
    (4, 2)
    """
    _check_fits(il, x)
    x_fq = fake_quantize(x, torch.tensor(il.x_scale), torch.tensor(il.x_zero_point), 8, symmetric=False)
    w_fq = il.weight_q.float() * il.weight_scale.view([-1] + [1] * (il.weight_q.ndim - 1))
    b_fq = (il.bias_q.double() * il.x_scale * il.weight_scale.double()).float()
    if w_fq.ndim == 4:
        y = F.conv2d(x_fq, w_fq, b_fq, stride=il.stride, padding=il.padding)
    else:
        y = F.linear(x_fq, w_fq, b_fq)
    y = torch.relu(y) if il.relu else y
    return fake_quantize(y, torch.tensor(il.y_scale), torch.tensor(il.y_zero_point), 8, symmetric=False)


@checked
def compare_with_fake(il: IntegerLayer, x: Tensor) -> dict:
    """How far the integer-only output is from the fake-quantized one, in output steps.

    >>> torch.manual_seed(0) and None
    >>> conv = nn.Conv2d(3, 4, 3, padding=1)
    >>> x = torch.randn(2, 3, 8, 8)
    >>> compare_with_fake(integer_layer(conv, x), x)["max_steps"] <= 1
    True
    """
    _check_fits(il, x)
    y_int = il(il.quantize_input(x))
    y_fake = fake_quant_forward(il, x)
    steps = ((il.dequantize_output(y_int) - y_fake).abs() / il.y_scale).round().to(torch.int64)
    return {"max_steps": int(steps.max()), "equal_fraction": float((steps == 0).float().mean()),
            "outputs": int(steps.numel())}
