"""Layer surgery: one Linear or Conv2d in, a chain of thinner layers out (a ``LowRank``).

Each builder takes the layer and a rank, and optionally factors already computed
(the explorer caches them: one SVD gives every rank). At full rank the chain
computes what the layer computed::

    >>> from torch import nn
    >>> fc = nn.Linear(20, 8)
    >>> two = svd_linear(fc, rank=8)
    >>> x = torch.randn(5, 20)
    >>> bool(torch.allclose(two(x), fc(x), atol=1e-5))
    True
    >>> two
    LowRank(method=svd, rank=8, 2 layers)

- ``svd_linear``: W ≈ (U√S)(√S Vh): Linear(n→r, no bias) then Linear(r→m) (Xue et al. 2013;
  Denton et al. 2014);
- ``spatial_conv``: r vertical k×1 filters then C_out horizontal 1×k ones (Jaderberg et al. 2014);
- ``tucker_conv``: 1×1 (C_in→r_in), k×k (r_in→r_out), 1×1 (r_out→C_out) (Kim et al. 2016);
- ``cp_conv``: 1×1 (C_in→R), depthwise k×1, depthwise 1×k, 1×1 (R→C_out) (Lebedev et al. 2015).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from . import decompositions as dec
from .._checks import check_int, checked
from .spectra import check_rank, unfold

METHOD_LAYERS = {"svd": nn.Linear, "spatial": nn.Conv2d, "cp": nn.Conv2d, "tucker": nn.Conv2d}


class LowRank(nn.Sequential):
    """A factorized layer: the thin layers in order, with the method and rank that made them."""

    def __init__(self, *layers: nn.Module, method: str, rank):
        super().__init__(*layers)
        self.method, self.rank = method, rank

    def __repr__(self) -> str:
        return f"LowRank(method={self.method}, rank={self.rank}, {len(self)} layers)"


def check_layer(layer: nn.Module, method: str) -> nn.Module:
    """``layer`` if ``method`` can factor it; otherwise a ValueError naming ``layer``.

    >>> check_layer(nn.Conv2d(3, 4, 1), "tucker")
    Traceback (most recent call last):
    ...
    ValueError: layer must be a Conv2d with a kernel larger than 1x1, groups=1, numeric zero padding for method 'tucker', got Conv2d(3, 4, kernel_size=(1, 1), stride=(1, 1))
    """
    if method not in METHOD_LAYERS:
        raise ValueError(f"unknown method {method!r}; method must be one of: {', '.join(METHOD_LAYERS)}")
    kind = METHOD_LAYERS[method]
    if kind is nn.Linear:
        if type(layer) is not nn.Linear:
            raise ValueError(f"layer must be an nn.Linear for method 'svd', got {type(layer).__name__}")
        return layer
    ok = (type(layer) is nn.Conv2d and layer.groups == 1 and layer.padding_mode == "zeros"
          and not isinstance(layer.padding, str) and layer.kernel_size != (1, 1))
    if not ok:
        raise ValueError(f"layer must be a Conv2d with a kernel larger than 1x1, groups=1, numeric zero padding "
                         f"for method {method!r}, got {layer!r}")
    return layer


def _bias(layer: nn.Module) -> Tensor | None:
    return None if layer.bias is None else layer.bias.detach().clone()


def _conv(weight: Tensor, *, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups=1) -> nn.Conv2d:
    c_out, c_in_per_group, kh, kw = weight.shape
    conv = nn.Conv2d(c_in_per_group * groups, c_out, (kh, kw), stride, padding, dilation, groups=groups,
                     bias=bias is not None)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(bias)
    return conv


def svd_linear(layer: nn.Linear, rank: int, factors: tuple[Tensor, Tensor, Tensor] | None = None) -> LowRank:
    """Two Linear layers of rank ``rank`` from the truncated SVD of ``layer.weight`` (m x n)."""
    check_layer(layer, "svd")
    W = layer.weight.detach()
    check_rank(rank, min(W.shape))
    U, s, Vh = factors if factors is not None else dec.svd(W)
    root = s[:rank].sqrt()
    first = nn.Linear(W.shape[1], rank, bias=False)
    second = nn.Linear(rank, W.shape[0], bias=layer.bias is not None)
    with torch.no_grad():
        first.weight.copy_(root[:, None] * Vh[:rank])          # (r, n)
        second.weight.copy_(U[:, :rank] * root)                # (m, r)
        if layer.bias is not None:
            second.bias.copy_(layer.bias)
    return LowRank(first, second, method="svd", rank=rank)


@checked
def spatial_conv(conv: nn.Conv2d, rank: int, factors: tuple[Tensor, Tensor, Tensor] | None = None) -> LowRank:
    """``rank`` vertical kh×1 filters, then C_out horizontal 1×kw filters (Jaderberg et al.'s scheme 2)."""
    check_layer(conv, "spatial")
    K = conv.weight.detach()
    c_out, c_in, kh, kw = K.shape
    check_rank(rank, min(c_in * kh, c_out * kw))
    U, s, Vh = factors if factors is not None else dec.svd(unfold(K, "spatial"))
    root = s[:rank].sqrt()
    vertical = (U[:, :rank] * root).T.reshape(rank, c_in, kh, 1)                        # (r, C_in, kh, 1)
    horizontal = (root[:, None] * Vh[:rank]).reshape(rank, c_out, kw).permute(1, 0, 2)  # (C_out, r, kw)
    (sh, sw), (ph, pw), (dh, dw) = conv.stride, conv.padding, conv.dilation
    return LowRank(_conv(vertical, stride=(sh, 1), padding=(ph, 0), dilation=(dh, 1)),
                   _conv(horizontal.reshape(c_out, rank, 1, kw), bias=_bias(conv), stride=(1, sw),
                         padding=(0, pw), dilation=(1, dw)),
                   method="spatial", rank=rank)


@checked
def tucker_conv(conv: nn.Conv2d, ranks: Sequence[int],
                factors: tuple[Tensor, tuple[Tensor, Tensor]] | None = None) -> LowRank:
    """1×1 (C_in→r_in), kh×kw core (r_in→r_out), 1×1 (r_out→C_out) from a Tucker-2 of the kernel."""
    check_layer(conv, "tucker")
    K = conv.weight.detach()
    if len(ranks) != 2:
        raise ValueError(f"ranks must be (r_out, r_in), got {tuple(ranks)}")
    r_out, r_in = check_rank(ranks[0], K.shape[0], "ranks"), check_rank(ranks[1], K.shape[1], "ranks")
    core, (U_out, U_in) = factors if factors is not None else dec.tucker2(K, (r_out, r_in))
    return LowRank(_conv(U_in.T[:, :, None, None]),                                     # (r_in, C_in, 1, 1)
                   _conv(core, stride=conv.stride, padding=conv.padding, dilation=conv.dilation),
                   _conv(U_out[:, :, None, None], bias=_bias(conv)),                    # (C_out, r_out, 1, 1)
                   method="tucker", rank=(r_out, r_in))


@checked
def cp_conv(conv: nn.Conv2d, rank: int, factors: tuple[Tensor, list[Tensor]] | None = None) -> LowRank:
    """1×1 (C_in→R), depthwise kh×1, depthwise 1×kw, 1×1 (R→C_out) from a rank-R CP of the kernel."""
    check_layer(conv, "cp")
    K = conv.weight.detach()
    weights, (A, B, V, H) = factors if factors is not None else dec.cp(K, rank)
    R = A.shape[1]
    if R != rank:
        raise ValueError(f"rank must match the CP factors ({R}), got {rank}")
    (sh, sw), (ph, pw), (dh, dw) = conv.stride, conv.padding, conv.dilation
    return LowRank(_conv(B.T[:, :, None, None]),                                         # (R, C_in, 1, 1)
                   _conv(V.T[:, None, :, None], stride=(sh, 1), padding=(ph, 0), dilation=(dh, 1), groups=R),
                   _conv(H.T[:, None, None, :], stride=(1, sw), padding=(0, pw), dilation=(1, dw), groups=R),
                   _conv((A * weights)[:, :, None, None], bias=_bias(conv)),             # (C_out, R, 1, 1)
                   method="cp", rank=rank)


def weight_count(layer: nn.Module, method: str, rank) -> int:
    """Weights (biases aside) of ``layer`` factored by ``method`` at ``rank``, from the shapes alone.

    >>> weight_count(nn.Linear(784, 300), "svd", 50), weight_count(nn.Conv2d(64, 128, 3), "tucker", (64, 32))
    (54200, 28672)
    """
    check_layer(layer, method)
    if method == "svd":
        m, n = layer.weight.shape
        return check_rank(rank, min(m, n)) * (m + n)
    c_out, c_in, kh, kw = layer.weight.shape
    if method == "spatial":
        return check_rank(rank, min(c_in * kh, c_out * kw)) * (c_in * kh + c_out * kw)
    if method == "tucker":
        r_out, r_in = check_rank(rank[0], c_out, "ranks"), check_rank(rank[1], c_in, "ranks")
        return c_in * r_in + r_in * r_out * kh * kw + r_out * c_out
    return check_int("rank", rank, 1, 4096) * (c_in + kh + kw + c_out)
