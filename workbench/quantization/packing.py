"""Quantized weights as real bytes: integer codes packed to their bit width.

The ``packed`` encoding stores each weight matrix or kernel in the cheapest of
three forms, each of which decodes back to the same values:

- ``grid``: the values of every row (output channel) lie on a uniform grid,
  ``value = (code - z) * step`` — the codes take ``b`` bits each
  (:func:`workbench.encodings.pack_bits`), plus one fp32 step per row (or one for
  the whole tensor when the step is shared), and one per-row offset when rows do
  not share the zero point ``z``. A per-channel 4-bit layer costs 4 bits a weight
  plus 4 bytes a channel; a binary ``±alpha`` layer 1 bit plus 4 bytes.
- ``levels``: a few distinct values per row (HORQ's ``±a1 ± a2``): a small
  per-row table of fp32 values plus packed indices.
- ``raw``: fp32, for float weights.

Biases, BatchNorm statistics and quantizer scales stay fp32, as in ``fp32``::

    >>> import torch
    >>> from workbench import encodings
    >>> from workbench.quantization.binary import xnor
    >>> w = xnor(torch.randn(64, 288))
    >>> blob = encodings.encode({"w": w}, "packed")
    >>> encodings.header(blob)["tensors"][0]["meta"]["kind"], encodings.header(blob)["tensors"][0]["size"]
    ('grid', 2560)
    >>> bool(torch.equal(encodings.decode(blob)["w"], w))
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn

from .. import encodings
from .._checks import checked, decodes

MAX_GRID_BITS = 16     # wider codes are not a quantized tensor: keep it fp32
MAX_LEVELS = 16        # more distinct values per row than this: not worth a table
_TOL = 0.02            # how close to an integer value / step must be (float32 keeps 16-bit grids to ~0.002 steps)


def _width(n_codes: int) -> int:
    return max(1, math.ceil(math.log2(max(n_codes, 1))))


def _grid_step(u: np.ndarray, max_divisor: int = 4) -> float | None:
    """The step of the uniform grid holding the sorted distinct values ``u``, or ``None``.

    The smallest gap is a whole number ``k`` of steps (``k > 1`` when few levels are
    used, as in a 16-bit layer); try ``k = 1, 2, ...`` until every value sits on the grid.
    """
    span, gap = u[-1] - u[0], np.diff(u).min()
    if span / gap >= 2**MAX_GRID_BITS:
        return None                                  # float weights: gaps far below any grid step
    d = u - u[0]
    for k in range(1, max_divisor + 1):
        step = gap / k
        for i in range(1, MAX_GRID_BITS + 2):        # refine on ever farther values: the error stays << 1 step
            far = d[np.searchsorted(d, step * 2**i, side="right") - 1]
            n = np.round(far / step)
            if n >= 1:
                step = far / n
            if far == span:
                break
        m = d / step
        if m[-1] < 2**MAX_GRID_BITS and np.abs(m - np.round(m)).max() <= _TOL:
            return step
    return None


def _step_from_max(u: np.ndarray, amax: float) -> float | None:
    """The step of a symmetric grid whose top level ``qmax * step`` is ``amax`` (the largest magnitude).

    Min-max and clipping calibrations both put some weight exactly on ``±qmax``;
    this finds grids whose distinct values are too sparse for :func:`_grid_step`
    (a 16-bit layer uses a few hundred of its 65,535 levels).
    """
    if amax <= 0:
        return None
    for bits in range(2, MAX_GRID_BITS + 1):
        step = amax / (2 ** (bits - 1) - 1)
        m = u / step
        if np.abs(m - np.round(m)).max() <= _TOL:
            return step
    return None


def _row_steps(uniques: list[np.ndarray]) -> np.ndarray | None:
    """The grid step of each row (from its distinct values), or ``None`` if a row is not on a uniform grid."""
    steps = []
    tensor_amax = max(float(np.abs(u).max()) for u in uniques)
    for u in uniques:
        if len(u) > 2**MAX_GRID_BITS:
            return None
        if len(u) == 1:
            step = abs(u[0]) if u[0] != 0 else 1.0
        else:
            step = (_grid_step(u) or _step_from_max(u, float(np.abs(u).max()))
                    or _step_from_max(u, tensor_amax))
            if step is None:
                return None
        steps.append(step)
    return np.asarray(steps, dtype=np.float64)


def _grid(rows: np.ndarray, uniques: list[np.ndarray]) -> tuple[dict, bytes] | None:
    options = []
    everything = np.unique(np.concatenate(uniques))
    if len(everything) > 1:                                    # one grid for the whole tensor (per-tensor)?
        step = _grid_step(everything) or _step_from_max(everything, float(np.abs(everything).max()))
        if step is not None:
            options.append(_grid_codes(rows, uniques, np.full(len(uniques), step), one=True))
    steps = _row_steps(uniques)                                # one grid per row (per-channel)
    if steps is not None:
        options.append(_grid_codes(rows, uniques, steps, one=False))
    options = [o for o in options if o is not None]
    return min(options, key=lambda o: len(o[1])) if options else None


def _grid_codes(rows: np.ndarray, uniques: list[np.ndarray], steps: np.ndarray, *,
                one: bool) -> tuple[dict, bytes] | None:
    steps = steps.astype(np.float32).astype(np.float64)      # what will be stored
    lows = np.array([u[0] / s for u, s in zip(uniques, steps)])   # lowest value, in steps
    fractions = lows - np.floor(lows + _TOL)                  # 0 for integer grids, 0.5 for +-alpha
    shared_zero = bool(np.all(np.abs(fractions - fractions[0]) < _TOL))
    if shared_zero:
        z = -float(np.round(2 * (np.round(lows.min() - fractions[0]) + fractions[0])) / 2)
        offsets = np.full(len(steps), z)
    else:
        z, offsets = None, -lows                              # per-row offset: value = (code - offset) * step
    exact = rows / steps[:, None] + offsets[:, None]
    codes = np.round(exact)
    if np.abs(codes - exact).max() > _TOL or codes.min() < 0:
        return None
    width = _width(int(codes.max()) + 1)
    if width > MAX_GRID_BITS:
        return None
    head = steps[:1] if one else steps
    tail = b"" if shared_zero else offsets.astype(np.float32).tobytes()
    meta = {"kind": "grid", "b": width, "z": z, "one": one}
    return meta, head.astype(np.float32).tobytes() + tail + encodings.pack_bits(codes.astype(np.int64), width)


def _levels(rows: np.ndarray, uniques: list[np.ndarray]) -> tuple[dict, bytes] | None:
    if max(len(u) for u in uniques) > MAX_LEVELS:
        return None
    tables = [u.astype(np.float32) for u in uniques]
    index = np.stack([np.searchsorted(u, row) for u, row in zip(uniques, rows)])
    k = max(len(u) for u in tables)
    table = np.stack([np.pad(u, (0, k - len(u)), mode="edge") for u in tables]).astype(np.float32)
    width = _width(k)
    return {"kind": "levels", "k": k, "b": width}, table.tobytes() + encodings.pack_bits(index, width)


@checked
def packed_encode(t: Tensor) -> tuple[dict, bytes]:
    """The smallest of grid / levels / raw for one tensor; ``meta['exact']`` says if it is bit-exact.

    >>> meta, payload = packed_encode(torch.tensor([[0.5, -0.5, 0.5, 0.5, -0.5]]))
    >>> meta["kind"], meta["b"], len(payload)                   # one fp32 step + 5 one-bit codes
    ('grid', 1, 5)
    """
    if t.numel() == 0 or t.ndim < 2:
        return {"kind": "raw", "exact": True}, encodings.CODECS["raw"].encode(t)[1]
    rows = t.detach().cpu().reshape(t.shape[0], -1).double().numpy()
    uniques = [np.unique(row) for row in rows]
    grid = _grid(rows, uniques)
    k = max(len(u) for u in uniques)
    levels = _levels(rows, uniques) if grid is None or grid[0]["b"] > _width(k) else None   # a table can only win then
    options = [o for o in (grid, levels) if o is not None]
    options.append(({"kind": "raw", "exact": True}, encodings.CODECS["raw"].encode(t)[1]))
    meta, payload = min(options, key=lambda o: len(o[1]))
    if meta["kind"] != "raw":
        back = packed_decode(meta, payload, tuple(t.shape), t.dtype)
        meta["exact"] = bool(torch.equal(back, t.detach().cpu()))
    return meta, payload


@checked
@decodes("payload")
def packed_decode(meta: dict, payload: bytes, shape: tuple, dtype: torch.dtype) -> Tensor:
    """Inverse of :func:`packed_encode`."""
    if meta["kind"] == "raw":
        return encodings.CODECS["raw"].decode({}, payload, shape, dtype)
    n_rows, n_cols = shape[0], int(np.prod(shape[1:]))
    if meta["kind"] == "levels":
        k, width = meta["k"], meta["b"]
        table = np.frombuffer(payload, np.float32, n_rows * k).reshape(n_rows, k)
        index = encodings.unpack_bits(payload[4 * n_rows * k:], width, n_rows * n_cols).astype(np.int64)
        values = np.take_along_axis(table, index.reshape(n_rows, n_cols), axis=1)
        return torch.from_numpy(values.copy()).to(dtype).reshape(shape)
    n_steps = 1 if meta["one"] else n_rows
    steps = np.frombuffer(payload, np.float32, n_steps).astype(np.float32)
    at = 4 * n_steps
    if meta["z"] is None:
        offsets = np.frombuffer(payload, np.float32, n_rows, offset=at).astype(np.float32)
        at += 4 * n_rows
    else:
        offsets = np.full(n_rows, meta["z"], dtype=np.float32)
    codes = encodings.unpack_bits(payload[at:], meta["b"], n_rows * n_cols).astype(np.float32)
    values = (codes.reshape(n_rows, n_cols) - offsets[:, None]) * np.broadcast_to(steps, (n_rows,))[:, None]
    return torch.from_numpy(values.astype(np.float32)).to(dtype).reshape(shape)


def _policy(name: str, t: Tensor) -> str:
    return "packed" if t.is_floating_point() and t.ndim >= 2 else "raw"


encodings.register_codec("packed", packed_encode, packed_decode, lossless=False)
encodings.register_encoding("packed", _policy)


@checked
def bits_per_weight(model_or_blob, encoding: str = "packed") -> dict[str, float]:
    """Stored bits per weight of every packed tensor (payload bytes * 8 / elements).

    >>> from workbench import models
    >>> bits_per_weight(models.build("lenet5"))["features.0.weight"]
    32.0
    """
    if not isinstance(model_or_blob, (bytes, nn.Module, Mapping)):
        raise TypeError(f"model_or_blob must be bytes written by encode(), an nn.Module or a state dict, "
                        f"got {type(model_or_blob).__name__}")
    blob = model_or_blob if isinstance(model_or_blob, bytes) else encodings.encode(model_or_blob, encoding)
    out = {}
    for e in encodings.header(blob)["tensors"]:
        n = int(np.prod(e["shape"])) if e["shape"] else 1
        if len(e["shape"]) >= 2 and n:
            out[e["name"]] = 8 * e["size"] / n
    return out
