"""One or two bits per weight: BinaryConnect, XNOR-Net scaling, ternary weights, HORQ.

- **BinaryConnect** (Courbariaux et al. 2015): forward with ``sign(w)``, keep the
  float ("latent") weights for the updates, clip them to [-1, 1]. Here the sign is
  multiplied by one scale per tensor, ``mean|w|`` (a BatchNorm after the layer
  would absorb any scale; the last layer has none).
- **Binarized networks** (Courbariaux et al. 2016): the activations are binarized
  too (:class:`SignActivation` replaces ReLU); the gradient of ``sign`` is taken
  as that of ``hardtanh``: 1 inside [-1, 1], 0 outside.
- **XNOR-Net** (Rastegari et al. 2016): one scale per output channel,
  ``alpha = mean|w|`` over the channel — the optimal scale for ``sign(w)``.
- **Ternary** (Li & Liu 2016, *Ternary Weight Networks*): ``{-alpha, 0, +alpha}``
  with threshold ``0.7 * mean|w|`` per channel: two bits, but zeros.
- **HORQ** (Li et al. 2017, *Performance Guaranteed Network Acceleration via
  High-Order Residual Quantization*): binarize, then binarize what is left:
  ``w ~ alpha1 * b1 + alpha2 * b2`` — two bits per weight, a much smaller error.

    >>> import torch
    >>> w = torch.tensor([[0.5, -0.25, 0.75], [0.5, -1.0, 0.0]])
    >>> binarize(w, "xnor").tolist()
    [[0.5, -0.5, 0.5], [0.5, -0.5, 0.5]]

PyTorch has no CPU kernels for binary weights: here binary is a lesson in size
(1 bit per weight, packed by :mod:`.packing`) and accuracy, not in latency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .._checks import check_choice, check_int, check_number, checked


def _channel_mean(x: Tensor) -> Tensor:
    """Mean over every dimension but the first (output channels), kept for broadcasting."""
    return x.mean(dim=tuple(range(1, x.ndim)), keepdim=True) if x.ndim > 1 else x.mean()


@checked
def sign(w: Tensor) -> Tensor:
    """``+1`` where ``w >= 0``, else ``-1`` (no zeros: every weight is one bit).

    >>> sign(torch.tensor([-2.0, 0.0, 3.0])).tolist()
    [-1.0, 1.0, 1.0]
    """
    return torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))


@checked
def binaryconnect(w: Tensor) -> Tensor:
    """``sign(w) * mean|w|``: one bit per weight and one scale per tensor (Courbariaux et al. 2015)."""
    return sign(w) * w.abs().mean()


@checked
def xnor(w: Tensor) -> Tensor:
    """``sign(w) * alpha`` with ``alpha = mean|w|`` per output channel (Rastegari et al. 2016)."""
    return sign(w) * _channel_mean(w.abs())


@checked
def ternary(w: Tensor, threshold: float = 0.7) -> Tensor:
    """``{-alpha, 0, alpha}`` per output channel: zero below ``threshold * mean|w|`` (Li & Liu 2016).

    >>> ternary(torch.tensor([[1.0, -0.9, 0.1, 0.0]])).tolist()
    [[0.949999988079071, -0.949999988079071, 0.0, 0.0]]
    """
    check_number("threshold", threshold, 0.0, 10.0)
    mag = w.abs()
    keep = mag > threshold * _channel_mean(mag)
    kept = (mag * keep).sum(dim=tuple(range(1, w.ndim)), keepdim=True) if w.ndim > 1 else (mag * keep).sum()
    count = keep.sum(dim=tuple(range(1, w.ndim)), keepdim=True) if w.ndim > 1 else keep.sum()
    alpha = kept / count.clamp(min=1)
    return torch.sign(w) * keep * alpha


@checked
def horq(w: Tensor, order: int = 2) -> Tensor:
    """Residual binarization of ``order`` terms: ``sum_i alpha_i * sign(r_i)``, ``r_(i+1) = r_i - alpha_i sign(r_i)``.

    >>> w = torch.tensor([[0.9, -0.1, 0.2, -0.6]])
    >>> [round(float((horq(w, k) - w).norm()), 3) for k in (1, 2)]
    [0.64, 0.224]
    """
    check_int("order", order, 1, 8)
    approx, residual = torch.zeros_like(w), w
    for _ in range(order):
        term = xnor(residual)
        approx = approx + term
        residual = w - approx
    return approx


BINARIZERS: dict[str, Callable[[Tensor], Tensor]] = {
    "binaryconnect": binaryconnect,
    "xnor": xnor,
    "ternary": ternary,
    "horq2": lambda w: horq(w, 2),
}
BITS_PER_WEIGHT = {"binaryconnect": 1, "xnor": 1, "ternary": 2, "horq2": 2}


@checked(empty_ok=("w",))
def binarize(w: Tensor, method: str = "xnor") -> Tensor:
    """``w`` binarized (or ternarized) by a method named in ``BINARIZERS``."""
    check_choice("method", method, BINARIZERS, what="binarizer")
    if w.numel() == 0:
        raise ValueError("w must hold at least one weight, got an empty tensor")
    return BINARIZERS[method](w)


class _BinarizeSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, method):
        ctx.save_for_backward(w)
        return binarize(w, method)

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * (w.abs() <= 1), None   # hardtanh's gradient (Courbariaux et al. 2016)


@checked(empty_ok=("w",))
def binarize_ste(w: Tensor, method: str = "xnor") -> Tensor:
    """:func:`binarize` with a straight-through gradient (cancelled where ``|w| > 1``).

    >>> w = torch.tensor([[0.5, -2.0]], requires_grad=True)
    >>> torch.autograd.grad(binarize_ste(w).sum(), w)[0].tolist()
    [[1.0, 0.0]]
    """
    return _BinarizeSTE.apply(w, check_choice("method", method, BINARIZERS, what="binarizer"))


class BinaryWeight(nn.Module):
    """Parametrization: the latent float weight binarized on every forward pass.

    >>> BinaryWeight("binaryconnect")(torch.tensor([[1.0, -3.0]])).tolist()
    [[2.0, -2.0]]
    """

    def __init__(self, method: str = "xnor"):
        super().__init__()
        self.method = check_choice("method", method, BINARIZERS, what="binarizer")

    def forward(self, w: Tensor) -> Tensor:
        return binarize_ste(w, self.method)

    def extra_repr(self) -> str:
        return self.method


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return sign(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1)


class SignActivation(nn.Module):
    """``sign(x)`` with hardtanh's gradient: the binary activation of binarized networks.

    >>> SignActivation()(torch.tensor([-0.3, 0.0, 2.0])).tolist()
    [-1.0, 1.0, 1.0]
    """

    def __init__(self) -> None:          # no options: an unknown keyword is refused by Python itself
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return _SignSTE.apply(x)


@checked
def binarize_model(model: nn.Module, method: str = "xnor", *, skip: Iterable[str] = (),
                   activations: bool = False) -> nn.Module:
    """Binarize the weights of every Conv2d/Linear of ``model`` in place (parametrizations).

    ``skip`` names layers kept in float (XNOR-Net keeps the first and last);
    ``activations=True`` also replaces every ReLU by :class:`SignActivation`
    (a binarized network). Train afterwards, with :func:`clip_latent` as ``on_step``.

    >>> from workbench import models
    >>> m = binarize_model(models.build("lenet5"), "xnor", skip=["features.0"])
    >>> sorted(set(m.classifier[1].weight.abs().flatten()[:5].tolist())) == [m.classifier[1].weight.abs()[0, 0].item()]
    True
    """
    from .calibration import quantizable_layers

    check_choice("method", method, BINARIZERS, what="binarizer")
    for layer in quantizable_layers(model, skip).values():
        parametrize.register_parametrization(layer, "weight", BinaryWeight(method))
    if activations:
        for parent in list(model.modules()):
            for child_name, child in parent.named_children():
                if isinstance(child, nn.ReLU):
                    setattr(parent, child_name, SignActivation())
    return model


@checked
@torch.no_grad()
def clip_latent(model: nn.Module, step: int | None = None, bound: float = 1.0) -> None:
    """Clip the latent float weights of binarized layers to ``[-bound, bound]`` (BinaryConnect).

    Pass as ``on_step=clip_latent`` to ``workbench.train``.

    >>> m = binarize_model(nn.Sequential(nn.Linear(2, 1)))
    >>> with torch.no_grad():
    ...     _ = m[0].parametrizations.weight.original.fill_(5.0)
    >>> clip_latent(m); m[0].parametrizations.weight.original.tolist()
    [[1.0, 1.0]]
    """
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight") and any(
                isinstance(p, BinaryWeight) for p in module.parametrizations.weight):
            module.parametrizations.weight.original.clamp_(-bound, bound)
