"""Training with a sparsity regularizer: penalties, proximal steps, a λ path, DNS, DropConnect.

Everything here drives :func:`workbench.train` through its two hooks:
``penalty(model)`` is added to the loss, ``on_step(model, step)`` runs after every
optimiser step (a proximal step, a mask update)::

    >>> import workbench as wb
    >>> model = wb.get_baseline("lenet300")
    >>> _ = train_sparse(model, wb.load(), "l1-prox", lam=3e-3, num_epochs=1, lr=0.02, optimizer="sgd",
    ...                  progress=False)
    >>> exact_zeros(model) > 0.3
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .._checks import check_choice, check_fraction, check_int, checked
from ..pruning.groups import weight_layers
from ..pruning.masks import keep_masks
from ..replay import replayable
from ..train import History, evaluate, train
from ..weights import deep_copy
from .penalties import check_lam, exact_zeros, group_lasso, l1, prox_group_, prox_l1_

SGD_MOMENTUM = 0.9            # workbench.train's SGD uses heavy-ball momentum 0.9
# name -> (what it adds to the loss, what it does after each step); the explorer's dropdown reads this
REGULARIZERS = {
    "l1": "λ·Σ|w| added to the loss, plain (sub)gradient",
    "l1-prox": "soft-thresholding by lr·λ after each step",
    "group-filter": "group lasso on filters (weight, bias, BN), proximal",
    "group-channel": "group lasso on the next layer's input channels, proximal",
    "group-shape": "group lasso on conv kernel positions, proximal",
    "group-depth": "group lasso on whole residual branches, proximal",
    "group-conv-filter": "group lasso on conv filters only (classifier neurons untouched), proximal",
    "activation-l1": "λ·mean|a| of every post-ReLU activation added to the loss",
}


def _proximal(kind: str, threshold: float) -> Callable[[nn.Module, int], None]:
    if kind == "l1":
        return lambda model, step: prox_l1_(model, threshold)
    return lambda model, step: prox_group_(model, kind, threshold)


class ActivationL1:
    """``penalty(model)`` for sparse activations: ``λ·Σ_layers mean|a|`` of every ReLU output.

    Hooks record the ReLU outputs of each forward pass; call :meth:`remove` when done.
    """

    def __init__(self, model: nn.Module, lam: float):
        self.lam = check_lam("lam", lam)
        self.outputs: list[Tensor] = []
        self.handles = [m.register_forward_hook(lambda mod, inp, out: self.outputs.append(out))
                        for m in model.modules() if isinstance(m, nn.ReLU)]
        if not self.handles:
            raise ValueError("model has no nn.ReLU module whose activations could be penalised")

    def __call__(self, model: nn.Module) -> Tensor:
        total = self.lam * sum(a.abs().mean() for a in self.outputs)
        self.outputs.clear()
        return total

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def train_sparse(model: nn.Module, data, regularizer: str, lam: float, *, num_epochs: int = 3, lr: float = 1e-3,
                 **train_kwargs) -> History:
    """Train ``model`` in place with one of :data:`REGULARIZERS` at strength ``lam``.

    Proximal variants (``l1-prox``, ``group-*``) shrink by the drift the penalty's gradient
    would cause: ``lr·λ`` per plain step, ``lr·λ/(1 − 0.9)`` with SGD's heavy-ball momentum
    (0.9), whose velocity accumulates a steady gradient tenfold. So ``λ`` means the same for
    the penalty and its proximal step. (Adam rescales every gradient, which no fixed
    threshold matches: the penalty and the prox then differ in strength.)
    """
    check_choice("regularizer", regularizer, REGULARIZERS, what="regularizer")
    lam = check_lam("lam", lam)
    train_kwargs.setdefault("desc", f"{regularizer}, λ={lam:g}")
    if regularizer == "l1":
        return train(model, data, num_epochs=num_epochs, lr=lr, penalty=lambda m: l1(m, lam), **train_kwargs)
    if regularizer == "activation-l1":
        pen = ActivationL1(model, lam)
        try:
            return train(model, data, num_epochs=num_epochs, lr=lr, penalty=pen, **train_kwargs)
        finally:
            pen.remove()
    kind = "l1" if regularizer == "l1-prox" else regularizer.removeprefix("group-")
    if kind != "l1":
        group_lasso(model, 0.0, kind)          # a kind that does not fit the model fails before training
    step = lr * lam / (1 - SGD_MOMENTUM) if train_kwargs.get("optimizer") == "sgd" else lr * lam
    return train(model, data, num_epochs=num_epochs, lr=lr, on_step=_proximal(kind, step), **train_kwargs)


@dataclass
class Snapshot:
    """One point of a regularization path: the strength and the model trained to it."""

    lam: float
    model: nn.Module
    val_acc: float
    exact_zeros: float


@checked
@replayable
def regularization_path(model: nn.Module, data, regularizer: str, lams: Sequence[float], *,
                        epochs_per_lam: int = 1, lr: float = 1e-3, **train_kwargs) -> list[Snapshot]:
    """Train along rising ``lams``, each run warm-started from the previous one; keep a copy at each.

    One training run gives a whole family of models: the explorer's λ slider picks among them.
    """
    if not lams:
        raise ValueError("lams must list at least one strength")
    lams = [check_lam("lams", v) for v in lams]
    if lams != sorted(lams):
        raise ValueError(f"lams must rise along the path (warm starts), got {lams}")
    check_int("epochs_per_lam", epochs_per_lam, 1)
    train_kwargs.setdefault("progress", False)
    model, path = deep_copy(model), []
    for lam in lams:
        train_sparse(model, data, regularizer, lam, num_epochs=epochs_per_lam, lr=lr, **train_kwargs)
        path.append(Snapshot(lam, deep_copy(model).eval(), evaluate(model, data.X_val, data.y_val), exact_zeros(model)))
    return path


# ---------------------------------------------------------------- dynamic network surgery


class Splice(nn.Module):
    """A DNS mask as a parametrization: the forward pass sees ``w·mask``, the gradient reaches every ``w``.

    Unlike a pruning mask, a masked weight keeps learning (straight-through), so it can
    grow back past the threshold and be *spliced* in again (Guo et al. 2016).
    """

    def __init__(self, mask: Tensor):
        super().__init__()
        self.register_buffer("mask", mask.detach().clone().float())

    def forward(self, w: Tensor) -> Tensor:
        return w + (w * self.mask - w).detach()


class SurgeryStep:
    """``on_step`` for DNS: every ``every`` steps up to step ``stop``, re-mask the smallest weights by |w|
    (one global threshold); after ``stop`` the mask stays, and the survivors settle.

    ``ramp`` (steps): the sparsity rises as ``amount·(1 − (1 − step/ramp)³)`` (Zhu & Gupta's gradual
    schedule) instead of starting at ``amount``, so the network adapts while weights leave.
    """

    def __init__(self, model: nn.Module, amount: float, *, every: int = 20, stop: int | None = None,
                 band: float = 0.1, ramp: int | None = None):
        self.amount = check_fraction("amount", amount, high_inclusive=False)
        self.band = check_fraction("band", band)
        self.every = check_int("every", every, 1)
        self.stop = None if stop is None else check_int("stop", stop, 0)
        self.ramp = None if ramp is None else check_int("ramp", ramp, 1)
        self.pruned = self.spliced = 0          # weights masked / brought back over the run
        self.layers = weight_layers(model)
        masks = self._masks(self.target(0))
        for name, layer in self.layers.items():
            parametrize.register_parametrization(layer, "weight", Splice(masks[name]))

    def target(self, step: int) -> float:
        """The sparsity the mask aims at after ``step`` optimiser steps."""
        if self.ramp is None:
            return self.amount
        return self.amount * (1 - (1 - min(step / self.ramp, 1.0)) ** 3)

    def _masks(self, amount: float, exact: bool = True) -> dict[str, Tensor]:
        """Keep-masks at the global threshold t for ``amount``; between updates, with Guo et al.'s two
        thresholds: a kept weight goes below ``t·(1 − band)``, a pruned one returns above ``t·(1 + band)``."""
        dense = {n: (m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight)
                 for n, m in self.layers.items()}
        exact_masks = keep_masks({n: w.detach().abs() for n, w in dense.items()}, amount, "global", min_keep=1)
        if exact or not parametrize.is_parametrized(next(iter(self.layers.values())), "weight"):
            return exact_masks
        t = min(float(w.detach().abs()[exact_masks[n]].min()) for n, w in dense.items() if exact_masks[n].any())
        out = {}
        for n, w in dense.items():
            old = self.layers[n].parametrizations.weight[0].mask.bool()
            a = w.detach().abs()
            out[n] = torch.where(old, a >= t * (1 - self.band), a > t * (1 + self.band))
        return out

    def __call__(self, model: nn.Module, step: int) -> None:
        if step % self.every or (self.stop is not None and step > self.stop):
            return
        final = self.stop is not None and step + self.every > self.stop     # the last update: exact sparsity
        for name, keep in self._masks(self.amount if final else self.target(step), exact=final).items():
            splice = self.layers[name].parametrizations.weight[0]
            old = splice.mask.bool()
            self.spliced += int((keep & ~old).sum())
            self.pruned += int((~keep & old).sum())
            splice.mask.copy_(keep.float())


@checked
def dynamic_surgery(model: nn.Module, data, amount: float, *, num_epochs: int = 4, lr: float = 1e-3, every: int = 5,
                    splice_fraction: float = 0.3, gradual: bool = True, band: float = 0.1,
                    **train_kwargs) -> tuple[nn.Module, SurgeryStep]:
    """Guo et al.'s prune-and-splice at sparsity ``amount``; returns a plain model (zeros written in) and the stats.

    The mask moves during the first ``splice_fraction`` of the steps (Guo et al. make mask updates
    ever rarer as training goes on), with the sparsity ramped up over that phase when ``gradual``;
    the rest of the run trains the survivors under the final, fixed mask (a masked fine-tune).
    """
    from ..weights import plain_copy

    check_int("num_epochs", num_epochs, 1)
    check_fraction("splice_fraction", splice_fraction)
    steps = num_epochs * len(data.loader("train", batch_size=train_kwargs.get("batch_size", 64)))
    stop = max(1, round(splice_fraction * steps))
    surgery = SurgeryStep(model, amount, every=every, stop=stop, band=band, ramp=stop if gradual else None)
    train_kwargs.setdefault("desc", f"DNS {amount:.0%}")
    train(model, data, num_epochs=num_epochs, lr=lr, on_step=surgery, **train_kwargs)
    return plain_copy(model).eval(), surgery


# ---------------------------------------------------------------- DropConnect


class DropConnect(nn.Module):
    """Wan et al. (2013): in training, each weight is dropped with probability ``p`` (scaled by 1/(1−p))."""

    def __init__(self, p: float):
        super().__init__()
        self.p = check_fraction("p", p, high_inclusive=False)

    def forward(self, w: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return w
        return w * (torch.rand_like(w) >= self.p) / (1 - self.p)


@checked
def train_dropconnect(model: nn.Module, data, p: float, *, num_epochs: int = 3, lr: float = 1e-3,
                      **train_kwargs) -> nn.Module:
    """Train with DropConnect on every conv/linear weight; returns a plain model (the dense weights)."""
    from ..weights import plain_copy

    for layer in weight_layers(model).values():
        parametrize.register_parametrization(layer, "weight", DropConnect(p))
    train_kwargs.setdefault("desc", f"DropConnect p={p}")
    train(model, data, num_epochs=num_epochs, lr=lr, **train_kwargs)
    return plain_copy(model).eval()


@checked(fits=("model", "X"))
@torch.no_grad()
def activation_zeros(model: nn.Module, X: Tensor) -> dict[str, float]:
    """Fraction of exactly-zero outputs of each ReLU module on inputs ``X``."""
    fractions, handles = {}, []
    for name, m in model.named_modules():
        if isinstance(m, nn.ReLU):
            handles.append(m.register_forward_hook(
                lambda mod, inp, out, name=name: fractions.__setitem__(name, float((out == 0).float().mean()))))
    was = model.training
    model.eval()
    try:
        model(X)
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    return fractions


@checked
def dense_sparse_dense(model: nn.Module, data, amount: float, *, sparse_epochs: int = 2, dense_epochs: int = 1,
                       lr: float = 1e-3, **train_kwargs) -> tuple[nn.Module, nn.Module]:
    """Han et al. (2017)'s DSD from a trained ``model``: prune by magnitude and retrain with masks (sparse),
    then lift the masks and retrain everything at lr/10 (dense again). Returns ``(sparse, dense)``.
    """
    from ..pruning.masks import mask_weights
    from ..weights import plain_copy

    check_fraction("amount", amount, high_inclusive=False)
    train_kwargs.setdefault("progress", False)
    mask_weights(model, {n: m.weight.detach().abs() for n, m in weight_layers(model).items()}, amount, "global")
    train(model, data, num_epochs=sparse_epochs, lr=lr, desc="DSD: sparse", **train_kwargs)
    sparse = plain_copy(model).eval()
    dense = deep_copy(sparse)
    train(dense, data, num_epochs=dense_epochs, lr=lr / 10, desc="DSD: dense again", **train_kwargs)
    return sparse, dense.eval()
