"""The α × resolution grid of trained separable networks, and the notebook's other designs: trained once, stored.

    python -m workbench.efficient.grid          # retrains everything (a few minutes, one thread)

Training sixteen networks (plus the shuffle, fire and standard ones of ``DESIGNS``)
does not fit a notebook's minute, so this script trains them once, deterministically
(seeded, one thread, the recipes below), and stores each network as a blob of the
workbench's own encodings (``STORE_ENCODING``: weights of at least ``INT8_MIN`` values in
per-channel int8, every other float in fp16) in ``data/efficient/grid-<dataset>.safetensors``
and ``designs-<dataset>.safetensors``. The file also records each network's test accuracy
before and after storing (``recorded_accuracy``); every accuracy the notebook shows is
measured again, live, on the stored weights.

    >>> grid = load_grid()
    >>> sorted({a for a, r in grid})
    [0.25, 0.5, 0.75, 1.0]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .._checks import check_choice, check_int, check_number, checked
from ..data import DATASETS
from ..encodings import decode, encode, register_encoding
from ..paths import REPO_ROOT
from ..train import evaluate, train
from .nets import TinyNet, build_net

ALPHAS = (0.25, 0.5, 0.75, 1.0)
RESOLUTIONS = (16, 20, 24, 28)         # rho = 4/7, 5/7, 6/7, 1 (MobileNet: 128, 160, 192, 224 px)
BLOCK = "separable"
INT8_MIN = 4096                        # weights this large are stored in per-channel int8, the rest in fp16
STORE_ENCODING = "fp16_int8_large"
register_encoding(STORE_ENCODING, lambda name, t: ("int8" if t.ndim >= 2 and t.numel() >= INT8_MIN else "fp16")
                  if t.is_floating_point() and t.numel() else "raw")


@dataclass(frozen=True)
class Recipe:
    """How every grid network (and every "train this setting") is trained: Adam, cosine, seeded."""

    num_epochs: int = 10        # passes over the 3,500 training digits
    lr: float = 1e-2            # depthwise nets with BatchNorm take a high rate well
    batch_size: int = 64
    seed: int = 0               # data order and initial weights


RECIPE = Recipe()
SHORT = Recipe(num_epochs=6)    # the notebook's quick experiments (shuffle seeds, other blocks)


# the other designs of the notebook, trained by the same script: (block, alpha, resolution, seed, epochs)
DESIGNS = tuple((b, 0.5, 20, seed, SHORT.num_epochs) for b in ("shuffle", "noshuffle") for seed in (0, 1, 2)) + (
    ("fire", 1.0, 28, 0, RECIPE.num_epochs), ("standard", 1.0, 28, 0, RECIPE.num_epochs))


def designs_path(dataset: str = "digits") -> Path:
    """Where the stored shuffle, fire and standard networks for ``dataset`` live."""
    return REPO_ROOT / "data" / "efficient" / f"designs-{dataset}.safetensors"


def _design_key(block: str, alpha: float, resolution: int, seed: int, epochs: int) -> str:
    return f"block={block},alpha={alpha:g},resolution={resolution},seed={seed},epochs={epochs}"


def train_design(data, spec: tuple) -> TinyNet:
    """Train one entry of ``DESIGNS``: (block, alpha, resolution, seed, epochs)."""
    block, alpha, resolution, seed, epochs = spec
    return train_net(data, block, alpha, resolution, recipe=Recipe(num_epochs=epochs, seed=seed))


@checked
def load_designs(dataset: str = "digits") -> dict[tuple, TinyNet]:
    """The stored designs: ``{(block, alpha, resolution, seed): trained TinyNet}`` (epochs as in ``DESIGNS``).

    >>> sorted({k[0] for k in load_designs()})
    ['fire', 'noshuffle', 'shuffle', 'standard']
    """
    from safetensors import safe_open

    check_choice("dataset", dataset, DATASETS)
    path = designs_path(dataset)
    if not path.exists():
        raise FileNotFoundError(f"no stored designs for {dataset} ({path.name}); "
                                f"run: python -m workbench.efficient.grid {dataset}")
    out = {}
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():
            p = dict(kv.split("=") for kv in key.split(","))
            spec = (p["block"], float(p["alpha"]), int(p["resolution"]), int(p["seed"]))
            out[spec] = unpack(build_net(*spec[:3], seed=None), f.get_tensor(key))
    return dict(sorted(out.items()))


def grid_path(dataset: str = "digits") -> Path:
    """Where the stored grid for ``dataset`` lives (committed with the code, so not under WORKBENCH_DATA_DIR)."""
    return REPO_ROOT / "data" / "efficient" / f"grid-{dataset}.safetensors"


def _key(alpha: float, resolution: int) -> str:
    return f"alpha={alpha:g},resolution={resolution}"


def _state_tensors(net: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """Every float tensor of the state dict (BatchNorm's step counters are not needed to predict)."""
    return [(k, v) for k, v in net.state_dict().items() if v.is_floating_point()]


def flatten(net: nn.Module) -> torch.Tensor:
    """The network's float state as one vector (parameters and BatchNorm statistics)."""
    return torch.cat([v.reshape(-1) for _, v in _state_tensors(net)])


def unflatten(net: nn.Module, vector: torch.Tensor) -> nn.Module:
    """Load a vector made by :func:`flatten` back into a network of the same architecture."""
    tensors = _state_tensors(net)
    total = sum(v.numel() for _, v in tensors)
    if vector.numel() != total:
        raise ValueError(f"vector must hold {total} values for this architecture, got {vector.numel()}")
    state, start = {}, 0
    for k, v in tensors:
        state[k] = vector[start:start + v.numel()].view_as(v).to(v.dtype)
        start += v.numel()
    net.load_state_dict(state, strict=False)
    return net.eval()


def pack(net: nn.Module) -> torch.Tensor:
    """The network's float state encoded with ``STORE_ENCODING``, as a uint8 tensor (safetensors stores tensors)."""
    return torch.frombuffer(bytearray(encode(dict(_state_tensors(net)), STORE_ENCODING)), dtype=torch.uint8)


def unpack(net: nn.Module, blob: torch.Tensor) -> nn.Module:
    """Load a tensor made by :func:`pack` into a network of the same architecture (in float32, eval mode)."""
    state = {k: v.float() for k, v in decode(blob.numpy().tobytes()).items()}
    net.load_state_dict(state, strict=False)
    return net.eval()


def save_nets(nets: dict[str, nn.Module], path: Path, data=None, *, trained: dict[str, float] | None = None,
              **metadata: str) -> int:
    """Store ``{key: network}`` packed in one safetensors file; returns its size in bytes.

    With ``data``, the file records each network's test accuracy as trained and as
    stored (decoded from its blob): ``recorded_accuracy`` reads them back. ``trained``
    gives the accuracy as trained of networks that were reloaded from a stored file.
    """
    trained = trained or {}
    import copy
    import json

    from safetensors.torch import save_file

    tensors = {key: pack(net) for key, net in nets.items()}
    if data is not None:
        acc = {key: {"trained": trained.get(key, evaluate(net, data.X_test, data.y_test)),
                     "stored": evaluate(unpack(copy.deepcopy(net), tensors[key]), data.X_test, data.y_test)}
               for key, net in nets.items()}
        metadata["test_acc"] = json.dumps(acc)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"encoding": STORE_ENCODING, **metadata})
    return path.stat().st_size


def recorded_accuracy(path: Path) -> dict[str, dict[str, float]]:
    """``{key: {"trained": test_acc, "stored": test_acc}}`` as recorded by :func:`save_nets` (empty if none)."""
    import json

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("test_acc", "{}"))


@checked
def train_net(data, block: str = BLOCK, alpha: float = 1.0, resolution: int = 28, *, recipe: Recipe = RECIPE,
              monitor=None, progress: bool = False) -> TinyNet:
    """Build and train one network with ``recipe`` (seeded: the same call gives the same network)."""
    net = build_net(block, alpha, resolution, seed=recipe.seed)
    train(net, data, num_epochs=recipe.num_epochs, lr=recipe.lr, batch_size=recipe.batch_size,
          schedule="cosine", seed=recipe.seed, progress=progress, monitor=monitor,
          desc=f"{block}, alpha={alpha:g}, resolution={resolution}")
    return net.eval()


def train_grid(data, alphas: Sequence[float] = ALPHAS, resolutions: Sequence[int] = RESOLUTIONS, *,
               recipe: Recipe = RECIPE) -> dict[tuple[float, int], TinyNet]:
    """Train every (α, resolution) pair of separable networks."""
    for a in alphas:
        check_number("alphas", a, 0.0, 4.0, low_inclusive=False)
    for r in resolutions:
        check_int("resolutions", r, 1)
    out = {}
    for a in alphas:
        for r in resolutions:
            start = time.perf_counter()
            out[(float(a), int(r))] = train_net(data, BLOCK, a, r, recipe=recipe)
            print(f"  alpha={a:g} resolution={r}: {time.perf_counter() - start:.1f} s", flush=True)
    return out


def save_grid(grid: dict[tuple[float, int], nn.Module], path: Path | None = None, *,
              recipe: Recipe = RECIPE, data=None, trained: dict[str, float] | None = None) -> int:
    """Store the grid (see :func:`save_nets`); returns the file's size in bytes."""
    meta = {k: str(v) for k, v in asdict(recipe).items()}
    return save_nets({_key(a, r): net for (a, r), net in grid.items()}, Path(path or grid_path()), data,
                     trained=trained, block=BLOCK, **meta)


@checked
def load_grid(dataset: str = "digits", path: Path | None = None) -> dict[tuple[float, int], TinyNet]:
    """The stored grid: ``{(alpha, resolution): trained TinyNet}`` (weights cast back to float32)."""
    from safetensors import safe_open

    check_choice("dataset", dataset, DATASETS)
    path = Path(path or grid_path(dataset))
    if not path.exists():
        raise FileNotFoundError(f"no stored grid for {dataset} ({path.name}); "
                                f"run: python -m workbench.efficient.grid {dataset}")
    out = {}
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():
            parts = dict(p.split("=") for p in key.split(","))
            a, r = float(parts["alpha"]), int(parts["resolution"])
            out[(a, r)] = unpack(build_net(BLOCK, a, r, seed=None), f.get_tensor(key))
    return dict(sorted(out.items()))


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m workbench.efficient.grid [dataset] [resolution ... | design index ...]``.

    Training parts in separate processes (a resolution of the grid, or ``d0`` ... for
    an entry of ``DESIGNS``), then once more with no part to collect them, gives the
    same networks: each is seeded on its own.
    """
    import sys

    from ..data import load
    from ..notebook import setup

    args = list(sys.argv[1:] if argv is None else argv)
    dataset = args[0] if args else "digits"
    only = args[1:]
    setup(seed=0, threads=1, quiet=True)     # one thread: the same floating-point sums every time
    ds = load(dataset)
    path = grid_path(ds.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = {str(r): path.with_suffix(f".part{r}") for r in RESOLUTIONS}
    parts.update({f"d{i}": path.with_suffix(f".partd{i}") for i in range(len(DESIGNS))})
    for part in only:
        if part.startswith("d"):
            spec = DESIGNS[int(part[1:])]
            torch.save({spec: flatten(train_design(ds, spec))}, parts[part])
        else:
            nets = train_grid(ds, ALPHAS, (int(part),))
            torch.save({k: flatten(n) for k, n in nets.items()}, parts[part])
    if only:
        return
    stored = {k: flatten(n) for k, n in load_grid(ds.name).items()} if path.exists() else {}
    kept = {_key(*k) for k in stored}                       # reloaded from the file, not retrained
    for name, part in parts.items():
        if part.exists():
            new = torch.load(part)
            stored.update(new)
            kept -= {_key(*k) for k in new if len(k) == 2}
        elif name.startswith("d"):
            spec = DESIGNS[int(name[1:])]
            stored[spec] = flatten(train_design(ds, spec))
        elif not any(k[1] == int(name) for k in stored if len(k) == 2):
            stored.update({k: flatten(n) for k, n in train_grid(ds, ALPHAS, (int(name),)).items()})
    grid = {k: unflatten(build_net(BLOCK, *k, seed=None), v) for k, v in stored.items() if len(k) == 2}
    trained = {k: acc["trained"] for k, acc in recorded_accuracy(path).items() if k in kept} if kept else {}
    size = save_grid(grid, path, data=ds, trained=trained)
    designs = {_design_key(*k): unflatten(build_net(*k[:3], seed=None), v) for k, v in stored.items() if len(k) == 5}
    save_nets(designs, designs_path(ds.name), ds, lr=str(RECIPE.lr), batch_size=str(RECIPE.batch_size))
    for part in parts.values():
        part.unlink(missing_ok=True)
    print(f"stored {len(grid)} grid networks in {path.name}: {size:,} bytes; {len(designs)} designs in "
          f"{designs_path(ds.name).name}: {designs_path(ds.name).stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
