"""Small measurements the notebook makes: initializations, the rate formula, fillers, HashedNets.

    >>> round(compression_rate(n=1000, bits=32, k=16), 2)
    7.09
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils import parametrize

from .._checks import check_choice, check_int, checked
from ..encodings import CODECS
from ..pruning.groups import weight_layers
from ..train import evaluate
from ..weights import deep_copy, plain_copy
from .kmeans import INITS
from .shared import SharedWeight, share_weights
from .storage import relative_indices


@checked(bits=(1, 32))
def compression_rate(n: int, bits: int, k: int) -> float:
    """Han et al. (2016)'s rate for ``n`` weights of ``bits`` bits shared by ``k`` centroids.

    ``r = n·b / (n·log2 k + k·b)``: the indices cost ``log2 k`` bits each, the codebook ``k·b``.
    """
    check_int("n", n, 1)
    check_int("bits", bits, 1, 64)
    check_int("k", k, 1)
    return n * bits / (n * math.log2(k) + k * bits) if k > 1 else n * bits / (k * bits)


@checked
def rate_check(weight: torch.Tensor, bits_list: Sequence[int] = (2, 3, 4, 5, 6, 8)) -> pd.DataFrame:
    """The formula against the measured bytes of the ``codebook`` codec on one tensor, per bit width."""
    rows = {}
    for b in bits_list:
        _, payload = CODECS["codebook"].encode(weight.detach(), bits=b)
        rows[b] = {"k": 2**b, "formula ratio": compression_rate(weight.numel(), 32, 2**b),
                   "measured ratio": 4 * weight.numel() / len(payload), "payload bytes": len(payload)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("bits")


@checked
def compare_inits(model: nn.Module, data, bits_list: Sequence[int] = (2, 3, 4), *, split: str = "val") -> pd.DataFrame:
    """Accuracy after sharing every layer at each bit width with each initialization (no fine-tuning)."""
    check_choice("split", split, ("val", "test"))
    X, y = (data.X_val, data.y_val) if split == "val" else (data.X_test, data.y_test)
    rows = {}
    for init in INITS:
        rows[init] = {f"{b} bits": evaluate(plain_copy(share_weights(deep_copy(model), b, b, init)), X, y)
                      for b in bits_list}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("initialization")


@checked
def filler_table(model: nn.Module, widths: Sequence[int] = (2, 3, 4, 5, 6, 8)) -> pd.DataFrame:
    """Per index width: non-zeros, filler entries added, and index bits per non-zero (fixed width)."""
    rows = {}
    pos = [np.flatnonzero(l.weight.detach().reshape(-1).numpy()) for l in weight_layers(model).values()]
    nnz = sum(p.size for p in pos)
    for w in widths:
        fill = sum(int(relative_indices(p, w)[1].sum()) for p in pos)
        rows[w] = {"non-zeros": nnz, "fillers": fill, "fillers %": 100 * fill / max(nnz, 1),
                   "index bits per non-zero": w * (nnz + fill) / max(nnz, 1)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("index bits")


@checked
def hash_share(model: nn.Module, bits: int, *, seed: int = 0) -> nn.Module:
    """HashedNets-style sharing (Chen et al. 2015): a fixed hash of each position picks its shared value.

    The non-zeros of each layer go to ``2**bits - 1`` buckets by a seeded random hash
    (zeros keep 0); each bucket starts at the mean of its weights. The assignment is
    not learned, so it needs no stored index — but it ignores the weights' values.
    Returns ``model`` with :class:`SharedWeight` parametrizations (fine-tune them like k-means ones).
    """
    check_int("bits", bits, 1, 16)
    k = 2**bits - 1
    for i, layer in enumerate(weight_layers(model).values()):
        w = layer.weight.detach().reshape(-1).numpy()
        bucket = np.random.default_rng([seed, i]).integers(1, k + 1, size=w.size)   # the "hash" of each position
        bucket[w == 0] = 0
        sums = np.bincount(bucket, weights=w, minlength=k + 1)
        counts = np.maximum(np.bincount(bucket, minlength=k + 1), 1)
        book = (sums / counts).astype(np.float32)
        book[0] = 0.0
        parametrize.register_parametrization(layer, "weight",
                                             SharedWeight(book, bucket.reshape(layer.weight.shape)), unsafe=True)
    return model


@checked(bits=(1, 32))
def compare_rules(model: nn.Module, data, *, bits: int = 3, num_epochs: int = 1, lr: float = 1e-3) -> pd.Series:
    """Validation accuracy of ``model`` shared at ``bits`` (every layer): untrained, and after each update rule."""
    from .shared import RULES, fine_tune_centroids

    shared = share_weights(deep_copy(model), bits, bits)
    out = {"no fine-tuning": evaluate(plain_copy(shared), data.X_val, data.y_val)}
    for rule in RULES:
        tuned = fine_tune_centroids(deep_copy(shared), data, rule=rule, num_epochs=num_epochs, lr=lr)
        out[f"rule: {rule}"] = evaluate(tuned, data.X_val, data.y_val)
    return pd.Series(out, name=f"val accuracy, {bits} bits")


@checked(bits=(1, 32))
def compare_hashing(model: nn.Module, data, *, bits: int = 3, num_epochs: int = 1, lr: float = 1e-3) -> pd.DataFrame:
    """k-means against hashed assignment (HashedNets) at the same codebook size, before and after fine-tuning."""
    from .shared import fine_tune_centroids

    rows = {}
    for label, make in (("k-means", lambda m: share_weights(m, bits, bits)), ("hash", lambda m: hash_share(m, bits))):
        shared = make(deep_copy(model))
        tuned = fine_tune_centroids(deep_copy(shared), data, num_epochs=num_epochs, lr=lr)
        rows[label] = {"before fine-tuning": evaluate(plain_copy(shared), data.X_val, data.y_val),
                       "after fine-tuning": evaluate(tuned, data.X_val, data.y_val)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(f"assignment ({bits} bits)")
