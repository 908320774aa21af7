"""Model size as the bytes of a real encoding that decodes back.

An *encoding* is a policy that picks a *codec* for every tensor of a model's
effective state dict; ``encode`` writes one self-describing blob (a small JSON
header + payloads) and ``decode`` reads it back into tensors. The size of a model
is ``len(encode(model, encoding))`` — bytes, not arithmetic on parameter counts::

    >>> from workbench import models
    >>> model = models.build("lenet300")
    >>> blob = encode(model, "csr")
    >>> state = decode(blob)                      # the header names the codecs used
    >>> bool((state["classifier.1.weight"] == model.classifier[1].weight).all())
    True

Encodings (``ENCODINGS``):

- ``fp32``: every tensor's raw bytes (a dense checkpoint, minus pickle framing);
- ``fp16``: floats halved (lossy);
- ``csr``: weight matrices in compressed sparse row form — values, column indices
  in the narrowest unsigned type that fits, row pointers; larger than dense below
  roughly 50 % sparsity, as the tables will show;
- ``int8``: symmetric per-output-channel int8 weights with fp32 scales (lossy);
- ``codebook``: each weight tensor as at most 2**bits shared values plus
  bit-packed indices (Han et al. 2016); lossless when the tensor already has that
  few distinct values (after weight sharing), otherwise k-means clusters it;
- ``huffman``: the codebook indices Huffman-coded (Deep Compression's last stage).

Vectors (biases, BatchNorm) stay fp32 in every encoding, as deployed formats keep
them. Later techniques add codecs and encodings with ``register_codec`` and
``register_encoding``.
"""

from __future__ import annotations

import heapq
import inspect
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ._checks import check_choice, check_int
from .weights import effective_state_dict, plain_copy

MAGIC = b"WBENC1"

# ---------------------------------------------------------------- bit packing


def pack_bits(values: np.ndarray, bits: int) -> bytes:
    """Pack non-negative integers below ``2**bits`` into ``bits`` bits each (big-endian).

    >>> unpack_bits(pack_bits(np.array([5, 0, 7]), 3), 3, 3).tolist()
    [5, 0, 7]
    """
    check_int("bits", bits, 1, 32)
    values = np.asarray(values, dtype=np.uint64).ravel()
    if values.size and int(values.max()) >= 2**bits:
        raise ValueError(f"values must be below 2**bits = {2**bits}, got {int(values.max())}")
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint64)
    matrix = ((values[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)  # (n, bits)
    return np.packbits(matrix.ravel()).tobytes()


def unpack_bits(payload: bytes, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``count`` integers of ``bits`` bits each."""
    flat = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))[: bits * count]
    weights = (np.uint64(1) << np.arange(bits - 1, -1, -1, dtype=np.uint64))
    return flat.reshape(count, bits).astype(np.uint64) @ weights


def _rows(t: Tensor) -> Tensor:
    """``t`` as a matrix ``(shape[0], rest)``; conv kernels become one row per filter."""
    return t.reshape(t.shape[0], int(np.prod(t.shape[1:])))


def _narrowest_uint(max_value: int) -> np.dtype:
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if max_value <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise ValueError(f"value {max_value} does not fit in 64 bits")


# ---------------------------------------------------------------- codecs
# A codec turns one tensor into (meta, payload) and back. meta must be JSON-able.


@dataclass(frozen=True)
class Codec:
    encode: Callable[..., tuple[dict, bytes]]     # (tensor, **options) -> (meta, payload)
    decode: Callable[[dict, bytes, tuple, torch.dtype], Tensor]
    lossless: bool


CODECS: dict[str, Codec] = {}


def register_codec(name: str, encode: Callable, decode: Callable, *, lossless: bool) -> None:
    """Add a per-tensor codec (e.g. packed binary weights) usable by encodings."""
    CODECS[name] = Codec(encode, decode, lossless)


def _raw_encode(t: Tensor) -> tuple[dict, bytes]:
    return {}, t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""


def _raw_decode(meta, payload, shape, dtype) -> Tensor:
    if not payload:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(payload), dtype=torch.uint8).view(dtype).reshape(shape).clone()


def _fp16_encode(t: Tensor) -> tuple[dict, bytes]:
    return {}, t.to(torch.float16).numpy().tobytes()


def _fp16_decode(meta, payload, shape, dtype) -> Tensor:
    return torch.from_numpy(np.frombuffer(payload, dtype=np.float16).copy()).to(dtype).reshape(shape)


def _csr_encode(t: Tensor) -> tuple[dict, bytes]:
    rows = _rows(t).numpy()                            # (out, in * kh * kw)
    mask = rows != 0
    values = rows[mask].astype(np.float32)
    cols = np.nonzero(mask)[1]
    ptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))])
    col_dt, ptr_dt = _narrowest_uint(max(rows.shape[1] - 1, 0)), _narrowest_uint(int(ptr[-1]))
    meta = {"nnz": int(values.size), "col": col_dt.name, "ptr": ptr_dt.name}
    return meta, values.tobytes() + cols.astype(col_dt).tobytes() + ptr.astype(ptr_dt).tobytes()


def _csr_decode(meta, payload, shape, dtype) -> Tensor:
    nnz, col_dt, ptr_dt = meta["nnz"], np.dtype(meta["col"]), np.dtype(meta["ptr"])
    n_rows, n_cols = shape[0], int(np.prod(shape[1:]))
    values = np.frombuffer(payload, np.float32, nnz)
    cols = np.frombuffer(payload, col_dt, nnz, offset=4 * nnz).astype(np.int64)
    ptr = np.frombuffer(payload, ptr_dt, n_rows + 1, offset=4 * nnz + col_dt.itemsize * nnz).astype(np.int64)
    dense = np.zeros((n_rows, n_cols), np.float32)
    dense[np.repeat(np.arange(n_rows), np.diff(ptr)), cols] = values
    return torch.from_numpy(dense).to(dtype).reshape(shape)


def _int8_encode(t: Tensor) -> tuple[dict, bytes]:
    rows = _rows(t).float()
    scale = (rows.abs().amax(dim=1) if rows.numel() else torch.zeros(rows.shape[0])) / 127.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))      # all-zero channel: any scale
    q = torch.round(rows / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return {}, scale.numpy().astype(np.float32).tobytes() + q.numpy().tobytes()


def _int8_decode(meta, payload, shape, dtype) -> Tensor:
    n = shape[0]
    scale = torch.from_numpy(np.frombuffer(payload, np.float32, n).copy())
    q = torch.from_numpy(np.frombuffer(payload, np.int8, offset=4 * n).copy()).reshape(n, int(np.prod(shape[1:])))
    return (q.float() * scale[:, None]).to(dtype).reshape(shape)


def cluster(values: np.ndarray, k: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """1-D k-means with linear initialisation (Han et al. 2016): ``(centroids, labels)``.

    Uses scikit-learn's ``KMeans``; returns sorted centroids and each value's index.
    """
    from sklearn.cluster import KMeans

    check_int("k", k, 1)
    values = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    distinct = np.unique(values)
    if len(distinct) <= k:
        return distinct.astype(np.float32), np.searchsorted(distinct, values.ravel())
    init = np.linspace(values.min(), values.max(), k).reshape(-1, 1)
    km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=50, random_state=seed).fit(values)
    order = np.argsort(km.cluster_centers_.ravel())
    centroids = km.cluster_centers_.ravel()[order].astype(np.float32)
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return centroids, rank[km.labels_]


def _shared_values(t: Tensor, bits: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Codebook, per-weight index, and whether that is exact (at most ``2**bits`` distinct values)."""
    check_int("bits", bits, 1, 16)
    flat = t.reshape(-1).float().numpy()
    distinct, index = np.unique(flat, return_inverse=True)
    if len(distinct) <= 2**bits:
        return distinct.astype(np.float32), index.astype(np.int64), True
    return (*cluster(flat, 2**bits), False)


def _codebook_encode(t: Tensor, bits: int = 8) -> tuple[dict, bytes]:
    codebook, index, exact = _shared_values(t, bits)
    width = max(1, math.ceil(math.log2(len(codebook))))
    meta = {"k": len(codebook), "bits": width, "exact": exact}
    return meta, codebook.tobytes() + pack_bits(index, width)


def _codebook_decode(meta, payload, shape, dtype) -> Tensor:
    k, width, n = meta["k"], meta["bits"], int(np.prod(shape))
    codebook = np.frombuffer(payload, np.float32, k)
    index = unpack_bits(payload[4 * k:], width, n).astype(np.int64)
    return torch.from_numpy(codebook[index].copy()).to(dtype).reshape(shape)


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


def _canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical Huffman codes for the given lengths (shorter codes first, then symbol order)."""
    codes = np.zeros(len(lengths), dtype=np.uint64)
    code, prev = 0, 0
    for s in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[s]) - prev
        codes[s] = code
        prev = int(lengths[s])
        code += 1
    return codes


def _huffman_encode(t: Tensor, bits: int = 8) -> tuple[dict, bytes]:
    codebook, index, exact = _shared_values(t, bits)
    k = len(codebook)
    lengths = huffman_lengths(np.bincount(index, minlength=k))
    if lengths.max() > 56:
        raise ValueError("Huffman code longer than 56 bits; use fewer codebook bits")
    codes = _canonical_codes(lengths)
    sym_len, sym_code = lengths[index], codes[index]
    starts = np.cumsum(sym_len) - sym_len
    stream = np.zeros(int(sym_len.sum()), dtype=np.uint8)
    for j in range(int(lengths.max())):              # j-th bit of every code at once
        has = sym_len > j
        shift = (sym_len[has] - 1 - j).astype(np.uint64)
        stream[starts[has] + j] = ((sym_code[has] >> shift) & np.uint64(1)).astype(np.uint8)
    meta = {"k": k, "nbits": int(stream.size), "exact": exact}
    return meta, codebook.tobytes() + lengths.astype(np.uint8).tobytes() + np.packbits(stream).tobytes()


def _huffman_decode(meta, payload, shape, dtype) -> Tensor:
    k, nbits, n = meta["k"], meta["nbits"], int(np.prod(shape))
    codebook = np.frombuffer(payload, np.float32, k)
    lengths = np.frombuffer(payload, np.uint8, k, offset=4 * k).astype(np.int64)
    stream = np.unpackbits(np.frombuffer(payload, np.uint8, offset=5 * k))[:nbits]
    width = int(lengths.max())
    # lookup table over every width-bit window: window value -> (symbol, code length)
    codes = _canonical_codes(lengths)
    table_sym = np.zeros(2**width, dtype=np.int64)
    table_len = np.zeros(2**width, dtype=np.int64)
    for s in np.flatnonzero(lengths):
        lo = int(codes[s]) << (width - int(lengths[s]))
        hi = lo + (1 << (width - int(lengths[s])))
        table_sym[lo:hi], table_len[lo:hi] = s, lengths[s]
    padded = np.concatenate([stream, np.zeros(width, np.uint8)]).astype(np.int64)
    window = np.zeros(nbits, dtype=np.int64)
    for j in range(width):
        window = (window << 1) | padded[j:j + nbits]
    step = table_len[window].tolist()
    positions, p = [], 0
    for _ in range(n):                                 # prefix codes decode one after another
        positions.append(p)
        p += step[p]
    index = table_sym[window[positions]] if n else np.zeros(0, np.int64)
    return torch.from_numpy(codebook[index].copy()).to(dtype).reshape(shape)


register_codec("raw", _raw_encode, _raw_decode, lossless=True)
register_codec("fp16", _fp16_encode, _fp16_decode, lossless=False)
register_codec("csr", _csr_encode, _csr_decode, lossless=True)
register_codec("int8", _int8_encode, _int8_decode, lossless=False)
register_codec("codebook", _codebook_encode, _codebook_decode, lossless=False)
register_codec("huffman", _huffman_encode, _huffman_decode, lossless=False)

# ---------------------------------------------------------------- encodings

Policy = Callable[[str, Tensor], str]  # (name, tensor) -> codec name


def _weights_with(codec: str) -> Policy:
    """Matrices and conv kernels (non-empty floats of 2+ dims) get ``codec``; the rest stays raw."""
    return lambda name, t: codec if t.is_floating_point() and t.ndim >= 2 and t.numel() else "raw"


ENCODINGS: dict[str, Policy] = {
    "fp32": lambda name, t: "raw",
    "fp16": lambda name, t: "fp16" if t.is_floating_point() else "raw",
    "csr": _weights_with("csr"),
    "int8": _weights_with("int8"),
    "codebook": _weights_with("codebook"),
    "huffman": _weights_with("huffman"),
}


def register_encoding(name: str, policy: Policy) -> None:
    """Add a model-level encoding: ``policy(name, tensor)`` returns a codec name."""
    ENCODINGS[name] = policy


def encode(model: nn.Module | dict[str, Tensor], encoding: str = "fp32", **options) -> bytes:
    """Encode a model (or a state dict) into bytes; ``options`` go to the codecs (e.g. ``bits``).

    >>> from workbench import models
    >>> len(encode(models.build("lenet300"), "fp32")) > 266610 * 4
    True
    """
    check_choice("encoding", encoding, ENCODINGS, what="encoding")
    state = effective_state_dict(model) if isinstance(model, nn.Module) else model
    policy = ENCODINGS[encoding]
    entries, payloads = [], []
    for name, tensor in state.items():
        t = tensor.detach().cpu()
        codec = policy(name, t)
        check_choice("codec", codec, CODECS, what="codec")
        fn = CODECS[codec].encode
        accepted = {k: v for k, v in options.items() if k in inspect.signature(fn).parameters}
        meta, payload = fn(t, **accepted)
        entries.append({"name": name, "shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch."),
                        "codec": codec, "meta": meta, "size": len(payload)})
        payloads.append(payload)
    header = json.dumps({"encoding": encoding, "tensors": entries}, separators=(",", ":")).encode()
    return MAGIC + len(header).to_bytes(4, "little") + header + b"".join(payloads)


def decode(blob: bytes) -> dict[str, Tensor]:
    """Decode bytes written by :func:`encode` back into a state dict."""
    head = header(blob)
    offset = len(MAGIC) + 4 + int.from_bytes(blob[len(MAGIC):len(MAGIC) + 4], "little")
    state = {}
    for entry in head["tensors"]:
        payload = blob[offset:offset + entry["size"]]
        offset += entry["size"]
        dtype = getattr(torch, entry["dtype"])
        state[entry["name"]] = CODECS[entry["codec"]].decode(entry["meta"], payload, tuple(entry["shape"]), dtype)
    return state


def header(blob: bytes) -> dict:
    """The JSON header of an encoded blob: the encoding and, per tensor, codec, meta and size."""
    if not blob.startswith(MAGIC):
        raise ValueError("blob is not a workbench encoding (bad magic bytes)")
    n = int.from_bytes(blob[len(MAGIC):len(MAGIC) + 4], "little")
    return json.loads(blob[len(MAGIC) + 4:len(MAGIC) + 4 + n])


def is_lossless(blob: bytes) -> bool:
    """Whether every tensor in the blob was stored exactly (lossless codecs, or exact codebooks)."""
    return all(e["meta"].get("exact", CODECS[e["codec"]].lossless) for e in header(blob)["tensors"])


def size_bytes(model: nn.Module, encoding: str = "fp32", **options) -> int:
    """Bytes of ``model`` in ``encoding``.

    >>> from workbench import models
    >>> size_bytes(models.build("lenet5"), "int8") < size_bytes(models.build("lenet5"), "fp32") / 3
    True
    """
    return len(encode(model, encoding, **options))


def decoded_model(model: nn.Module, blob: bytes) -> nn.Module:
    """A plain copy of ``model`` holding the weights decoded from ``blob``.

    Accuracy measured on this copy is the accuracy of what the bytes store.
    """
    copy = plain_copy(model)
    copy.load_state_dict(decode(blob), strict=True)
    return copy


def torch_save_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: PyTorch's own checkpoint, pickle framing included.

    For models the encodings cannot read (PyTorch's quantized modules, say).
    """
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def compare_encodings(model: nn.Module, names: list[str] | None = None, **options):
    """One row per encoding: bytes, ratio to fp32, whether it is exact, worst weight error.

    Every row is measured by encoding and decoding back.

    >>> from workbench import models
    >>> bool(compare_encodings(models.build("lenet5"), ["fp32", "fp16"]).loc["fp16", "exact"])
    False
    """
    import pandas as pd

    names = names or list(ENCODINGS)
    state = effective_state_dict(model)
    rows = {}
    for name in names:
        blob = encode(state, name, **options)
        back = decode(blob)
        err = max(((back[k].double() - state[k].double()).abs().max().item() for k in state if state[k].numel()),
                  default=0.0)
        rows[name] = {"bytes": len(blob), "exact": err == 0.0, "max_abs_error": err}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.insert(1, "ratio_to_fp32", len(encode(state, "fp32")) / table["bytes"])
    return table
