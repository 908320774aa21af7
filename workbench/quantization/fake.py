"""Fake quantization: float tensors that only take the values an integer grid can hold.

A *fake-quantized* model computes in floats but rounds its weights and the
inputs of its layers to ``bits``-bit grids, so it shows the accuracy an integer
model would have without integer kernels (Jacob et al. 2018, section 3).
Training through the rounding uses the *straight-through estimator* (Bengio et
al. 2013): the backward pass treats ``round`` as the identity inside the range
and passes no gradient to clipped values::

    >>> import torch
    >>> x = torch.tensor([0.12, 0.5, 3.0], requires_grad=True)
    >>> y = fake_quantize_ste(x, torch.tensor(0.1), torch.tensor(0), bits=4)
    >>> y.detach().tolist(), torch.autograd.grad(y.sum(), x)[0].tolist()
    ([0.10000000149011612, 0.5, 0.699999988079071], [1.0, 1.0, 0.0])

Weights are quantized by a parametrization (:class:`WeightQuantizer`, registered
with ``torch.nn.utils.parametrize``), so the latent float weights keep learning
during quantization-aware training while every forward pass sees the rounded
ones. A layer's input is quantized by an :class:`ActivationQuantizer` held as the
layer's ``input_quantizer`` child, with a range calibrated on VAL data.
``bits`` 1..16 quantize; 32 means "keep float" (a no-op); 1-bit weights are
binarized with XNOR-Net scaling (see :mod:`.binary`).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .._checks import check_choice, check_int, checked
from . import binary
from .affine import GRANULARITIES, _bcast, check_bits, dequantize, levels, qparams, qrange, quantize
from .calibration import CALIBRATIONS, calibrate_range, collect_inputs, quantizable_layers

BITS = (1, 2, 3, 4, 5, 6, 7, 8, 16, 32)   # the sliders' choices; 32 = float, no quantizer
FLOAT_BITS = 32


class _FakeQuantSTE(torch.autograd.Function):
    """Forward: the exact fake-quantized values. Backward: 1 inside the range, 0 where clipped."""

    @staticmethod
    def forward(ctx, x, scale, zero_point, bits, symmetric, axis):
        qmin, qmax = qrange(bits, symmetric)
        s = _bcast(scale, x, axis).to(x.dtype)
        z = _bcast(zero_point, x, axis).to(x.dtype)
        unclamped = torch.round(x / s) + z
        ctx.save_for_backward((unclamped >= qmin) & (unclamped <= qmax))
        q = _quantize(x, scale, zero_point, bits, symmetric=symmetric, axis=axis)     # checked by the caller
        return _dequantize(q, scale, zero_point, axis=axis, dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None, None, None, None


@checked(empty_ok=("x",), own_nan_check=("scale", "zero_point"))
def fake_quantize_ste(x: Tensor, scale: Tensor, zero_point: Tensor, bits: int = 8, *, symmetric: bool = True,
                      axis: int | None = None) -> Tensor:
    """Fake-quantize ``x`` with a straight-through gradient (what ``torch.fake_quantize_per_*`` do).

    >>> x = torch.tensor([-1.0, 0.3], requires_grad=True)
    >>> fake_quantize_ste(x, torch.tensor(0.25), torch.tensor(0), bits=3).tolist()
    [-0.75, 0.25]
    """
    check_bits(bits, symmetric=symmetric)
    return _FakeQuantSTE.apply(x, torch.as_tensor(scale), torch.as_tensor(zero_point), bits, symmetric, axis)


# the hot path (every forward pass) skips the argument checks of the public functions
_quantize, _dequantize, _fake_quantize_ste = (inspect.unwrap(f) for f in (quantize, dequantize, fake_quantize_ste))


def check_model_bits(name: str, bits: int) -> int:
    """``bits`` for a model quantizer: 1..16, or 32 for float (no quantizer)."""
    check_int(name, bits, 1, FLOAT_BITS)
    if 16 < bits < FLOAT_BITS:
        raise ValueError(f"{name} must be in [1, 16] or 32 (float), got {bits}")
    return int(bits)


class WeightQuantizer(nn.Module):
    """Parametrization: the weight rounded to a symmetric ``bits``-bit grid on every forward pass.

    The range is recomputed from the current latent weight (``calibration`` picks how),
    per output channel or per tensor; ``bits=1`` binarizes (sign times the mean
    magnitude: XNOR-Net per channel, BinaryConnect per tensor); ``bits=32`` is the identity.

    >>> q = WeightQuantizer(2, granularity="per-channel")
    >>> q(torch.tensor([[0.8, -0.2, 0.5], [0.01, -0.04, 0.02]])).tolist()
    [[0.800000011920929, 0.0, 0.800000011920929], [0.0, -0.03999999910593033, 0.0]]
    """

    def __init__(self, bits: int = 8, *, granularity: str = "per-channel", calibration: str = "minmax"):
        super().__init__()
        self.bits = check_model_bits("bits", bits)
        self.granularity = check_choice("granularity", granularity, GRANULARITIES)
        self.calibration = check_choice("calibration", calibration, CALIBRATIONS, what="calibration")

    def forward(self, w: Tensor) -> Tensor:
        if self.bits == FLOAT_BITS:
            return w
        axis = GRANULARITIES[self.granularity]
        if self.bits == 1:
            return binary.binarize_ste(w, "xnor" if axis is not None else "binaryconnect")
        lo, hi = calibrate_range(w.detach(), self.calibration, self.bits, symmetric=True, axis=axis)
        scale, zp = qparams(lo, hi, self.bits, symmetric=True)
        return _fake_quantize_ste(w, scale, zp, self.bits, symmetric=True, axis=axis)   # every forward: unchecked

    def extra_repr(self) -> str:
        return f"bits={self.bits}, {self.granularity}, {self.calibration}"


class ActivationQuantizer(nn.Module):
    """The input of a layer rounded to an asymmetric ``bits``-bit grid with a calibrated range.

    >>> q = ActivationQuantizer(2).calibrate(torch.tensor([0.0, 3.0]))
    >>> q(torch.tensor([0.4, 1.6, 9.0])).tolist()
    [0.0, 2.0, 3.0]
    """

    def __init__(self, bits: int = 8, *, calibration: str = "minmax"):
        super().__init__()
        self.bits = check_model_bits("bits", bits)
        self.calibration = check_choice("calibration", calibration, CALIBRATIONS, what="calibration")
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("zero_point", torch.tensor(0, dtype=torch.int64))

    def calibrate(self, x: Tensor) -> "ActivationQuantizer":
        """Set the range from calibration activations ``x`` (VAL data); returns ``self``."""
        if self.bits < FLOAT_BITS:
            lo, hi = calibrate_range(x.detach(), self.calibration, self.bits, symmetric=False)
            scale, zp = qparams(lo, hi, self.bits, symmetric=False)
            self.scale.copy_(scale)
            self.zero_point.copy_(zp)
        return self

    def forward(self, x: Tensor) -> Tensor:
        if self.bits == FLOAT_BITS:
            return x
        qmin, qmax = qrange(self.bits, symmetric=False)
        # PyTorch's fused kernel: the straight-through gradient of fake_quantize_ste and the same values,
        # but for rare ties (it multiplies by 1/scale; tests check both); several times faster
        return torch.fake_quantize_per_tensor_affine(x, float(self.scale), int(self.zero_point), qmin, qmax)

    def extra_repr(self) -> str:
        return (f"bits={self.bits}, {self.calibration}, scale={self.scale.item():.4g}, "
                f"zero_point={self.zero_point.item()}")


def _quantize_input(module: nn.Module, args: tuple) -> tuple:
    return (module.input_quantizer(args[0]), *args[1:])


@checked
def attach_input_quantizer(layer: nn.Module, quantizer: ActivationQuantizer) -> nn.Module:
    """Make ``layer`` quantize its input with ``quantizer`` (kept as ``layer.input_quantizer``).

    >>> layer = attach_input_quantizer(nn.Linear(2, 1), ActivationQuantizer(1).calibrate(torch.tensor([0.0, 1.0])))
    >>> layer.input_quantizer(torch.tensor([0.2, 0.7])).tolist()
    [0.0, 1.0]
    """
    if not hasattr(layer, "input_quantizer"):
        layer.register_forward_pre_hook(_quantize_input)
    layer.input_quantizer = quantizer
    return layer


def _per_layer(name: str, bits: int | Mapping[str, int], layers: Iterable[str]) -> dict[str, int]:
    layers = list(layers)
    if isinstance(bits, Mapping):
        for layer in bits:
            check_choice(name, layer, layers, what="layer")
        out = {layer: bits.get(layer, FLOAT_BITS) for layer in layers}
    else:
        out = dict.fromkeys(layers, bits)
    return {layer: check_model_bits(name, b) for layer, b in out.items()}


@checked(fits=("model", "calibration_X"))
def quantize_model(model: nn.Module, calibration_X: Tensor | None = None, *,
                   weight_bits: int | Mapping[str, int] = 8, activation_bits: int | Mapping[str, int] = 8,
                   granularity: str = "per-channel", calibration: str = "minmax",
                   skip: Iterable[str] = (), calibration_inputs: Mapping[str, Tensor] | None = None,
                   freeze: bool = False) -> nn.Module:
    """Fake-quantize ``model`` in place: weights by parametrization, layer inputs by calibrated quantizers.

    ``weight_bits`` / ``activation_bits`` are one bit width for every layer, or a
    mapping ``{layer name: bits}`` (layers left out stay float). Activation ranges
    come from the float model's inputs on ``calibration_X`` (VAL examples); layers
    in ``skip`` stay float. ``calibration_inputs`` (from :func:`.calibration.collect_inputs`)
    replaces ``calibration_X`` when the float inputs were already collected.
    ``freeze=True`` writes the rounded weights into the layers instead of registering
    parametrizations: the same model for post-training use, but it cannot be trained.

    >>> from workbench import models
    >>> m = quantize_model(models.build("lenet5"), torch.randn(8, 1, 28, 28), weight_bits=4)
    >>> m.features[0].input_quantizer.bits, m.features[0].parametrizations.weight[0].bits
    (8, 4)
    """
    check_choice("granularity", granularity, GRANULARITIES)
    check_choice("calibration", calibration, CALIBRATIONS, what="calibration")
    layers = quantizable_layers(model, skip)
    w_bits = _per_layer("weight_bits", weight_bits, layers)
    a_bits = _per_layer("activation_bits", activation_bits, layers)
    needs_data = [n for n, b in a_bits.items() if b < FLOAT_BITS]
    if calibration_inputs is not None:
        missing = [n for n in needs_data if n not in calibration_inputs]
        if missing:
            raise ValueError(f"calibration_inputs must hold the inputs of every quantized layer; missing {missing}")
        inputs = dict(calibration_inputs)
    elif needs_data and calibration_X is None:
        raise ValueError("calibration_X must be given to quantize activations (a few hundred VAL examples)")
    else:
        inputs = collect_inputs(model, calibration_X, needs_data) if needs_data else {}
    for name, layer in layers.items():
        if w_bits[name] < FLOAT_BITS:
            quantizer = WeightQuantizer(w_bits[name], granularity=granularity, calibration=calibration)
            if freeze:
                with torch.no_grad():
                    layer.weight.copy_(quantizer(layer.weight))
            else:
                parametrize.register_parametrization(layer, "weight", quantizer)
        if a_bits[name] < FLOAT_BITS:
            aq = ActivationQuantizer(a_bits[name], calibration=calibration).calibrate(inputs[name])
            attach_input_quantizer(layer, aq)
    return model


@checked
def weight_quantizers(model: nn.Module) -> dict[str, WeightQuantizer]:
    """The weight quantizer of every quantized layer, by layer name.

    >>> from workbench import models
    >>> weight_quantizers(quantize_model(models.build("lenet5"), weight_bits=4, activation_bits=32))["features.0"]
    WeightQuantizer(bits=4, per-channel, minmax)
    """
    out = {}
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module, "weight"):
            for p in module.parametrizations.weight:
                if isinstance(p, (WeightQuantizer, binary.BinaryWeight)):
                    out[name] = p
    return out


@checked
def weight_levels(w: Tensor, bits: int, *, granularity: str = "per-channel", calibration: str = "minmax",
                  channel: int | None = None, max_levels: int = 256) -> Tensor | None:
    """Every value :class:`WeightQuantizer` can give ``w`` (one channel's grid when per-channel).

    ``None`` for float (32 bits) or when there are more than ``max_levels`` levels.

    >>> weight_levels(torch.tensor([[1.0, -0.5], [0.2, 0.1]]), 2, channel=1).tolist()
    [-0.20000000298023224, 0.0, 0.20000000298023224]
    """
    check_model_bits("bits", bits)
    axis = GRANULARITIES[check_choice("granularity", granularity, GRANULARITIES)]
    if axis is not None:
        channel = check_int("channel", 0 if channel is None else channel, 0, w.shape[0] - 1)
    if bits == FLOAT_BITS or 2**bits - 1 > max_levels:
        return None
    if bits == 1:
        alpha = w.abs().mean() if axis is None else w[channel].abs().mean()
        return torch.stack([-alpha, alpha])
    lo, hi = calibrate_range(w.detach(), calibration, bits, symmetric=True, axis=axis)
    scale, _ = qparams(lo, hi, bits, symmetric=True)
    return levels(scale if axis is None else scale[channel], 0, bits, symmetric=True)
