"""Weight sharing by 1-D k-means: centroid initializations and per-tensor clustering.

Han et al. (2016) cluster the weights of each layer with k-means and store one
index per weight into a small codebook of centroids. How the centroids start
matters, and they compared three ways (``INITS``):

- ``linear``: evenly spaced between the smallest and the largest weight — keeps
  centroids out where the few large (important) weights are;
- ``density``: evenly spaced on the y-axis of the weights' CDF (quantiles) —
  crowds the centroids near zero, where most weights are;
- ``random``: k weights drawn at random (Forgy) — also crowds them near zero.

    >>> import numpy as np
    >>> init_centroids(np.array([-1.0, 0.0, 0.1, 0.2, 3.0]), 3, "linear").tolist()
    [-1.0, 1.0, 3.0]

Pruned weights (exact zeros) are not clustered: zero stays a value of its own, so
a layer with zeros spends one of its ``2**bits`` codebook entries on it.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_choice, check_int, checked

INITS = ("linear", "density", "random")
MAX_FIT = 4_096           # k-means fits on at most this many weights (a seeded sample), then assigns all


@checked
def init_centroids(values: np.ndarray, k: int, init: str = "linear", *, seed: int = 0) -> np.ndarray:
    """``k`` starting centroids for ``values`` by ``init`` (``linear``, ``density`` or ``random``), sorted.

    >>> init_centroids(np.arange(101.0), 3, "density").tolist()
    [0.0, 50.0, 100.0]
    """
    check_choice("init", init, INITS, what="initialization")
    check_int("k", k, 1)
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("values must hold at least one weight")
    if init == "linear":
        out = np.linspace(values.min(), values.max(), k)
    elif init == "density":
        out = np.quantile(values, np.linspace(0.0, 1.0, k))
    else:
        rng = np.random.default_rng(seed)
        out = rng.choice(values, size=k, replace=values.size < k)
    return np.sort(out)


def assign(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (centroids sorted ascending) for every value.

    >>> assign(np.array([0.1, 0.9, 0.4]), np.array([0.0, 1.0])).tolist()
    [0, 1, 0]
    """
    centroids = np.asarray(centroids, dtype=np.float64)
    mids = (centroids[1:] + centroids[:-1]) / 2
    return np.searchsorted(mids, np.asarray(values, dtype=np.float64).ravel(), side="left")


@checked
def kmeans_1d(values: np.ndarray, k: int, init: str = "linear", *, seed: int = 0,
              max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn ``KMeans`` on a 1-D array: ``(sorted centroids, labels)``.

    With ``k`` at least the number of distinct values the result is exact (the
    centroids are the distinct values). One run (``n_init=1``) from ``init``; the
    fit uses at most ``MAX_FIT`` weights (a seeded sample), then every weight goes
    to its nearest centroid.

    >>> c, labels = kmeans_1d(np.array([1.0, 1.0, 5.0, 5.0, 9.0]), 3)
    >>> c.tolist(), labels.tolist()
    ([1.0, 5.0, 9.0], [0, 0, 1, 1, 2])
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    check_int("k", k, 1)
    check_choice("init", init, INITS, what="initialization")
    values = np.asarray(values, dtype=np.float64).ravel()
    distinct = np.unique(values)
    if len(distinct) <= k:
        return distinct.astype(np.float32), np.searchsorted(distinct, values)
    fit = values
    if values.size > MAX_FIT:
        fit = np.random.default_rng(seed).choice(values, MAX_FIT, replace=False)
    start = init_centroids(fit, k, init, seed=seed)
    if len(np.unique(start)) < k:                     # duplicate starts (ties): nudge them apart
        start = start + np.arange(k) * 1e-9 * max(1.0, float(np.abs(start).max()))
    with threadpool_limits(1):                        # one thread: 1-D fits are too small to share out
        km = KMeans(n_clusters=k, init=start.reshape(-1, 1), n_init=1, max_iter=max_iter,
                    random_state=seed).fit(fit.reshape(-1, 1))
    centroids = np.sort(km.cluster_centers_.ravel()).astype(np.float32)
    return centroids, assign(values, centroids)


@checked
def share(weights: np.ndarray, bits: int, init: str = "linear", *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cluster one tensor's weights into at most ``2**bits`` shared values: ``(codebook, index)``.

    Zeros (pruned weights) keep the value 0, which takes one codebook entry; the
    other weights share ``2**bits - 1`` centroids (all ``2**bits`` if there is no zero).
    ``codebook[index]`` has the shape of ``weights``.

    >>> book, idx = share(np.array([0.0, 0.5, 0.52, -1.0, 2.0, 0.0]), bits=2)
    >>> [round(float(v), 2) for v in book[idx]]
    [0.0, 0.51, 0.51, -1.0, 2.0, 0.0]
    """
    check_int("bits", bits, 1, 16)
    check_choice("init", init, INITS, what="initialization")
    w = np.asarray(weights, dtype=np.float32)
    flat = w.ravel()
    nz = flat != 0
    has_zero = not nz.all()
    k = 2**bits - int(has_zero)
    book = np.zeros(0, np.float32)
    if nz.any():
        book, _ = kmeans_1d(flat[nz], k, init, seed=seed)
    if has_zero:
        book = np.concatenate([book, np.zeros(1, np.float32)])
    book = np.sort(book)
    index = np.empty(flat.size, dtype=np.int64)
    index[~nz] = int(np.searchsorted(book, 0.0)) if has_zero else 0
    if nz.any():
        index[nz] = assign(flat[nz], book[book != 0] if has_zero else book)
        if has_zero:                                  # shift past the zero entry
            zero_at = int(np.searchsorted(book, 0.0))
            index[nz] += (index[nz] >= zero_at)
    return book, index.reshape(w.shape)
