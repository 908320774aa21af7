"""The decompositions themselves, on tensors: SVD (PyTorch), Tucker-2 and CP (TensorLy).

Pure functions: a weight in, factors out, and the reconstruction that checks them::

    >>> K = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    >>> core, (U_out, U_in) = tucker2(K, (8, 4))            # full ranks: exact
    >>> relative_error(tucker2_to_kernel(core, (U_out, U_in)), K) < 1e-5
    True

TensorLy runs on PyTorch tensors (``tl.set_backend("pytorch")``); its PyTorch
backend needs the ``packaging`` package, which TensorLy does not declare.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .._checks import check_int, checked
from .spectra import check_rank, relative_error, unfold

__all__ = ["cp", "cp_to_kernel", "relative_error", "svd", "tucker2", "tucker2_to_kernel"]


def _tensorly():
    import tensorly as tl

    tl.set_backend("pytorch")
    return tl


@checked
def svd(W: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Thin SVD ``(U, s, Vh)`` of a matrix, in float64 for exact identities, returned as W's dtype.

    One SVD serves every rank: the rank-r factors are ``U[:, :r]``, ``s[:r]``, ``Vh[:r]``.

    >>> U, s, Vh = svd(torch.eye(3))
    >>> s.tolist()
    [1.0, 1.0, 1.0]
    """
    if not isinstance(W, Tensor) or W.ndim != 2:
        raise ValueError("W must be a matrix (2-D tensor)")
    U, s, Vh = torch.linalg.svd(W.detach().double(), full_matrices=False)
    return U.to(W.dtype), s.to(W.dtype), Vh.to(W.dtype)


def _check_kernel(kernel: Tensor) -> Tensor:
    if not isinstance(kernel, Tensor) or kernel.ndim != 4:
        raise ValueError("kernel must be a conv kernel of shape (C_out, C_in, kh, kw)")
    return kernel.detach()


@checked
def tucker2(kernel: Tensor, ranks: Sequence[int], *, n_iter_max: int = 10) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Tucker-2 of a conv kernel along its two channel modes (Kim et al. 2016), by TensorLy.

    ``ranks = (r_out, r_in)``. Returns ``core`` (r_out, r_in, kh, kw) and the factors
    ``U_out`` (C_out, r_out), ``U_in`` (C_in, r_in) with
    ``K[o, i] = Σ U_out[o, a] core[a, b] U_in[i, b]``. TensorLy's ``partial_tucker``
    starts from the truncated HOSVD and refines it by alternating (HOOI).
    """
    from tensorly.decomposition import partial_tucker

    kernel = _check_kernel(kernel)
    if len(ranks) != 2:
        raise ValueError(f"ranks must be (r_out, r_in), got {tuple(ranks)}")
    r_out = check_rank(ranks[0], kernel.shape[0], "ranks")
    r_in = check_rank(ranks[1], kernel.shape[1], "ranks")
    check_int("n_iter_max", n_iter_max, 0)
    _tensorly()
    (core, (U_out, U_in)), _ = partial_tucker(kernel, rank=[r_out, r_in], modes=[0, 1], init="svd",
                                              n_iter_max=n_iter_max)
    return core.contiguous(), (U_out.contiguous(), U_in.contiguous())


@checked(ndim={"core": 4})
def tucker2_to_kernel(core: Tensor, factors: tuple[Tensor, Tensor]) -> Tensor:
    """The kernel a Tucker-2 decomposition stands for (TensorLy's ``multi_mode_dot``)."""
    tl = _tensorly()
    return tl.tenalg.multi_mode_dot(core, list(factors), modes=[0, 1])


@checked
def cp(kernel: Tensor, rank: int, *, n_iter_max: int = 100, seed: int = 0) -> tuple[Tensor, list[Tensor]]:
    """CP (CANDECOMP/PARAFAC) of a conv kernel into ``rank`` rank-one terms (Lebedev et al. 2015).

    Returns ``(weights, [A (C_out, R), B (C_in, R), V (kh, R), H (kw, R)])`` with
    ``K[o, i, y, x] = Σ_r weights[r] A[o, r] B[i, r] V[y, r] H[x, r]``, fitted by
    TensorLy's alternating least squares from a seeded random start. Unlike SVD and
    Tucker, CP has no closed form: each rank is a separate, iterative fit, and CP
    may need a rank larger than any side of the kernel to be exact.

    >>> w, fs = cp(torch.randn(4, 3, 3, 3), 2)
    >>> [tuple(f.shape) for f in fs]
    [(4, 2), (3, 2), (3, 2), (3, 2)]
    """
    from tensorly.decomposition import parafac

    kernel = _check_kernel(kernel)
    check_int("rank", rank, 1, 4096)
    check_int("n_iter_max", n_iter_max, 1)
    _tensorly()
    weights, factors = parafac(kernel, rank=rank, init="random", n_iter_max=n_iter_max, tol=1e-7,
                               random_state=seed)
    return weights, [f.contiguous() for f in factors]


@checked(ndim={"weights": 1})
def cp_to_kernel(weights: Tensor, factors: Sequence[Tensor]) -> Tensor:
    """The kernel a CP decomposition stands for (TensorLy's ``cp_to_tensor``)."""
    tl = _tensorly()
    return tl.cp_to_tensor((weights, list(factors)))


def spatial_svd(kernel: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """SVD of the kernel arranged (C_in·kh, C_out·kw): the factors of spatially separable filters.

    >>> U, s, Vh = spatial_svd(torch.randn(16, 6, 5, 5))
    >>> s.shape
    torch.Size([30])
    """
    return svd(unfold(_check_kernel(kernel), "spatial"))
