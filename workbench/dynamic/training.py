"""Joint training of every exit at every width, and the logits every exit gives once trained.

BranchyNet (Teerapittayanon et al. 2016) trains the trunk and its side classifiers
together on a weighted sum of their cross-entropies; slimmable networks (Yu et al.
2019) add the losses of every width in each step. Both at once::

    >>> from workbench import data
    >>> ds = data.load("digits")
    >>> net = EarlyExitNet(channels=(4, 8, 8), widths=(0.5, 1.0))
    >>> hist = train_early_exit(net, ds, num_epochs=1, progress=False)
    >>> sorted(hist[-1])
    ['epoch', 'seconds', 'val_exit_1', 'val_exit_2', 'val_exit_3']
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_int, check_number, checked
from ..replay import replayable
from ..train import seed_everything
from .network import EarlyExitNet


@checked(ndim={"y": 1})
def joint_loss(outputs: Sequence[Tensor], y: Tensor, exit_weights: Sequence[float]) -> Tensor:
    """``sum_k w_k * cross_entropy(outputs[k], y)`` (BranchyNet's weighted loss).

    >>> round(joint_loss([torch.zeros(2, 4), torch.zeros(2, 4)], torch.tensor([0, 1]), [1.0, 0.5]).item(), 4)
    2.0794
    """
    if len(exit_weights) != len(outputs):
        raise ValueError(f"exit_weights must give one weight per exit ({len(outputs)}), got {len(exit_weights)}")
    for w in exit_weights:
        check_number("exit_weights", w, 0.0)
    return sum(w * F.cross_entropy(o, y) for w, o in zip(exit_weights, outputs))


@checked
@replayable
def train_early_exit(net: EarlyExitNet, data, *, num_epochs: int = 3, lr: float = 3e-3, batch_size: int = 64,
                     exit_weights: Sequence[float] | None = None, widths: Sequence[float] | None = None,
                     seed: int = 0, progress: bool = True) -> list[dict]:
    """Train ``net`` in place: each step adds the joint loss of every width in ``widths`` (default: all).

    Returns one dict per epoch with the validation accuracy of every exit at full width.
    """
    check_int("num_epochs", num_epochs, 0)
    check_number("lr", lr, 0.0, 10.0, low_inclusive=False)
    exit_weights = [1.0] * net.num_exits if exit_weights is None else list(exit_weights)
    widths = net.widths if widths is None else tuple(widths)
    for w in widths:
        if w not in net.widths:
            raise ValueError(f"unknown width {w!r}; widths must be among: {', '.join(map(str, net.widths))}")
    seed_everything(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, num_epochs * len(
        data.loader("train", batch_size))))
    history, start = [], time.perf_counter()
    for epoch in range(1, num_epochs + 1):
        net.train()
        for X, y in data.loader("train", batch_size, seed=seed + epoch):
            opt.zero_grad(set_to_none=True)
            for w in sorted(widths, reverse=True):         # the widest first, as in the sandwich rule
                net.set_width(w)
                joint_loss(net(X), y, exit_weights).backward()
            opt.step()
            sched.step()
        net.set_width(1.0)
        val = exit_accuracies(exit_logits(net, data.X_val), data.y_val)
        history.append(dict(epoch=epoch, seconds=time.perf_counter() - start,
                            **{f"val_exit_{k + 1}": a for k, a in enumerate(val)}))
        if progress:
            print(f"epoch {epoch}: validation accuracy per exit " + " ".join(f"{a:.3f}" for a in val))
    net.set_width(1.0).eval()
    return history


@checked(fits=("net", "X"))
@torch.no_grad()
def exit_logits(net: EarlyExitNet, X: Tensor, width: float = 1.0, batch_size: int = 500) -> list[Tensor]:
    """Logits of every exit on ``X`` at ``width`` (every block runs): computed once, then thresholds are free."""
    old, was_training = net.width, net.training
    net.set_width(width).eval()
    try:
        parts = [net(X[i:i + batch_size]) for i in range(0, len(X), batch_size)]
    finally:
        net.width = old
        net.train(was_training)
    return [torch.cat([p[k] for p in parts]) for k in range(net.num_exits)]


@checked(ndim={"y": 1})
def exit_accuracies(logits: Sequence[Tensor], y: Tensor) -> list[float]:
    """Accuracy of each exit if every example used it."""
    return [float((lg.argmax(1) == y).float().mean()) for lg in logits]


NOTEBOOK_RECIPE = dict(channels=(16, 64, 128), num_epochs=4, lr=3e-3, exit_weights=(1.0, 1.0, 1.0))


@checked
def notebook_network(data, *, progress: bool = False, **recipe) -> EarlyExitNet:
    """The early-exit network of notebook 09, trained with its recipe (the benchmarks use this).

    Keyword arguments override :data:`NOTEBOOK_RECIPE`.
    """
    recipe = {**NOTEBOOK_RECIPE, **recipe}
    net = EarlyExitNet(channels=recipe.pop("channels"))
    train_early_exit(net, data, progress=progress, **recipe)
    return net
