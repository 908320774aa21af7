"""Floating-point formats as pure functions: fields, range, rounding and bit patterns.

A float is ``(-1)^sign × 2^(exponent - bias) × 1.mantissa`` (normal numbers) or
``(-1)^sign × 2^(1 - bias) × 0.mantissa`` (subnormals, exponent field 0)::

    >>> bits = bit_pattern(1.0, "fp16")
    >>> bits                                  # sign | exponent | mantissa
    '0|01111|0000000000'
    >>> decode_bits(int(bits.replace("|", ""), 2), "fp16")
    1.0
    >>> round_to(torch.tensor([0.1]), "bf16").item()
    0.10009765625

Formats with a PyTorch dtype round with PyTorch's own cast; TF32 has no storage
dtype (it is a tensor-core compute mode), so it is fp32 with the mantissa rounded
to 10 bits, to nearest, ties to even.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .._checks import check_choice, check_int, checked


@dataclass(frozen=True)
class Format:
    """One binary floating-point format."""

    name: str
    exponent_bits: int            # width of the biased exponent field
    mantissa_bits: int            # stored fraction bits (the leading 1 is implicit)
    dtype: torch.dtype | None     # PyTorch's storage dtype (None: a compute mode only)
    ieee_special: bool = True     # all-ones exponent means inf / NaN (False: fp8 e4m3fn, NaN only)
    note: str = ""

    @property
    def bits(self) -> int:
        return 1 + self.exponent_bits + self.mantissa_bits

    @property
    def bias(self) -> int:
        return 2 ** (self.exponent_bits - 1) - 1

    @property
    def max(self) -> float:
        """Largest finite value."""
        return float(torch.finfo(self.dtype).max) if self.dtype is not None else float(torch.finfo(torch.float32).max)

    @property
    def smallest_normal(self) -> float:
        return 2.0 ** (1 - self.bias)

    @property
    def smallest_subnormal(self) -> float:
        return 2.0 ** (1 - self.bias - self.mantissa_bits)

    @property
    def eps(self) -> float:
        """Gap between 1 and the next representable number: relative precision."""
        return 2.0 ** -self.mantissa_bits


FORMATS: dict[str, Format] = {
    "fp32": Format("fp32", 8, 23, torch.float32, note="IEEE single: the default"),
    "tf32": Format("tf32", 8, 10, None, note="NVIDIA tensor-core matmul mode: fp32 range, fp16 precision"),
    "bf16": Format("bf16", 8, 7, torch.bfloat16, note="brain float: fp32 range, 8 bits of precision"),
    "fp16": Format("fp16", 5, 10, torch.float16, note="IEEE half: 11 bits of precision, max 65504"),
    "fp8_e5m2": Format("fp8_e5m2", 5, 2, torch.float8_e5m2, note="fp8 for gradients: fp16's range, 3 bits"),
    "fp8_e4m3": Format("fp8_e4m3", 4, 3, torch.float8_e4m3fn, ieee_special=False,
                       note="fp8 for weights/activations: no inf, max 448"),
}


def get_format(fmt: str | Format) -> Format:
    """The :class:`Format` named ``fmt`` (one of ``FORMATS``).

    >>> get_format("bf16").bits
    16
    """
    if isinstance(fmt, Format):
        return fmt
    return FORMATS[check_choice("fmt", fmt, FORMATS, what="format")]


def format_table(names: list[str] | None = None):
    """One row per format: fields, largest value, smallest normal and subnormal, epsilon.

    Range and precision come from ``torch.finfo`` where PyTorch has the dtype.

    >>> float(format_table(["fp16"]).loc["fp16", "max"])
    65504.0
    """
    import pandas as pd

    rows = {}
    for name in names or list(FORMATS):
        f = get_format(name)
        info = torch.finfo(f.dtype) if f.dtype is not None else None
        rows[name] = {"bits": f.bits, "exponent": f.exponent_bits, "mantissa": f.mantissa_bits,
                      "max": f.max, "smallest normal": float(info.smallest_normal) if info else f.smallest_normal,
                      "smallest subnormal": f.smallest_subnormal, "eps": float(info.eps) if info else f.eps,
                      "decimal digits": round(math.log10(2) * (f.mantissa_bits + 1), 1)}
    return pd.DataFrame.from_dict(rows, orient="index")


def _round_tf32(x: Tensor) -> Tensor:
    """fp32 with the lowest 13 mantissa bits rounded away (to nearest, ties to even)."""
    i = x.float().contiguous().view(torch.int32).long() & 0xFFFFFFFF
    finite = torch.isfinite(x.float())
    keep_lsb = (i >> 13) & 1
    rounded = ((i + 0xFFF + keep_lsb) >> 13) << 13
    rounded = torch.where(finite, rounded, i) & 0xFFFFFFFF
    rounded = torch.where(rounded >= 2**31, rounded - 2**32, rounded)
    return rounded.to(torch.int32).view(torch.float32)


@checked(allow_nan=("x",))
def round_to(x: Tensor | float, fmt: str | Format) -> Tensor:
    """``x`` stored in ``fmt`` and read back as fp32: what the format keeps of each value.

    Overflow follows PyTorch's cast: inf for IEEE formats, saturation to ±448 for fp8 e4m3.

    >>> round_to(torch.tensor([1e-8, 70000.0]), "fp16").tolist()
    [0.0, inf]
    """
    f = get_format(fmt)
    x = torch.as_tensor(x, dtype=torch.float32)
    if f.dtype is None:
        return _round_tf32(x)
    return x.to(f.dtype).float()


_INT_VIEW = {32: torch.int32, 16: torch.int16, 8: torch.uint8}


@checked(allow_nan=("value",))
def encode_bits(value: float, fmt: str | Format) -> int:
    """The bit pattern PyTorch stores for ``value`` in ``fmt``, as a non-negative integer.

    >>> hex(encode_bits(1.0, "fp16")), hex(encode_bits(-2.0, "bf16"))
    ('0x3c00', '0xc000')
    """
    f = get_format(fmt)
    x = torch.tensor([float(value)], dtype=torch.float32)
    if f.dtype is None:                                   # tf32: the top 19 bits of the rounded fp32
        return (int(_round_tf32(x).view(torch.int32).item()) & 0xFFFFFFFF) >> 13
    stored = x.to(f.dtype)
    return int(stored.view(_INT_VIEW[f.bits]).item()) & (2**f.bits - 1)


@checked(bits=(0, 2**64))
def decode_bits(bits: int, fmt: str | Format) -> float:
    """The value of the bit pattern ``bits`` in ``fmt``, decoded by hand from its three fields.

    >>> decode_bits(0x0001, "fp16") == 2.0 ** -24    # the smallest fp16 subnormal
    True
    """
    f = get_format(fmt)
    check_int("bits", bits, 0, 2**f.bits - 1)
    mantissa = bits & (2**f.mantissa_bits - 1)
    exponent = (bits >> f.mantissa_bits) & (2**f.exponent_bits - 1)
    sign = -1.0 if bits >> (f.bits - 1) else 1.0
    all_ones = 2**f.exponent_bits - 1
    if exponent == all_ones and f.ieee_special:
        return sign * math.inf if mantissa == 0 else math.nan
    if exponent == all_ones and mantissa == 2**f.mantissa_bits - 1:      # e4m3fn: S.1111.111 is NaN
        return math.nan
    if exponent == 0:                                                   # zero and subnormals
        return sign * mantissa * 2.0 ** (1 - f.bias - f.mantissa_bits)
    return sign * (1 + mantissa / 2**f.mantissa_bits) * 2.0 ** (exponent - f.bias)


@checked(allow_nan=("value",))
def bit_fields(value: float, fmt: str | Format) -> dict:
    """Everything the format does to ``value``: the three fields, what is stored, the error.

    >>> d = bit_fields(0.1, "bf16")
    >>> d["sign"], d["exponent"], d["mantissa"], d["kind"]
    ('0', '01111011', '1001101', 'normal')
    """
    f = get_format(fmt)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"value must be a number, got {value!r}")
    bits = encode_bits(value, f)
    text = format(bits, f"0{f.bits}b")
    stored = decode_bits(bits, f)
    exponent = (bits >> f.mantissa_bits) & (2**f.exponent_bits - 1)
    if math.isnan(stored) or math.isinf(stored):
        kind = "nan" if math.isnan(stored) else "inf"
    elif stored == 0:
        kind = "zero"
    else:
        kind = "subnormal" if exponent == 0 else "normal"
    x = float(torch.tensor(float(value), dtype=torch.float32))     # the fp32 value we started from
    if math.isfinite(x) and abs(x) > f.max and math.isfinite(stored):
        kind = "saturated"                                        # fp8 e4m3 clips instead of overflowing
    err = stored - x if math.isfinite(stored) else math.inf
    return {"format": f.name, "value": x, "sign": text[0], "exponent": text[1:1 + f.exponent_bits],
            "mantissa": text[1 + f.exponent_bits:], "bits": bits, "stored": stored, "kind": kind,
            "abs_error": abs(err), "rel_error": abs(err) / abs(x) if x else 0.0}


@checked(allow_nan=("value",))
def bit_pattern(value: float, fmt: str | Format) -> str:
    """``sign|exponent|mantissa`` of ``value`` in ``fmt``."""
    d = bit_fields(value, fmt)
    return f"{d['sign']}|{d['exponent']}|{d['mantissa']}"


@checked(allow_nan=("value",))
def rounding_table(value: float, names: list[str] | None = None):
    """The same number stored in every format: bits, stored value, relative error.

    >>> float(rounding_table(1/3, ["fp16"]).loc["fp16", "stored"])
    0.333251953125
    """
    import pandas as pd

    rows = {}
    for name in names or list(FORMATS):
        d = bit_fields(value, name)
        rows[name] = {"bits": f"{d['sign']} {d['exponent']} {d['mantissa']}", "stored": d["stored"],
                      "kind": d["kind"], "rel_error": d["rel_error"]}
    return pd.DataFrame.from_dict(rows, orient="index")
