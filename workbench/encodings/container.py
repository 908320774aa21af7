"""Encodings: a policy picks a codec for every tensor; ``encode`` writes one blob.

The blob is a small JSON header (per tensor: name, shape, dtype, codec, meta, size),
zlib-compressed, followed by the payloads, so ``decode`` needs nothing but the bytes.
Blobs written before the header was compressed (magic ``WBENC1``) still decode.

    >>> blob = encode({"w": torch.eye(3)}, "csr")
    >>> decode(blob)["w"].trace().item(), is_lossless(blob)
    (3.0, True)
"""

from __future__ import annotations

import inspect
import io
import json
import zlib
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .._checks import check_choice, checked
from ..weights import effective_state_dict, plain_copy
from .codecs import CODECS

MAGIC = b"WBENC2"          # magic, 4-byte header length, zlib(JSON header), payloads
MAGIC_PLAIN = b"WBENC1"    # the first format: the same with the JSON header uncompressed (still read)
# dtypes every codec stores (floats of every width; integers and bools stay raw)
_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.uint8, torch.int16,
           torch.int32, torch.int64, torch.bool)

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
    """Add a model-level encoding: ``policy(name, tensor)`` returns a codec name.

    >>> register_encoding("all-raw", lambda name, t: "raw")
    >>> decode(encode({"w": torch.ones(2)}, "all-raw"))["w"].tolist()
    [1.0, 1.0]
    >>> del ENCODINGS["all-raw"]
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(policy):
        raise TypeError(f"policy must be a function (name, tensor) -> codec name, got {type(policy).__name__}")
    ENCODINGS[name] = policy


def codec_options() -> dict[str, set[str]]:
    """Each keyword option any codec accepts, with the codecs that accept it.

    >>> sorted(codec_options()["bits"])[:2]
    ['codebook', 'huffman']
    """
    out: dict[str, set[str]] = {}
    for name, codec in CODECS.items():
        for p in list(inspect.signature(codec.encode).parameters)[1:]:
            out.setdefault(p, set()).add(name)
    return out


def _state(model) -> dict[str, Tensor]:
    if isinstance(model, nn.Module):
        return effective_state_dict(model)
    if isinstance(model, dict) and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in model.items()):
        return model
    raise TypeError(f"model must be an nn.Module or a state dict {{name: tensor}}, got {type(model).__name__}")


def encode(model: nn.Module | dict[str, Tensor], encoding: str = "fp32", **options) -> bytes:
    """Encode a model (or a state dict) into bytes; ``options`` go to the codecs (e.g. ``bits``).

    >>> from workbench import models
    >>> len(encode(models.build("lenet300"), "fp32")) > 266610 * 4
    True
    """
    check_choice("encoding", encoding, ENCODINGS, what="encoding")
    known = codec_options()
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r} for encode(); the codecs take: "
                         f"{', '.join(sorted(known)) or 'no options'}")
    state = _state(model)
    policy = ENCODINGS[encoding]
    entries, payloads = [], []
    for name, tensor in state.items():
        t = tensor.detach().cpu()
        if t.is_complex() or t.dtype not in _DTYPES:
            raise ValueError(f"tensor {name!r} has dtype {t.dtype}; the encodings store "
                             f"{', '.join(str(d).removeprefix('torch.') for d in _DTYPES)}")
        codec = policy(name, t)
        check_choice("codec", codec, CODECS, what="codec")
        fn = CODECS[codec].encode
        accepted = {k: v for k, v in options.items() if k in inspect.signature(fn).parameters}
        meta, payload = fn(t, **accepted)
        entries.append({"name": name, "shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch."),
                        "codec": codec, "meta": meta, "size": len(payload)})
        payloads.append(payload)
    header = zlib.compress(json.dumps({"encoding": encoding, "tensors": entries}, separators=(",", ":")).encode(), 9)
    return MAGIC + len(header).to_bytes(4, "little") + header + b"".join(payloads)


def decode(blob: bytes) -> dict[str, Tensor]:
    """Decode bytes written by :func:`encode` back into a state dict.

    >>> decode(encode({"w": torch.ones(2, 2)}, "csr"))["w"].sum().item()
    4.0
    """
    head, offset = _read_header(blob)
    state = {}
    for entry in head["tensors"]:
        payload = bytes(blob[offset:offset + entry["size"]])
        offset += entry["size"]
        if entry["codec"] not in CODECS:
            raise ValueError(f"blob uses codec {entry['codec']!r}, which is not registered here "
                             f"(known: {', '.join(CODECS)}); import the module that registers it")
        dtype = getattr(torch, entry["dtype"])
        state[entry["name"]] = CODECS[entry["codec"]].decode(entry["meta"], payload, tuple(entry["shape"]), dtype)
    return state


@checked
def header(blob: bytes) -> dict:
    """The JSON header of an encoded blob: the encoding and, per tensor, codec, meta and size.

    >>> header(encode({"w": torch.ones(3)}))["tensors"][0]["codec"]
    'raw'
    """
    return _read_header(blob)[0]


def _read_header(blob: bytes) -> tuple[dict, int]:
    """The header of ``blob`` and the offset where its payloads start."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise TypeError(f"blob must be bytes written by encode(), got {type(blob).__name__}")
    blob = bytes(blob)
    if not blob.startswith((MAGIC, MAGIC_PLAIN)):
        raise ValueError("blob is not a workbench encoding (bad magic bytes)")
    start = len(MAGIC) + 4
    n = int.from_bytes(blob[len(MAGIC):start], "little")
    raw = blob[start:start + n]
    if len(raw) < n:
        raise ValueError(f"blob is cut short inside its header ({len(raw)} of {n} header bytes)")
    try:
        head = json.loads(zlib.decompress(raw) if blob.startswith(MAGIC) else raw)
        for e in head["tensors"]:
            e["name"], e["codec"], e["meta"], e["shape"], e["dtype"]   # noqa: B018 - check the keys exist
            if not isinstance(e["size"], int) or e["size"] < 0:
                raise ValueError
    except (ValueError, KeyError, TypeError, zlib.error) as err:
        raise ValueError("blob's header is not a valid workbench encoding header (corrupt bytes?)") from err
    needed = start + n + sum(e["size"] for e in head["tensors"])
    if len(blob) < needed:
        raise ValueError(f"blob is cut short: its header describes {needed:,} bytes, the blob has {len(blob):,}")
    return head, start + n


@checked
def is_lossless(blob: bytes) -> bool:
    """Whether every tensor in the blob decodes to equal values in its own dtype.

    >>> is_lossless(encode({"w": torch.full((2, 2), 0.1, dtype=torch.float64)}, "fp16"))
    False
    """
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
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    copy = plain_copy(model)
    copy.load_state_dict(decode(blob), strict=True)
    return copy


def torch_save_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: PyTorch's own checkpoint, pickle framing included.

    For models the encodings cannot read (PyTorch's quantized modules, say).

    >>> torch_save_bytes(torch.nn.Linear(2, 2)) > 2 * 2 * 4
    True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


@checked
def compare_encodings(model: nn.Module, names: list[str] | None = None, **options):
    """One row per encoding: bytes, ratio to fp32, whether it is exact, worst weight error.

    Every row is measured by encoding and decoding back.

    >>> from workbench import models
    >>> bool(compare_encodings(models.build("lenet5"), ["fp32", "fp16"]).loc["fp16", "exact"])
    False
    """
    import pandas as pd

    names = names or list(ENCODINGS)
    for name in names:
        check_choice("names", name, ENCODINGS, what="encoding")
    state = _state(model)
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
