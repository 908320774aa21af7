"""Exercises of notebook 08: decode an fp16 bit pattern, the largest safe loss scale,
and rounding to bfloat16 by hand."""

from __future__ import annotations

import math
import struct

from ..solutions import precision as ref
from . import Case, Exercise, Feedback, close


def _same_float(got, expected):
    """Equal as floats, with NaN equal to NaN and the sign of infinity checked."""
    try:
        g, e = float(got), float(expected)
    except (TypeError, ValueError):
        return f"got {got!r} ({type(got).__name__}), expected a number like {expected!r}"
    if math.isnan(e):
        return None if math.isnan(g) else f"got {g!r}, expected nan"
    if g == e:
        return None
    return f"got {g!r}, expected {e!r}"


# ---------------------------------------------------------------- 1. decoding fp16
def _no_subnormals(bits):
    e, m = (bits >> 10) & 0x1F, bits & 0x3FF
    if e == 0:
        s = -1.0 if bits >> 15 else 1.0
        return s * (1 + m / 1024) * 2.0 ** -15 if m else s * 0.0
    return ref.decode_fp16(bits)


def _bias_16(bits):
    e, m = (bits >> 10) & 0x1F, bits & 0x3FF
    if e in (0, 0x1F):
        return ref.decode_fp16(bits)
    return (-1.0 if bits >> 15 else 1.0) * (1 + m / 1024) * 2.0 ** (e - 16)


def _no_implicit_one(bits):
    e, m = (bits >> 10) & 0x1F, bits & 0x3FF
    if e in (0, 0x1F):
        return ref.decode_fp16(bits)
    return (-1.0 if bits >> 15 else 1.0) * (m / 1024) * 2.0 ** (e - 15)


def _ignores_sign(bits):
    return abs(ref.decode_fp16(bits))


_decode = Exercise(
    "decode_fp16",
    reference=ref.decode_fp16,
    cases=[Case((0x3C00,), label="0x3C00"), Case((0x4248,), label="0x4248"), Case((0xC500,), label="0xC500 (negative)"),
           Case((0x7BFF,), label="0x7BFF (largest finite)"), Case((0x0400,), label="0x0400 (smallest normal)"),
           Case((0x0001,), label="0x0001 (smallest subnormal)"), Case((0x7C00,), label="0x7C00"),
           Case((0x7E00,), label="0x7E00")],
    compare=_same_float,
    mistakes={
        "normal numbers have an implicit leading 1: the value is (1 + mantissa / 2^10) × 2^(exponent - 15).":
            _no_implicit_one,
        "fp16's exponent bias is 2^(5-1) - 1 = 15, not 16.": _bias_16,
        "exponent field 0 means a subnormal: 0.mantissa × 2^-14 = mantissa × 2^-24 (no implicit 1).": _no_subnormals,
        "the top bit is the sign: a set sign bit makes the value negative.": _ignores_sign,
    })


def check_decode_fp16(fn) -> Feedback:
    """Check ``fn(bits) -> float`` decoding a 16-bit IEEE half-precision pattern."""
    return _decode.check(fn)


# ---------------------------------------------------------------- 2. the largest safe loss scale
def _not_power_of_two(grads, max_value=65504.0):
    return max_value / max(abs(g) for g in grads)


def _signed_max(grads, max_value=65504.0):
    return ref.largest_safe_scale([max(grads)], max_value)


def _one_too_far(grads, max_value=65504.0):
    return 2 * ref.largest_safe_scale(grads, max_value)


_scale = Exercise(
    "largest_safe_scale",
    reference=ref.largest_safe_scale,
    cases=[Case(([0.5, -3.0],), label="max |g| = 3"), Case(([1e-3, 2e-5, -4e-4],), label="small gradients"),
           Case(([-8.0, 0.25, 1.0],), label="the largest is negative"), Case(([1.0],), label="exactly 1"),
           Case(([0.1, 2.0],), {"max_value": 448.0}, label="fp8 e4m3 (max 448)")],
    compare=close(rtol=0, atol=0),
    mistakes={
        "a loss scale is a power of two (multiplying by it is exact): take 2^floor(log2(max_value / max|g|)).":
            _not_power_of_two,
        "overflow depends on |g|: a large negative gradient overflows too; use max(abs(g)).": _signed_max,
        "one doubling too many: max|g| × scale must stay ≤ max_value.": _one_too_far,
    })


def check_largest_safe_scale(fn) -> Feedback:
    """Check ``fn(grads, max_value=65504.0) -> float``: the largest safe power-of-two loss scale."""
    return _scale.check(fn)


# ---------------------------------------------------------------- 3. rounding to bf16
def _bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def _from_bits(b):
    return struct.unpack("<f", struct.pack("<I", b & 0xFFFFFFFF))[0]


def _truncate(x):
    return _from_bits(_bits(x) & 0xFFFF0000)


def _half_up(x):
    return _from_bits((_bits(x) + 0x8000) & 0xFFFF0000)


_bf16 = Exercise(
    "round_to_bf16",
    reference=ref.round_to_bf16,
    cases=[Case((1.0,), label="1.0"), Case((0.1,), label="0.1"),
           Case((1.0 + 2.0 ** -7 + 2.0 ** -9,), label="above half"),
           Case((1.0 + 2.0 ** -8,), label="a tie, even below"), Case((1.0 + 3 * 2.0 ** -8,), label="a tie, odd below"),
           Case((-3.14159,), label="negative"), Case((3.3895e38,), label="near the top of the range")],
    compare=_same_float,
    mistakes={
        "dropping the low 16 bits truncates (rounds toward zero): round to nearest instead.": _truncate,
        "a tie (low bits exactly 0x8000) goes to the even neighbour, not always up.": _half_up,
    })


def check_round_to_bf16(fn) -> Feedback:
    """Check ``fn(x) -> float`` rounding an fp32 value to bfloat16, to nearest, ties to even."""
    return _bf16.check(fn)
