"""Reference solutions for notebook 08 (mixed precision)."""

from __future__ import annotations

import math
import struct


def decode_fp16(bits: int) -> float:
    """The value of a 16-bit IEEE half-precision pattern: 1 sign, 5 exponent (bias 15), 10 mantissa bits.

    >>> decode_fp16(0x3C00), decode_fp16(0xC000), decode_fp16(0x0001) == 2.0 ** -24
    (1.0, -2.0, True)
    """
    sign = -1.0 if bits >> 15 else 1.0
    exponent = (bits >> 10) & 0x1F
    mantissa = bits & 0x3FF
    if exponent == 0x1F:
        return sign * math.inf if mantissa == 0 else math.nan
    if exponent == 0:
        return sign * mantissa * 2.0 ** -24                 # subnormal: 0.mantissa × 2^-14
    return sign * (1 + mantissa / 1024) * 2.0 ** (exponent - 15)


def largest_safe_scale(grads: list[float], max_value: float = 65504.0) -> float:
    """The largest power of two ``2^k`` such that every ``|g| × 2^k`` stays ≤ ``max_value``.

    >>> largest_safe_scale([0.5, -3.0])
    16384.0
    """
    top = max(abs(g) for g in grads)
    k = math.floor(math.log2(max_value / top))
    while top * 2.0 ** (k + 1) <= max_value:
        k += 1
    while top * 2.0 ** k > max_value:
        k -= 1
    return 2.0 ** k


def round_to_bf16(x: float) -> float:
    """``x`` (as fp32) rounded to bfloat16: keep the top 16 bits, round to nearest, ties to even.

    >>> round_to_bf16(1.0 + 2.0 ** -8)       # exactly halfway between 1 and 1 + 2^-7: ties to even
    1.0
    """
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    if math.isnan(x):
        return x
    lower = bits & 0xFFFF                     # the 16 bits bf16 drops
    upper = bits >> 16
    if lower > 0x8000 or (lower == 0x8000 and upper & 1):
        upper += 1                            # round up (a carry may bump the exponent; to inf is right)
    return struct.unpack("<f", struct.pack("<I", (upper << 16) & 0xFFFFFFFF))[0]
