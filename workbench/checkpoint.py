"""Checkpoints that load without pickle, are written atomically and carry a checksum.

A checkpoint is a safetensors file whose header records the model's ``config``
(so the architecture, pruned or not, is rebuilt from it), free-form metadata and
a SHA-256 over the tensors::

    >>> import tempfile, pathlib
    >>> from workbench import models
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "lenet5.safetensors"
    >>> _ = save_model(models.build("lenet5"), path, metadata={"note": "untrained"})
    >>> load_model(path).config["name"], read_metadata(path)["note"]
    ('lenet5', 'untrained')

An existing file is never replaced unless ``overwrite=True`` is passed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from .models import build


class ChecksumError(ValueError):
    """A checkpoint's tensors do not match the checksum in its header."""


class CorruptCheckpointError(ValueError):
    """A file that is not a readable safetensors checkpoint (truncated, garbage, bad header)."""


MAX_HEADER = 100_000_000   # safetensors' own limit on the JSON header


def tensor_checksum(state: dict[str, Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of ``state``, in sorted key order."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def atomic_write(path: str | Path, payload: bytes, *, overwrite: bool = False) -> Path:
    """Write ``payload`` to ``path`` via a temporary file and ``os.replace``.

    A crash mid-write leaves either the old file or none, never half a file.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)       # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_model(model: nn.Module, path: str | Path, *, metadata: dict | None = None,
               overwrite: bool = False) -> Path:
    """Save ``model`` (which must have a ``config``) as a checksummed safetensors file."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError("model must carry a config dict with a 'name' (models built by workbench.models do)")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    header = {"config": json.dumps(config), "sha256": tensor_checksum(state)}
    for key, value in (metadata or {}).items():
        if key in header:
            raise ValueError(f"metadata key {key!r} is reserved")
        header[key] = value if isinstance(value, str) else json.dumps(value)
    return atomic_write(path, st_save(state, metadata=header), overwrite=overwrite)


def load_state(path: str | Path) -> tuple[dict[str, Tensor], dict]:
    """The tensors and header metadata of a checkpoint, after checking its checksum."""
    path = _checkpoint_path(path)
    blob = path.read_bytes()
    meta = _header(blob, path)
    try:
        state = st_load(blob)
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
        raise CorruptCheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err}); "
                                     "it may be truncated: save it again") from err
    expected = meta.get("sha256")
    if expected is None:
        raise ChecksumError(f"{path} carries no checksum")
    if tensor_checksum(state) != expected:
        raise ChecksumError(f"{path} is corrupt: its tensors do not match the checksum in its header")
    return state, meta


def load_model(path: str | Path) -> nn.Module:
    """Rebuild the model recorded in a checkpoint and load its weights (in eval mode)."""
    state, meta = load_state(path)
    if "config" not in meta:
        raise CorruptCheckpointError(f"{path} records no model config: it was not written by save_model")
    try:
        model = build(**json.loads(meta["config"]), seed=None)
    except (ValueError, TypeError) as err:
        raise CorruptCheckpointError(f"{path} records a config this workbench cannot build: {err}") from err
    model.load_state_dict(state)
    return model.eval()


def read_metadata(path: str | Path) -> dict:
    """The header metadata of a checkpoint, JSON values decoded, without loading tensors."""
    path = _checkpoint_path(path)
    with open(path, "rb") as f:
        start = f.read(8)
        n = int.from_bytes(start, "little") if len(start) == 8 else -1
        head = f.read(n) if 0 < n <= MAX_HEADER else b""
    meta = _header(start + head, path)
    return {k: _maybe_json(v) for k, v in meta.items()}


def _checkpoint_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or Path), got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return path


def _header(blob: bytes, path: Path) -> dict:
    """The ``__metadata__`` of a safetensors header; a clear error naming ``path`` when it is not one."""
    n = int.from_bytes(blob[:8], "little") if len(blob) >= 8 else -1
    if not 0 < n <= MAX_HEADER or len(blob) < 8 + n:
        raise CorruptCheckpointError(f"{path} is not a safetensors checkpoint (its first 8 bytes do not give the "
                                     "length of a header inside the file): truncated or another format")
    try:
        head = json.loads(blob[8:8 + n])
    except (ValueError, UnicodeDecodeError) as err:
        raise CorruptCheckpointError(f"{path} has a header that is not JSON: corrupt or another format") from err
    if not isinstance(head, dict):
        raise CorruptCheckpointError(f"{path} has a header that is not a JSON object")
    meta = head.get("__metadata__", {})
    return meta if isinstance(meta, dict) else {}


def _maybe_json(value: str):
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value
