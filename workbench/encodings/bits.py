"""Bit packing and the narrowest integer types: the low level every codec shares.

    >>> unpack_bits(pack_bits(np.array([5, 0, 7]), 3), 3, 3).tolist()
    [5, 0, 7]
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from .._checks import check_int, checked


@checked(empty_ok=("values",))
def pack_bits(values: np.ndarray, bits: int) -> bytes:
    """Pack non-negative integers below ``2**bits`` into ``bits`` bits each (big-endian).

    >>> len(pack_bits(np.arange(8), 3))          # 24 bits
    3
    """
    check_int("bits", bits, 1, 32)
    values = np.asarray(values)
    if values.size and (values.dtype.kind not in "iub" or int(values.min()) < 0):
        raise ValueError(f"values must be non-negative integers, got dtype {values.dtype} "
                         f"with minimum {values.min()}")
    values = values.astype(np.uint64).ravel()
    if values.size and int(values.max()) >= 2**bits:
        raise ValueError(f"values must be below 2**bits = {2**bits}, got {int(values.max())}")
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint64)
    matrix = ((values[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)  # (n, bits)
    return np.packbits(matrix.ravel()).tobytes()


@checked(empty_ok=("payload",))
def unpack_bits(payload: bytes, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``count`` integers of ``bits`` bits each.

    >>> unpack_bits(b"\\xff", 4, 2).tolist()
    [15, 15]
    """
    check_int("bits", bits, 1, 32)
    check_int("count", count, 0)
    needed = (bits * count + 7) // 8
    if len(payload) < needed:
        raise ValueError(f"payload is cut short: {count} values of {bits} bits need {needed} bytes, "
                         f"got {len(payload)}")
    flat = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))[: bits * count]
    weights = (np.uint64(1) << np.arange(bits - 1, -1, -1, dtype=np.uint64))
    return flat.reshape(count, bits).astype(np.uint64) @ weights


@checked
def rows(t: Tensor) -> Tensor:
    """``t`` as a matrix ``(shape[0], rest)``; conv kernels become one row per filter."""
    return t.reshape(t.shape[0], int(np.prod(t.shape[1:])))


@checked
def narrowest_uint(max_value: int) -> np.dtype:
    """The smallest unsigned NumPy type that holds ``max_value``.

    >>> narrowest_uint(300).name
    'uint16'
    """
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if max_value <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise ValueError(f"value {max_value} does not fit in 64 bits")
