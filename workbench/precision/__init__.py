"""Mixed precision: floating-point formats, gradients against their range, autocast training.

    >>> from workbench import precision as mp
    >>> mp.bit_pattern(1.0, "bf16")
    '0|01111111|0000000'

One module per concern: ``formats`` (fields, range, rounding, bit patterns; pure
functions), ``gradients`` (recording real gradients and what a format and a loss
scale do to them), ``training`` (``torch.autocast`` with and without loss scaling),
``cost`` (step time, memory, 16-bit inference), ``plots``, and the ``explorer``.
Importing the package registers a ``bf16`` encoding (floats stored as bfloat16).
"""

import numpy as np
import torch

from .. import encodings as _encodings
from .cost import LowPrecision, cpu_support, speed_ratio, step_memory, time_training_steps
from .formats import FORMATS, Format, bit_fields, bit_pattern, decode_bits, encode_bits, format_table, get_format, \
    round_to, rounding_table
from .gradients import FlushCounter, flush_fractions, largest_safe_scale, log2_histogram, lost_updates, \
    record_gradients, scale_sweep
from .training import PRECISIONS, RECIPES, SCALINGS, MixedHistory, accuracy_table, autocast, autocast_dtypes, \
    make_scaler, train_mixed, train_recipes


def _bf16_encode(t):
    return {}, t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()


def _bf16_decode(meta, payload, shape, dtype):
    raw = torch.from_numpy(np.frombuffer(payload, dtype=np.int16).copy())
    return raw.view(torch.bfloat16).to(dtype).reshape(shape)


_encodings.register_codec("bf16", _bf16_encode, _bf16_decode, lossless=False)
_encodings.register_encoding("bf16", lambda name, t: "bf16" if t.is_floating_point() else "raw")

__all__ = ["FORMATS", "FlushCounter", "Format", "LowPrecision", "MixedHistory", "PRECISIONS", "RECIPES", "SCALINGS",
           "accuracy_table", "autocast", "lost_updates", "speed_ratio", "train_recipes",
           "autocast_dtypes", "bit_fields", "bit_pattern", "cpu_support", "decode_bits", "encode_bits",
           "flush_fractions", "format_table", "get_format", "largest_safe_scale", "log2_histogram", "make_scaler",
           "record_gradients", "round_to", "rounding_table", "scale_sweep", "step_memory", "time_training_steps",
           "train_mixed"]
