"""Pure functions on singular values: energy, the rank that keeps it, the break-even rank, the error.

A weight matrix ``W`` (m x n) factors as ``U diag(s) Vh``. Keeping the ``r`` largest
singular values gives the best rank-``r`` approximation in the Frobenius norm
(Eckart & Young 1936), and its error is exactly the root of the discarded ``s_i**2``::

    >>> W = torch.randn(30, 20, generator=torch.Generator().manual_seed(0))
    >>> s = torch.linalg.svdvals(W)
    >>> err = (W - truncated(W, 5)).norm()
    >>> bool(torch.isclose(err, truncation_error(s, 5), rtol=1e-4))
    True

Conv kernels (C_out, C_in, kh, kw) have several matrix views (``unfold``): the
kernel as one row per filter, or per input channel (Tucker's modes), or arranged
(C_in·kh, C_out·kw) for spatially separable filters (Jaderberg et al. 2014).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._checks import check_int, check_number, checked


def _check_values(s: Tensor) -> Tensor:
    if not isinstance(s, Tensor) or s.ndim != 1 or s.numel() == 0:
        raise ValueError(f"s must be a non-empty 1-D tensor of singular values, got "
                         f"{tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__}")
    return s


def check_rank(rank: int, full: int, name: str = "rank") -> int:
    """``rank`` if it is an integer in [1, full]; the error names ``name`` and the range."""
    return check_int(name, rank, 1, full)


@checked
def energy(s: Tensor) -> Tensor:
    """Fraction of the squared Frobenius norm kept by the first r values, for r = 1..len(s).

    >>> [round(e, 3) for e in energy(torch.tensor([3.0, 1.0])).tolist()]
    [0.9, 1.0]
    """
    s2 = _check_values(s).double() ** 2
    return (torch.cumsum(s2, 0) / s2.sum()).float()


@checked
def rank_for_energy(s: Tensor, fraction: float) -> int:
    """The smallest rank whose singular values keep at least ``fraction`` of the energy.

    >>> rank_for_energy(torch.tensor([3.0, 1.0, 0.5]), 0.85)
    1
    """
    check_number("fraction (the share of energy to keep)", fraction, 0.0, 1.0, low_inclusive=False)
    kept = energy(s).double()
    # a tolerance so that fraction=1.0 is reached despite rounding in the cumulative sum
    return int(torch.searchsorted(kept, torch.tensor([fraction - 1e-9], dtype=kept.dtype)).item()) + 1


def break_even_rank(m: int, n: int) -> float:
    """``m·n / (m + n)``: below it two thin factors (m x r, r x n) hold fewer parameters than W.

    >>> round(break_even_rank(784, 300), 1)
    217.0
    """
    check_int("m", m, 1)
    check_int("n", n, 1)
    return m * n / (m + n)


def factored_params(m: int, n: int, rank: int) -> int:
    """Parameters of the two factors of rank ``rank`` of an m x n matrix (biases not counted).

    >>> factored_params(784, 300, 50)
    54200
    """
    check_int("m", m, 1)
    check_int("n", n, 1)
    check_rank(rank, min(m, n))
    return rank * (m + n)


@checked
def truncation_error(s: Tensor, rank: int) -> Tensor:
    """Frobenius error of the best rank-``rank`` approximation: sqrt(sum of the discarded s_i²).

    >>> float(truncation_error(torch.tensor([4.0, 3.0, 0.0]), 1))    # sqrt(3² + 0²)
    3.0
    """
    s = _check_values(s)
    check_int("rank", rank, 0, s.numel())
    return torch.sqrt((torch.sort(s, descending=True).values[rank:].double() ** 2).sum()).to(s.dtype)


@checked
def truncated(W: Tensor, rank: int) -> Tensor:
    """The best rank-``rank`` approximation of a matrix (Eckart–Young), via ``torch.linalg.svd``.

    >>> torch.linalg.matrix_rank(truncated(torch.randn(6, 4), 2)).item()
    2
    """
    if not isinstance(W, Tensor) or W.ndim != 2:
        raise ValueError(f"W must be a matrix (2-D tensor), got shape "
                         f"{tuple(W.shape) if isinstance(W, Tensor) else type(W).__name__}")
    check_rank(rank, min(W.shape))
    U, s, Vh = torch.linalg.svd(W, full_matrices=False)
    return (U[:, :rank] * s[:rank]) @ Vh[:rank]


def unfold(kernel: Tensor, mode: int | str) -> Tensor:
    """A matrix view of a conv kernel (C_out, C_in, kh, kw).

    ``mode`` 0 (one row per filter), 1 (one row per input channel) — the unfoldings
    Tucker-2 decomposes — or ``"spatial"``: rows (C_in, kh), columns (C_out, kw), the
    matrix whose rank-r SVD gives r vertical k×1 and r horizontal 1×k filters.

    >>> unfold(torch.zeros(16, 6, 5, 5), "spatial").shape
    torch.Size([30, 80])
    """
    if not isinstance(kernel, Tensor) or kernel.ndim != 4:
        raise ValueError("kernel must be a conv kernel of shape (C_out, C_in, kh, kw)")
    if mode == "spatial":
        c_out, c_in, kh, kw = kernel.shape
        return kernel.permute(1, 2, 0, 3).reshape(c_in * kh, c_out * kw)
    check_int("mode", mode, 0, 3)
    return torch.movedim(kernel, mode, 0).reshape(kernel.shape[mode], -1)


@checked
def relative_error(approx: Tensor, exact: Tensor) -> float:
    """‖approx − exact‖ / ‖exact‖ (Frobenius), a float.

    >>> relative_error(torch.ones(4), 2 * torch.ones(4))
    0.5
    """
    if approx.shape != exact.shape:
        raise ValueError(f"approx has shape {tuple(approx.shape)}, exact has {tuple(exact.shape)}")
    den = exact.double().norm().item()
    return (approx.double() - exact.double()).norm().item() / den if den else math.inf
