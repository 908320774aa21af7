"""Exercises of notebook 04: scale and zero point, fake quantization with a straight-through
gradient, and per-layer bits for a size budget."""

from __future__ import annotations

import torch

from ..solutions import quantization as ref
from . import Case, Exercise, Feedback, close


def _pair(rtol: float = 1e-5):
    """Compare ``(scale, zero_point)`` answers, naming which of the two is off."""
    num = close(rtol=rtol, atol=1e-9)

    def compare(got, expected):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"got {got!r}, expected a pair (scale, zero_point)"
        diff = num(got[0], expected[0])
        if diff is not None:
            return f"scale: {diff}"
        if isinstance(got[1], float) and not float(got[1]).is_integer() and float(expected[1]).is_integer():
            return f"zero_point: got {got[1]:.6g}, expected an integer (round it)"
        diff = num(got[1], expected[1])
        return None if diff is None else f"zero_point: {diff}"

    return compare


def _zp_unrounded(x, bits=8):
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    s = (hi - lo) / (2**bits - 1)
    return (s, -lo / s) if s else (1.0, 0)


def _no_zero(x, bits=8):
    lo, hi = float(x.min()), float(x.max())
    s = (hi - lo) / (2**bits - 1) or 1.0
    return s, int(min(max(-round(lo / s), 0), 2**bits - 1))


_scale = Exercise(
    "scale_zero_point",
    reference=ref.scale_zero_point,
    cases=[Case((torch.tensor([-1.0, 0.5, 3.0]), 8), label="mixed signs, 8 bits"),
           Case((torch.tensor([0.2, 0.9, 2.5]), 8), label="all positive (ReLU output)"),
           Case((torch.tensor([-4.0, -1.0]), 4), label="all negative, 4 bits"),
           Case((torch.tensor([-0.3, 0.7]), 2), label="2 bits"),
           Case((torch.zeros(5), 8), label="all zeros")],
    compare=_pair(),
    mistakes={
        "b bits give 2^b codes, so 2^b - 1 steps between the first and the last: divide by 2^b - 1.":
            lambda x, bits=8: ((max(float(x.max()), 0) - min(float(x.min()), 0)) / 2**bits,
                               ref.scale_zero_point(x, bits)[1]),
        "the range must contain 0 (zero padding and ReLU zeros must be exact): use min(x, 0) and max(x, 0).":
            _no_zero,
        "the zero point is an integer code: round -lo / scale.": _zp_unrounded,
        "the zero point is the code of real 0: z = -round(lo / scale), which is >= 0 because lo <= 0.":
            lambda x, bits=8: (ref.scale_zero_point(x, bits)[0], -ref.scale_zero_point(x, bits)[1]),
        "an all-zero tensor has no range: any scale stores it exactly; return scale 1 and zero point 0.":
            lambda x, bits=8: (0.0, 0),
    })


def check_scale_zero_point(fn) -> Feedback:
    """Check ``fn(x, bits) -> (scale, zero_point)`` for asymmetric per-tensor quantization."""
    return _scale.check(fn)


def _value_and_grad(fn):
    def run(x, scale, zero_point, qmin, qmax):
        x = x.clone().requires_grad_(True)
        y = fn(x, scale, zero_point, qmin, qmax)
        if not isinstance(y, torch.Tensor):
            return y
        if not y.requires_grad:
            return (y.detach(), None)
        (grad,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
        return (y.detach(), grad)
    return run


def _compare_fq(got, expected):
    values_ok = close(rtol=1e-5, atol=1e-6)
    if not isinstance(got, tuple):
        return f"got a {type(got).__name__}, expected a tensor"
    diff = values_ok(got[0], expected[0])
    if diff is not None:
        return f"forward values: {diff}"
    if got[1] is None:
        return ("forward values are right, but no gradient reaches x: torch.round has zero gradient; "
                "use a straight-through estimator")
    if not got[1].any() and expected[1].any():
        return ("forward values are right, but the gradient is zero everywhere: torch.round has zero "
                "gradient; use a straight-through estimator for the rounding")
    diff = values_ok(got[1], expected[1])
    if diff is not None:
        g, e = got[1], expected[1]
        wrong = int((g != e).sum())
        return f"forward values are right, but the gradient differs at {wrong} of {e.numel()} positions"
    return None


def _no_clip_mask(x, scale, zero_point, qmin, qmax):
    y = ref.fake_quantize(x, scale, zero_point, qmin, qmax)
    return y.detach() + x - x.detach()          # gradient 1 everywhere


_fq_cases = [Case((torch.linspace(-0.5, 3.0, 15), 0.1, 5, 0, 15), label="asymmetric, 4 bits, zero point 5"),
             Case((torch.tensor([-1.0, -0.26, 0.0, 0.13, 0.5, 2.0]), 0.25, 0, -3, 3), label="symmetric, 3 bits"),
             Case((torch.tensor([0.04, 0.05, 0.06, 0.15]), 0.1, 0, 0, 255), label="ties round to even")]

_fq = Exercise(
    "fake_quantize",
    reference=_value_and_grad(ref.fake_quantize),
    cases=_fq_cases,
    compare=_compare_fq,
    mistakes={
        "clipped values must get no gradient: clamp after the straight-through round, so its mask applies.":
            _value_and_grad(_no_clip_mask),
        "subtract the zero point before multiplying by the scale: (q - z) * s.":
            _value_and_grad(lambda x, s, z, lo, hi: torch.clamp(ref._RoundSTE.apply(x / s) + z, lo, hi) * s),
        "clamp the integer code to [qmin, qmax] (clipping), not only round it.":
            _value_and_grad(lambda x, s, z, lo, hi: (ref._RoundSTE.apply(x / s) + z - z) * s),
    })


def check_fake_quantize(fn) -> Feedback:
    """Check ``fn(x, scale, zero_point, qmin, qmax)``: fake-quantized values and a straight-through gradient."""
    return _fq.check(_value_and_grad(fn))


def _dict_compare(got, expected):
    if not isinstance(got, dict):
        return f"got a {type(got).__name__}, expected a dict {{layer: bits}}"
    if set(got) != set(expected):
        return f"got layers {sorted(got)}, expected {sorted(expected)}"
    wrong = {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}
    if wrong:
        listed = ", ".join(f"{k}: got {g}, expected {e}" for k, (g, e) in wrong.items())
        return f"bits differ for {listed}"
    return None


_LENET5 = {"features.0": 150, "features.3": 2400, "classifier.1": 48000, "classifier.3": 10080, "classifier.5": 840}


def _greedy_by_count(sizes, budget, options=(8, 4, 2, 1)):
    names = list(sizes)
    bits = dict.fromkeys(names, options[0])
    while sum(sizes[n] * bits[n] / 8 for n in names) > budget:
        low = [n for n in names[1:-1] if bits[n] != options[-1]]
        if not low:
            raise ValueError("cannot")
        n = max(low, key=lambda n: sizes[n])
        bits[n] = options[options.index(bits[n]) + 1]
    return bits


def _all_layers(sizes, budget, options=(8, 4, 2, 1)):
    names = list(sizes)
    bits = dict.fromkeys(names, options[0])
    while sum(sizes[n] * bits[n] / 8 for n in names) > budget:
        low = [n for n in names if bits[n] != options[-1]]
        n = max(low, key=lambda n: sizes[n] * bits[n])
        bits[n] = options[options.index(bits[n]) + 1]
    return bits


def _bits_not_bytes(sizes, budget, options=(8, 4, 2, 1)):
    """The /8 forgotten: totals in bits compared with a budget in bytes, lowered as far as possible."""
    names = list(sizes)
    bits = dict.fromkeys(names, options[0])
    while sum(sizes[n] * bits[n] for n in names) > budget:
        low = [n for n in names[1:-1] if bits[n] != options[-1]]
        if not low:
            break
        n = max(low, key=lambda n: sizes[n] * bits[n])
        bits[n] = options[options.index(bits[n]) + 1]
    return bits


_bits = Exercise(
    "choose_bits",
    reference=ref.choose_bits,
    cases=[Case((_LENET5, 61_706), label="LeNet-5 at 8 bits already fits"),
           Case((_LENET5, 20_000), label="LeNet-5 in 20 kB"),
           Case((_LENET5, 10_000), label="LeNet-5 in 10 kB"),
           Case(({"a": 10, "b": 400, "c": 300, "d": 10}, 370), label="two middle layers of similar size"),
           Case(({"a": 300, "b": 100, "c": 100, "d": 300}, 650), label="large first and last layers")],
    compare=_dict_compare,
    mistakes={
        "keep the first and the last layer at 8 bits (they were the most sensitive above).": _all_layers,
        "lower the layer that takes the most *bytes* now (weights x current bits), not the one with the most weights.":
            _greedy_by_count,
        "bytes are weights x bits / 8: you compared a total in bits with a budget in bytes, so every layer "
        "looked 8x too large.": _bits_not_bytes,
        "bytes are weights x bits / 8, divided once: you divided by 8 twice, so the budget looked 8x looser.":
            lambda sizes, budget, options=(8, 4, 2, 1): ref.choose_bits(sizes, budget * 8, options),
    })


def check_choose_bits(fn) -> Feedback:
    """Check ``fn(layer_sizes, budget_bytes) -> {layer: bits}`` (greedy, first and last kept at 8)."""
    return _bits.check(fn)
