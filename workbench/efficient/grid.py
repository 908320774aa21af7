"""The α × resolution grid of trained separable networks, and the notebook's other designs: trained once, stored.

    python -m workbench.efficient.grid          # retrains everything (a few minutes, one thread)

Training sixteen networks (plus the shuffle, fire and standard ones of ``DESIGNS``)
does not fit a notebook's minute, so this script trains them once, deterministically
(seeded, one thread, the recipes below), and stores the weights in half precision in
``data/efficient/grid-<dataset>.safetensors`` and ``designs-<dataset>.safetensors``: one
flat vector per network, rebuilt into ``build_net(...)`` by shape. Every accuracy
shown from them is measured again, live, on these stored weights.

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
from ..paths import REPO_ROOT
from ..train import train
from .nets import TinyNet, build_net

ALPHAS = (0.25, 0.5, 0.75, 1.0)
RESOLUTIONS = (16, 20, 24, 28)         # rho = 4/7, 5/7, 6/7, 1 (MobileNet: 128, 160, 192, 224 px)
BLOCK = "separable"


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
            out[spec] = unflatten(build_net(*spec[:3], seed=None), f.get_tensor(key).float())
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
              recipe: Recipe = RECIPE) -> int:
    """Store the grid in half precision; returns the file's size in bytes."""
    from safetensors.torch import save_file

    path = Path(path or grid_path())
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {_key(a, r): flatten(net).half() for (a, r), net in grid.items()}
    meta = {k: str(v) for k, v in asdict(recipe).items()}
    save_file(tensors, str(path), metadata={"block": BLOCK, "dtype": "float16", **meta})
    return path.stat().st_size


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
            out[(a, r)] = unflatten(build_net(BLOCK, a, r, seed=None), f.get_tensor(key).float())
    return dict(sorted(out.items()))


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m workbench.efficient.grid [dataset] [resolution ... | design index ...]``.

    Training parts in separate processes (a resolution of the grid, or ``d0`` ... for
    an entry of ``DESIGNS``), then once more with no part to collect them, gives the
    same networks: each is seeded on its own.
    """
    import sys

    from safetensors.torch import save_file

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
    for name, part in parts.items():
        if part.exists():
            stored.update(torch.load(part))
        elif name.startswith("d"):
            spec = DESIGNS[int(name[1:])]
            stored[spec] = flatten(train_design(ds, spec))
        elif not any(k[1] == int(name) for k in stored if len(k) == 2):
            stored.update({k: flatten(n) for k, n in train_grid(ds, ALPHAS, (int(name),)).items()})
    grid = {k: unflatten(build_net(BLOCK, *k, seed=None), v) for k, v in stored.items() if len(k) == 2}
    size = save_grid(grid, path)
    designs = {_design_key(*k): v.half() for k, v in stored.items() if len(k) == 5}
    save_file(designs, str(designs_path(ds.name)), metadata={"dtype": "float16", "lr": str(RECIPE.lr),
                                                             "batch_size": str(RECIPE.batch_size)})
    for part in parts.values():
        part.unlink(missing_ok=True)
    print(f"stored {len(grid)} grid networks in {path.name}: {size:,} bytes; {len(designs)} designs in "
          f"{designs_path(ds.name).name}: {designs_path(ds.name).stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
