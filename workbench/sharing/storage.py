"""Sparse, shared and Huffman-coded storage: Deep Compression's byte format, as codecs.

Han et al. (2016) store a pruned layer as its non-zeros in order, each with the
*gap* to the previous one in a few bits (8 for conv layers, 5 for fully connected
ones). A gap too long for those bits gets a *filler*: an extra entry, ``2**bits``
positions on, holding the value zero::

    >>> gaps, filler = relative_indices(np.array([1, 2, 40]), index_bits=4)
    >>> gaps.tolist(), filler.tolist()
    ([2, 1, 16, 16, 6], [False, False, True, True, False])
    >>> positions(gaps, filler).tolist()
    [1, 2, 40]

Three codecs, one per stage of the pipeline, each a real byte string that decodes
back (registered with :func:`workbench.encodings.register_codec`, together with the
encodings ``pruned``, ``pruned_shared`` and ``deep_compression``):

- ``relative``: gaps in ``index_bits`` + fp32 values (pruning alone; lossless);
- ``relative_shared``: gaps + a codebook of shared values + one packed index per entry;
- ``relative_huffman``: the same, with both the gaps and the indices Huffman-coded.

Options: ``conv_bits`` / ``fc_bits`` (codebook bits; more distinct values than
``2**bits`` are clustered, which makes the tensor lossy) and ``conv_index_bits`` /
``fc_index_bits`` (gap bits). A conv kernel is a tensor of 4 dimensions.
"""

from __future__ import annotations

import math
import struct
from collections import OrderedDict

import numpy as np
import torch
from torch import Tensor

from .. import encodings
from .._checks import check_choice, check_int, checked, decodes
from ..encodings import huffman_lengths, pack_bits, unpack_bits

MODES = ("relative", "relative_shared", "relative_huffman")
PARTS = ("values", "indices", "fillers", "codebook", "tables")   # where a tensor's bytes go
# each payload starts with its counts in binary (the JSON header would spend several times more)
PREFIX = {"relative": "<IB", "relative_shared": "<IBHB", "relative_huffman": "<IBHII"}
FIELDS = {"relative": ("m", "ib"), "relative_shared": ("m", "ib", "k", "vb"),
          "relative_huffman": ("m", "ib", "k", "gn", "vn")}
LENGTH_BITS = 5                                   # each Huffman code length is stored in 5 bits


# ---------------------------------------------------------------- relative indices


@checked(empty_ok=("pos",))
def relative_indices(pos: np.ndarray, index_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaps (1 .. ``2**index_bits``) from the previous entry, and which entries are filler zeros.

    ``pos`` are the sorted flat positions of the non-zeros; the first gap counts
    from position -1. A gap longer than ``2**index_bits`` is split by filler entries.
    """
    check_int("index_bits", index_bits, 1, 16)
    pos = np.asarray(pos, dtype=np.int64).ravel()
    span = 2**index_bits
    d = np.diff(np.concatenate([[-1], pos]))                  # >= 1 for sorted distinct positions
    if d.size and d.min() < 1:
        raise ValueError("pos must be strictly increasing non-negative positions")
    n_fill = (d - 1) // span
    gaps = np.full(int(n_fill.sum() + d.size), span, dtype=np.int64)
    filler = np.ones(gaps.size, dtype=bool)
    last = np.cumsum(n_fill + 1) - 1                          # where each real entry lands
    gaps[last] = d - n_fill * span
    filler[last] = False
    return gaps, filler


@checked(empty_ok=("gaps", "filler"))
def positions(gaps: np.ndarray, filler: np.ndarray) -> np.ndarray:
    """Inverse of :func:`relative_indices`: the positions of the real (non-filler) entries."""
    return (np.cumsum(np.asarray(gaps, dtype=np.int64)) - 1)[~np.asarray(filler, dtype=bool)]


# ---------------------------------------------------------------- Huffman streams


def huffman_stream(symbols: np.ndarray, alphabet: int) -> tuple[np.ndarray, bytes, int]:
    """Huffman-code ``symbols`` (< ``alphabet``): ``(code lengths, packed bits, number of bits)``."""
    symbols = np.asarray(symbols, dtype=np.int64)
    lengths = huffman_lengths(np.bincount(symbols, minlength=alphabet))
    if symbols.size == 0:
        return lengths, b"", 0
    if lengths.max() >= 2**LENGTH_BITS or lengths.max() > 24:
        raise ValueError("a Huffman code longer than 24 bits; use fewer bits")
    payload, nbits = encodings.pack_codes(symbols, lengths)
    return lengths, payload, nbits


huffman_symbols = encodings.huffman_symbols          # the decoder the huffman codec uses


# ---------------------------------------------------------------- one tensor


def _bits_for(t: Tensor, conv: int, fc: int) -> int:
    return conv if t.ndim == 4 else fc


def _codebook(values: np.ndarray, filler: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Codebook (sorted, with 0 if there are fillers) and each entry's index; exact if no clustering was needed."""
    from .kmeans import kmeans_1d

    real = values[~filler]
    distinct = np.unique(np.concatenate([real, np.zeros(1 if filler.any() else 0, np.float32)]))
    exact = len(distinct) <= 2**bits
    if exact:
        book = distinct.astype(np.float32)
    else:
        centroids, _ = kmeans_1d(real, 2**bits - int(filler.any()))
        book = np.unique(np.concatenate([centroids, np.zeros(1 if filler.any() else 0, np.float32)]))
    index = np.empty(values.size, np.int64)
    index[filler] = int(np.searchsorted(book, 0.0))
    if exact:
        index[~filler] = np.searchsorted(book, real)
    else:
        nonzero_book = book if not filler.any() else book[book != 0]
        from .kmeans import assign
        idx = assign(real, nonzero_book)
        if filler.any():
            idx += idx >= int(np.searchsorted(book, 0.0))
        index[~filler] = idx
    return book, index, exact


@checked(empty_ok=("t",))
def encode_tensor(t: Tensor, mode: str = "relative_huffman", *, conv_bits: int = 8, fc_bits: int = 5,
                  conv_index_bits: int = 8, fc_index_bits: int = 5) -> tuple[dict, bytes, dict]:
    """``(meta, payload, parts)`` of one weight tensor; ``parts`` splits the payload's bytes by ``PARTS``.

    ``meta`` lists the counts (entries ``m``, index bits ``ib``, codebook size ``k``, …) that
    the payload also carries in its first bytes; ``tables`` holds those and the Huffman code lengths.

    >>> t = torch.tensor([[0.0, 0.5, 0.0, -0.5], [0.0, 0.0, 0.0, 0.5]])
    >>> meta, payload, parts = encode_tensor(t, "relative_shared", fc_bits=2, fc_index_bits=2)
    >>> back = decode_tensor({"mode": "relative_shared"}, payload, (2, 4), torch.float32)
    >>> torch.equal(back, t), sum(parts.values()) == len(payload)
    (True, True)
    """
    check_choice("mode", mode, MODES, what="storage mode")
    for name, v in (("conv_bits", conv_bits), ("fc_bits", fc_bits),
                    ("conv_index_bits", conv_index_bits), ("fc_index_bits", fc_index_bits)):
        check_int(name, v, 1, 16)
    flat = t.detach().reshape(-1).float().numpy()
    ib = _bits_for(t, conv_index_bits, fc_index_bits)
    gaps, filler = relative_indices(np.flatnonzero(flat), ib)
    values = np.zeros(gaps.size, np.float32)
    values[~filler] = flat[flat != 0]
    m, n_fill = int(gaps.size), int(filler.sum())
    meta = {"m": m, "ib": ib}
    parts = dict.fromkeys(PARTS, 0.0)
    gap_bytes = pack_bits(gaps - 1, ib)
    if mode == "relative":
        parts.update(values=4 * (m - n_fill), indices=len(gap_bytes) - n_fill * ib / 8, fillers=n_fill * (4 + ib / 8))
        return _framed(mode, meta, gap_bytes + values.tobytes(), parts)
    book, index, exact = _codebook(values, filler, _bits_for(t, conv_bits, fc_bits))
    meta.update(k=len(book), exact=exact)
    parts["codebook"] = 4 * len(book)
    if mode == "relative_shared":
        vb = max(1, math.ceil(math.log2(len(book)))) if len(book) else 1
        index_bytes = pack_bits(index, vb)
        meta["vb"] = vb
        parts.update(values=len(index_bytes) - n_fill * vb / 8, indices=len(gap_bytes) - n_fill * ib / 8,
                     fillers=n_fill * (vb + ib) / 8)
        return _framed(mode, meta, book.tobytes() + gap_bytes + index_bytes, parts)
    gap_len, gap_stream, gap_bits = huffman_stream(gaps - 1, 2**ib)
    idx_len, idx_stream, idx_bits = huffman_stream(index, max(len(book), 1))
    tables = pack_bits(gap_len, LENGTH_BITS) + pack_bits(idx_len, LENGTH_BITS)
    meta.update(gn=gap_bits, vn=idx_bits)
    fill_gap, fill_idx = int(gap_len[gaps[filler] - 1].sum()), int(idx_len[index[filler]].sum())
    parts.update(values=len(idx_stream) - fill_idx / 8, indices=len(gap_stream) - fill_gap / 8,
                 fillers=(fill_gap + fill_idx) / 8, tables=len(tables))
    return _framed(mode, meta, book.tobytes() + tables + gap_stream + idx_stream, parts)


def _framed(mode: str, meta: dict, body: bytes, parts: dict) -> tuple[dict, bytes, dict]:
    prefix = struct.pack(PREFIX[mode], *(meta[f] for f in FIELDS[mode]))
    parts["tables"] += len(prefix)
    return meta, prefix + body, parts


@checked
@decodes("payload")
def decode_tensor(meta: dict, payload: bytes, shape: tuple, dtype: torch.dtype) -> Tensor:
    """Inverse of :func:`encode_tensor`: ``meta`` names the mode (``{"mode": ...}``); counts come from the payload."""
    mode = meta.get("mode") or next(mo for mo, f in FIELDS.items() if set(f) == set(meta) - {"exact"})
    size = struct.calcsize(PREFIX[mode])
    meta = {**meta, **dict(zip(FIELDS[mode], struct.unpack(PREFIX[mode], payload[:size])))}
    payload = payload[size:]
    m, ib, n = meta["m"], meta["ib"], int(np.prod(shape))
    gap_size = math.ceil(m * ib / 8)
    if "k" not in meta:                                       # relative: gaps + fp32 values
        gaps = unpack_bits(payload[:gap_size], ib, m).astype(np.int64) + 1
        values = np.frombuffer(payload, np.float32, m, offset=gap_size)
    else:
        k = meta["k"]
        book = np.frombuffer(payload, np.float32, k)
        rest = payload[4 * k:]
        if "vb" in meta:
            gaps = unpack_bits(rest[:gap_size], ib, m).astype(np.int64) + 1
            index = unpack_bits(rest[gap_size:], meta["vb"], m).astype(np.int64)
        else:
            t_gap, t_idx = math.ceil(2**ib * LENGTH_BITS / 8), math.ceil(max(k, 1) * LENGTH_BITS / 8)
            gap_len = unpack_bits(rest[:t_gap], LENGTH_BITS, 2**ib).astype(np.int64)
            idx_len = unpack_bits(rest[t_gap:t_gap + t_idx], LENGTH_BITS, max(k, 1)).astype(np.int64)
            rest = rest[t_gap + t_idx:]
            g = math.ceil(meta["gn"] / 8)
            gaps = huffman_symbols(gap_len, rest[:g], meta["gn"], m) + 1
            index = huffman_symbols(idx_len, rest[g:], meta["vn"], m)
        values = book[index] if m else np.zeros(0, np.float32)
    dense = np.zeros(n, np.float32)
    pos = np.cumsum(gaps) - 1                                 # fillers hold zero: writing them is harmless
    dense[pos] = values
    return torch.from_numpy(dense).to(dtype).reshape(shape)


# ---------------------------------------------------------------- codecs and encodings


_RECENT: OrderedDict = OrderedDict()      # the last few tensors encoded: the explorer encodes each twice


def encode_cached(t: Tensor, mode: str, **options) -> tuple[dict, bytes, dict]:
    """:func:`encode_tensor`, remembering the last 64 results (keyed by the tensor's bytes and the options)."""
    data = t.detach().cpu().contiguous()
    key = (mode, tuple(data.shape), tuple(sorted(options.items())), hash(data.numpy().tobytes()))
    if key not in _RECENT:
        _RECENT[key] = encode_tensor(data, mode, **options)
        while len(_RECENT) > 64:
            _RECENT.popitem(last=False)
    meta, payload, parts = _RECENT[key]
    return dict(meta), payload, dict(parts)


def _codec(mode: str):
    def encode(t: Tensor, conv_bits: int = 8, fc_bits: int = 5, conv_index_bits: int = 8,
               fc_index_bits: int = 5) -> tuple[dict, bytes]:
        meta, payload, _ = encode_cached(t, mode, conv_bits=conv_bits, fc_bits=fc_bits,
                                         conv_index_bits=conv_index_bits, fc_index_bits=fc_index_bits)
        return ({"exact": meta["exact"]} if "exact" in meta else {}), payload   # counts travel in the payload
    return encode


def _decoder(mode: str):
    return lambda meta, payload, shape, dtype: decode_tensor({**meta, "mode": mode}, payload, shape, dtype)


def _weights(codec: str):
    """Matrices and conv kernels get ``codec``; biases stay fp32 (``raw``), as in every encoding."""
    return lambda name, t: codec if t.is_floating_point() and t.ndim >= 2 and t.numel() else "raw"


STAGE_ENCODINGS = {"pruned": "relative", "pruned_shared": "relative_shared", "deep_compression": "relative_huffman"}


def register() -> None:
    """Register the three codecs and their encodings (importing ``workbench.sharing`` does this)."""
    for mode in MODES:
        encodings.register_codec(mode, _codec(mode), _decoder(mode), lossless=mode == "relative")
    for name, codec in STAGE_ENCODINGS.items():
        encodings.register_encoding(name, _weights(codec))


def breakdown(model, encoding: str = "deep_compression", **options):
    """Bytes of ``encode(model, encoding)`` split into ``PARTS`` plus ``biases`` and ``header``; sums to the total.

    ``header`` is the encoding's JSON header (names, shapes, codecs) and its framing.

    One row per tensor (and a ``header`` row); column ``bytes`` is the tensor's payload.
    """
    import pandas as pd

    from ..weights import effective_state_dict

    check_choice("encoding", encoding, STAGE_ENCODINGS, what="encoding")
    mode = STAGE_ENCODINGS[encoding]
    blob = encodings.encode(model, encoding, **options)
    rows = {}
    state = effective_state_dict(model) if isinstance(model, torch.nn.Module) else model
    policy = encodings.ENCODINGS[encoding]
    for name, t in state.items():
        if policy(name, t) == "raw":
            rows[name] = {**dict.fromkeys(PARTS, 0.0), "biases": float(t.numel() * t.element_size())}
        else:
            _, payload, parts = encode_cached(t, mode, **options)
            rows[name] = {**parts, "biases": 0.0}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.loc["header"] = 0.0
    table.loc["header", "header"] = len(blob) - table.to_numpy().sum()
    return table.fillna(0.0)
