"""Replay a training run that already happened on this machine, instead of training again.

A lecture page, or a notebook opened a second time, should not spend half a minute
retraining a network it trained yesterday with the same code, inputs and random state.
:func:`replayable` wraps a training function so that its first call runs as usual and
stores what it produced; a later call with *identical* inputs — the same model
weights, data, arguments, random-number state and workbench source — loads that
instead: the same return value, the same in-place changes to the models it was given,
and the random-number state it left behind, so every later cell runs exactly as after a
real run.

    >>> import torch
    >>> @replayable
    ... def noisy(n: int) -> torch.Tensor:
    ...     return torch.randn(n)
    >>> _ = torch.manual_seed(0); first = noisy(3)
    >>> _ = torch.manual_seed(0); again = noisy(3)
    (replayed noisy from an identical earlier run on this machine; set WORKBENCH_CACHE=off to train again)
    >>> torch.equal(first, again)
    True

Stored under ``$WORKBENCH_CACHE_DIR`` (default ``~/.cache/workbench/replay``);
``WORKBENCH_CACHE=off`` always trains. Anything whose identity cannot be
fingerprinted (an object that only prints its memory address) simply runs.

**Stored runs that come with the course** (``data/replays/``): the training calls of the
lecture pages, so that a page opens in seconds on a machine that never ran it. Their key
leaves out the torch version and the rest of the workbench's code (it keeps the wrapped
function's own module, its arguments, random state and thread count), so they survive
unrelated edits; ``tools/lectures.py ship`` writes them, and the tests check that each
page still finds its run and that a fresh run still agrees with it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import io
import lzma
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from .paths import REPO_ROOT

F = TypeVar("F", bound=Callable[..., Any])
PACKAGE = Path(__file__).resolve().parent
SHIPPED = REPO_ROOT / "data" / "replays"       # the course's stored runs (read-only here)
SHIP_ENV = "WORKBENCH_SHIP_REPLAYS"             # a folder: also store each run there, with the shipped key

__all__ = ["cache_dir", "enabled", "fingerprint", "replayable"]

_RUNNING: list[str] = []                        # replayable calls under way (the outermost one is shipped)


class Unfingerprintable(Exception):
    """An argument whose content cannot be hashed: the call runs instead of replaying."""


def enabled() -> bool:
    """False when ``WORKBENCH_CACHE=off`` (or ``0``/``no``): every call trains."""
    return os.environ.get("WORKBENCH_CACHE", "on").lower() not in ("off", "0", "no", "false")


def cache_dir() -> Path:
    """Where replays live: ``$WORKBENCH_CACHE_DIR``, else ``~/.cache/workbench/replay``."""
    root = os.environ.get("WORKBENCH_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "workbench" / "replay"


@functools.cache
def _source_hash() -> str:
    """The workbench's own code: a changed line anywhere makes every old replay stale."""
    h = hashlib.sha256(torch.__version__.encode())
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(path.relative_to(PACKAGE).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _update(h, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")   # 0-dim too
    elif isinstance(obj, nn.Module):
        h.update(f"M{type(obj).__module__}.{type(obj).__qualname__}{obj.training}".encode())
        h.update(repr(obj).encode())                        # architecture
        for name, value in obj.state_dict().items():
            h.update(name.encode())
            _update(h, value)
    elif isinstance(obj, (str, bytes, int, float, bool, type(None))):
        h.update(f"{type(obj).__name__}:{obj!r}".encode())
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__}[{len(obj)}".encode())
        for item in obj:
            _update(h, item)
    elif isinstance(obj, dict):
        h.update(f"dict[{len(obj)}".encode())
        for key in sorted(obj, key=repr):
            _update(h, key)
            _update(h, obj[key])
    elif hasattr(obj, "__dataclass_fields__"):
        h.update(f"D{type(obj).__qualname__}".encode())
        for name in obj.__dataclass_fields__:
            h.update(name.encode())
            _update(h, getattr(obj, name))
    elif callable(obj) and hasattr(obj, "__qualname__") and "<" not in obj.__qualname__:
        h.update(f"F{obj.__module__}.{obj.__qualname__}".encode())
    else:
        raise Unfingerprintable(type(obj).__name__)


def fingerprint(*objs: Any) -> str:
    """A hash of the content of ``objs`` (tensors, models, datasets, numbers, strings, containers).

    >>> fingerprint(torch.ones(2), {"lr": 0.1}) == fingerprint(torch.ones(2), {"lr": 0.1})
    True
    >>> fingerprint(torch.ones(2)) == fingerprint(torch.zeros(2))
    False
    """
    h = hashlib.sha256()
    for obj in objs:
        _update(h, obj)
    return h.hexdigest()


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _modules(args: tuple, kwargs: dict) -> dict[str, nn.Module]:
    found = {f"arg{i}": a for i, a in enumerate(args) if isinstance(a, nn.Module)}
    found.update({f"kw:{k}": v for k, v in kwargs.items() if isinstance(v, nn.Module)})
    return found


def _replay(path: Path, modules: dict[str, nn.Module]) -> tuple[bool, Any]:
    """Load a stored run into ``modules`` and the random state, and return ``(True, its result)``;
    ``(False, None)``, with nothing changed, if the file does not fit. ``.xz`` files are lzma-compressed."""
    try:
        raw = path.read_bytes()
        stored = torch.load(io.BytesIO(lzma.decompress(raw) if path.suffix == ".xz" else raw), weights_only=False)
        if set(stored["modules"]) != set(modules):
            return False, None
        backup = {n: {k: v.clone() for k, v in m.state_dict().items()} for n, m in modules.items()}
        try:
            for name, state in stored["modules"].items():
                modules[name].load_state_dict(state)
        except Exception:
            for name, state in backup.items():            # leave the caller's models as they were
                modules[name].load_state_dict(state)
            raise
    except Exception:  # noqa: BLE001 - a cut, stale or foreign file: train again (and overwrite it)
        return False, None
    for name, flags in stored["training"].items():
        for sub, flag in zip(modules[name].modules(), flags):
            sub.training = flag
    _set_rng_state(stored["rng"])
    return True, stored["result"]


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)                                       # never a half-written replay


def _keys(fn: Callable, args: tuple, kwargs: dict) -> tuple[str, str]:
    """The local key (all of the workbench's code, the torch version) and the shipped key (the
    function's own module only), both over the arguments, the random state and the thread count."""
    call = fingerprint(args, kwargs, torch.get_rng_state(), np.random.get_state()[1].tobytes(),
                       random.getstate()[1], torch.get_num_threads())        # hashed once: the data is large
    name = f"{fn.__module__}.{fn.__qualname__}"
    source = Path(inspect.getsourcefile(fn) or "")
    own = source.read_bytes() if source.is_file() else b""
    return fingerprint(name, _source_hash(), call), fingerprint(name, own, call)


def replayable(fn: F) -> F:
    """Wrap ``fn`` (a training function) so that identical calls replay its first run; see the module doc."""
    if not callable(fn):
        raise TypeError(f"fn must be a function to wrap, got {type(fn).__name__}")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not enabled():
            return fn(*args, **kwargs)
        try:
            key, shipped_key = _keys(fn, args, kwargs)
        except Unfingerprintable:
            return fn(*args, **kwargs)
        path = cache_dir() / f"{fn.__name__}-{key[:32]}.pt"
        shipped = SHIPPED / f"{fn.__name__}-{shipped_key[:32]}.pt.xz"
        modules = _modules(args, kwargs)
        for source, what in ((path, "an identical earlier run on this machine"),
                             (shipped, "the course's stored run (data/replays)")):
            replayed, result = _replay(source, modules) if source.exists() else (False, None)
            if replayed:
                print(f"(replayed {fn.__name__} from {what}; set WORKBENCH_CACHE=off to train again)")
                return result
        outermost = not _RUNNING
        _RUNNING.append(fn.__name__)
        try:
            result = fn(*args, **kwargs)
        finally:
            _RUNNING.pop()
        buffer = io.BytesIO()
        try:
            torch.save({"result": result, "rng": _rng_state(),
                        "modules": {n: m.state_dict() for n, m in modules.items()},
                        "training": {n: [sub.training for sub in m.modules()] for n, m in modules.items()}}, buffer)
            _write(path, buffer.getvalue())
            if os.environ.get(SHIP_ENV) and outermost:      # tools/lectures.py ship; a nested run is inside
                _write(Path(os.environ[SHIP_ENV]) / shipped.name, lzma.compress(buffer.getvalue()))
        except Exception:  # noqa: BLE001 - a result that cannot be stored (or a read-only disk) just is not replayed
            pass
        return result

    return wrapper  # type: ignore[return-value]
