"""Per-tensor codecs: a codec turns one tensor into ``(meta, payload)`` and back.

``meta`` must be JSON-able. A codec is *lossless* when every tensor it stores
decodes to equal values in its own dtype (a signed zero may come back unsigned); a lossy codec may still mark one tensor
``meta["exact"] = True`` (a codebook that holds every distinct value, say).

    >>> t = torch.tensor([[0.0, 1.5], [0.0, 0.0]], dtype=torch.float64)
    >>> meta, payload = CODECS["csr"].encode(t)
    >>> torch.equal(CODECS["csr"].decode(meta, payload, (2, 2), torch.float64), t)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .bits import narrowest_uint, rows

FLOAT32_EXACT = (torch.float32, torch.float16, torch.bfloat16)   # dtypes float32 holds exactly


@dataclass(frozen=True)
class Codec:
    encode: Callable[..., tuple[dict, bytes]]     # (tensor, **options) -> (meta, payload)
    decode: Callable[[dict, bytes, tuple, torch.dtype], Tensor]
    lossless: bool


CODECS: dict[str, Codec] = {}


def register_codec(name: str, encode: Callable, decode: Callable, *, lossless: bool) -> None:
    """Add a per-tensor codec (e.g. packed binary weights) usable by encodings.

    >>> register_codec("raw-copy", CODECS["raw"].encode, CODECS["raw"].decode, lossless=True)
    >>> "raw-copy" in CODECS
    True
    >>> del CODECS["raw-copy"]
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(encode) or not callable(decode):
        raise TypeError("encode and decode must be functions: encode(tensor, **options) -> (meta, payload), "
                        "decode(meta, payload, shape, dtype) -> tensor")
    CODECS[name] = Codec(encode, decode, bool(lossless))


def _numpy(t: Tensor) -> np.ndarray:
    """A NumPy array of ``t``'s values; bfloat16 (which NumPy lacks) widens exactly to float32."""
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def _raw_encode(t: Tensor) -> tuple[dict, bytes]:
    return {}, t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""


def _raw_decode(meta, payload, shape, dtype) -> Tensor:
    if not payload:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(payload), dtype=torch.uint8).view(dtype).reshape(shape).clone()


def _fp16_encode(t: Tensor) -> tuple[dict, bytes]:
    half = t.to(torch.float16)
    return {"exact": bool(torch.equal(half.to(t.dtype), t))}, half.numpy().tobytes()


def _fp16_decode(meta, payload, shape, dtype) -> Tensor:
    return torch.from_numpy(np.frombuffer(payload, dtype=np.float16).copy()).to(dtype).reshape(shape)


def _csr_encode(t: Tensor) -> tuple[dict, bytes]:
    matrix = _numpy(rows(t))                           # (out, in * kh * kw)
    value_dt = np.float64 if t.dtype == torch.float64 else np.float32
    mask = matrix != 0
    values = matrix[mask].astype(value_dt)
    cols = np.nonzero(mask)[1]
    ptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))])
    col_dt, ptr_dt = narrowest_uint(max(matrix.shape[1] - 1, 0)), narrowest_uint(int(ptr[-1]))
    exact = t.dtype in FLOAT32_EXACT or t.dtype == torch.float64
    meta = {"nnz": int(values.size), "col": col_dt.name, "ptr": ptr_dt.name, "values": np.dtype(value_dt).name,
            "exact": exact}
    return meta, values.tobytes() + cols.astype(col_dt).tobytes() + ptr.astype(ptr_dt).tobytes()


def _csr_decode(meta, payload, shape, dtype) -> Tensor:
    nnz, col_dt, ptr_dt = meta["nnz"], np.dtype(meta["col"]), np.dtype(meta["ptr"])
    value_dt = np.dtype(meta.get("values", "float32"))
    n_rows, n_cols = shape[0], int(np.prod(shape[1:]))
    vb = value_dt.itemsize * nnz
    values = np.frombuffer(payload, value_dt, nnz)
    cols = np.frombuffer(payload, col_dt, nnz, offset=vb).astype(np.int64)
    ptr = np.frombuffer(payload, ptr_dt, n_rows + 1, offset=vb + col_dt.itemsize * nnz).astype(np.int64)
    dense = np.zeros((n_rows, n_cols), value_dt)
    dense[np.repeat(np.arange(n_rows), np.diff(ptr)), cols] = values
    return torch.from_numpy(dense).to(dtype).reshape(shape)


def _int8_encode(t: Tensor) -> tuple[dict, bytes]:
    matrix = rows(t).float()
    scale = (matrix.abs().amax(dim=1) if matrix.numel() else torch.zeros(matrix.shape[0])) / 127.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))      # all-zero channel: any scale
    q = torch.round(matrix / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return {}, scale.numpy().astype(np.float32).tobytes() + q.numpy().tobytes()


def _int8_decode(meta, payload, shape, dtype) -> Tensor:
    n = shape[0]
    scale = torch.from_numpy(np.frombuffer(payload, np.float32, n).copy())
    q = torch.from_numpy(np.frombuffer(payload, np.int8, offset=4 * n).copy()).reshape(n, int(np.prod(shape[1:])))
    return (q.float() * scale[:, None]).to(dtype).reshape(shape)


register_codec("raw", _raw_encode, _raw_decode, lossless=True)
register_codec("fp16", _fp16_encode, _fp16_decode, lossless=False)
register_codec("csr", _csr_encode, _csr_decode, lossless=True)
register_codec("int8", _int8_encode, _int8_decode, lossless=False)
