"""Weight sharing codecs: a k-means codebook with bit-packed indices (Han et al. 2016),
and the same indices Huffman-coded (Deep Compression's last stage).

    >>> t = torch.tensor([0.5, 0.5, 0.5, -1.0])
    >>> meta, payload = CODECS["huffman"].encode(t, bits=2)
    >>> CODECS["huffman"].decode(meta, payload, (4,), torch.float32).tolist()
    [0.5, 0.5, 0.5, -1.0]
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import torch
from torch import Tensor

from .._checks import check_int, checked, decodes
from .bits import pack_bits, unpack_bits
from .codecs import CODECS, _numpy, register_codec


FIT_MAX = 2**18    # k-means fits on at most this many values (LeNet-300's 235,200 fit whole)


@checked
def cluster(values: np.ndarray, k: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """1-D k-means with linear initialisation (Han et al. 2016): ``(centroids, labels)``.

    Uses scikit-learn's ``KMeans``; returns sorted centroids and each value's index.
    """
    from sklearn.cluster import KMeans

    check_int("k", k, 1)
    values = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    if values.size and not np.isfinite(values).all():
        raise ValueError("values must be finite to cluster, got nan or inf")
    distinct = np.unique(values)
    if len(distinct) <= k:
        return distinct.astype(np.float32), np.searchsorted(distinct, values.ravel())
    fit = values
    if len(values) > FIT_MAX:                 # a torchvision-sized layer: fit on a sample, assign all
        fit = np.random.default_rng(seed).choice(values.ravel(), FIT_MAX, replace=False).reshape(-1, 1)
    init = np.linspace(values.min(), values.max(), k).reshape(-1, 1)
    km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=50, random_state=seed).fit(fit)
    centroids = np.sort(km.cluster_centers_.ravel()).astype(np.float32)
    midpoints = (centroids[1:].astype(np.float64) + centroids[:-1]) / 2
    return centroids, np.searchsorted(midpoints, values.ravel())


@checked
def shared_values(t: Tensor, bits: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Codebook, per-weight index, and whether that is exact (at most ``2**bits`` distinct values,
    each held exactly by the float32 codebook).

    >>> book, index, exact = shared_values(torch.tensor([0.5, -1.0, 0.5]), 2)
    >>> book.tolist(), index.tolist(), exact
    ([-1.0, 0.5], [1, 0, 1], True)
    """
    check_int("bits", bits, 1, 16)
    flat = _numpy(t.reshape(-1))                       # the tensor's own precision (bf16 -> fp32, exact)
    distinct, index = np.unique(flat, return_inverse=True)
    if len(distinct) <= 2**bits:
        book = distinct.astype(np.float32)
        return book, index.astype(np.int64), bool(np.array_equal(book.astype(distinct.dtype), distinct))
    return (*cluster(flat, 2**bits), False)


def _codebook_encode(t: Tensor, bits: int = 8) -> tuple[dict, bytes]:
    codebook, index, exact = shared_values(t, bits)
    width = max(1, math.ceil(math.log2(len(codebook))))
    meta = {"k": len(codebook), "bits": width, "exact": exact}
    return meta, codebook.tobytes() + pack_bits(index, width)


def _codebook_decode(meta, payload, shape, dtype) -> Tensor:
    k, width, n = meta["k"], meta["bits"], int(np.prod(shape))
    codebook = np.frombuffer(payload, np.float32, k)
    index = unpack_bits(payload[4 * k:], width, n).astype(np.int64)
    return torch.from_numpy(codebook[index].copy()).to(dtype).reshape(shape)


@checked(empty_ok=("counts",))
def huffman_lengths(counts: np.ndarray) -> np.ndarray:
    """Huffman code length of each symbol from its count (0 for unused symbols).

    >>> huffman_lengths(np.array([5, 1, 1, 2])).tolist()
    [1, 3, 3, 2]
    """
    counts = np.asarray(counts)
    used = np.flatnonzero(counts)
    lengths = np.zeros(len(counts), dtype=np.int64)
    if len(used) == 1:
        lengths[used] = 1
        return lengths
    heap = [(int(counts[s]), i, [int(s)]) for i, s in enumerate(used)]
    heapq.heapify(heap)
    tie = len(heap)
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        lengths[s1] += 1
        lengths[s2] += 1
        heapq.heappush(heap, (c1 + c2, tie, s1 + s2))
        tie += 1
    return lengths


@checked(empty_ok=("lengths",))
def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical Huffman codes for the given lengths (shorter codes first, then symbol order).

    >>> canonical_codes(np.array([1, 3, 3, 2])).tolist()
    [0, 6, 7, 2]
    """
    codes = np.zeros(len(lengths), dtype=np.uint64)
    code, prev = 0, 0
    for s in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[s]) - prev
        codes[s] = code
        prev = int(lengths[s])
        code += 1
    return codes


@checked(empty_ok=("symbols", "lengths"))
def pack_codes(symbols: np.ndarray, lengths: np.ndarray) -> tuple[bytes, int]:
    """Each symbol's canonical Huffman code, concatenated and bit-packed: ``(payload, number of bits)``.

    >>> pack_codes(np.array([0, 0, 1]), np.array([1, 1]))        # bits 0, 0, 1: one byte 0b00100000
    (b' ', 3)
    """
    symbols, lengths = np.asarray(symbols, dtype=np.int64), np.asarray(lengths, dtype=np.int64)
    if symbols.size == 0:
        return b"", 0
    codes = canonical_codes(lengths)
    sym_len, sym_code = lengths[symbols], codes[symbols]
    starts = np.cumsum(sym_len) - sym_len
    stream = np.zeros(int(sym_len.sum()), dtype=np.uint8)
    for j in range(int(lengths.max())):              # j-th bit of every code at once
        has = sym_len > j
        shift = (sym_len[has] - 1 - j).astype(np.uint64)
        stream[starts[has] + j] = ((sym_code[has] >> shift) & np.uint64(1)).astype(np.uint8)
    return np.packbits(stream).tobytes(), int(stream.size)


@checked(empty_ok=("lengths",))
@decodes("payload")
def huffman_symbols(lengths: np.ndarray, payload: bytes, nbits: int, count: int) -> np.ndarray:
    """Decode ``count`` symbols from a canonical Huffman stream (inverse of :func:`pack_codes`).

    >>> huffman_symbols(np.array([1, 1]), *pack_codes(np.array([0, 0, 1]), np.array([1, 1])), 3).tolist()
    [0, 0, 1]
    """
    if count == 0:
        return np.zeros(0, np.int64)
    if nbits > 8 * len(payload):
        raise ValueError(f"payload holds {8 * len(payload)} bits, fewer than nbits={nbits}: it is cut short")
    lengths = np.asarray(lengths, dtype=np.int64)
    stream = np.unpackbits(np.frombuffer(payload, np.uint8))[:nbits]
    width = int(lengths.max())
    codes = canonical_codes(lengths)
    table_sym = np.zeros(2**width, dtype=np.int64)
    table_len = np.zeros(2**width, dtype=np.int64)
    for s in np.flatnonzero(lengths):                # every width-bit window -> (symbol, code length)
        lo = int(codes[s]) << (width - int(lengths[s]))
        hi = lo + (1 << (width - int(lengths[s])))
        table_sym[lo:hi], table_len[lo:hi] = s, lengths[s]
    padded = np.concatenate([stream, np.zeros(width, np.uint8)]).astype(np.int64)
    window = np.zeros(nbits, dtype=np.int64)
    for j in range(width):
        window = (window << 1) | padded[j:j + nbits]
    step = table_len[window].tolist()
    starts, p = [], 0
    for _ in range(count):                           # prefix codes decode one after another
        starts.append(p)
        p += step[p]
    return table_sym[window[starts]]


def _huffman_encode(t: Tensor, bits: int = 8) -> tuple[dict, bytes]:
    codebook, index, exact = shared_values(t, bits)
    k = len(codebook)
    lengths = huffman_lengths(np.bincount(index, minlength=k))
    if lengths.max() > 56:
        raise ValueError("Huffman code longer than 56 bits; use fewer codebook bits")
    stream, nbits = pack_codes(index, lengths)
    meta = {"k": k, "nbits": nbits, "exact": exact}
    return meta, codebook.tobytes() + lengths.astype(np.uint8).tobytes() + stream


def _huffman_decode(meta, payload, shape, dtype) -> Tensor:
    k, n = meta["k"], int(np.prod(shape))
    codebook = np.frombuffer(payload, np.float32, k)
    lengths = np.frombuffer(payload, np.uint8, k, offset=4 * k).astype(np.int64)
    index = huffman_symbols(lengths, payload[5 * k:], meta["nbits"], n)
    return torch.from_numpy(codebook[index].copy()).to(dtype).reshape(shape)


register_codec("codebook", _codebook_encode, _codebook_decode, lossless=False)
register_codec("huffman", _huffman_encode, _huffman_decode, lossless=False)
