"""Mixed-precision training with PyTorch's own machinery: ``torch.autocast`` and ``GradScaler``.

The recipe of Micikevicius et al. (2018): the model keeps fp32 *master weights*;
inside ``torch.autocast`` convolutions and matrix products run in a 16-bit format
(the weights are cast on the fly), reductions such as the loss stay in fp32, and
the optimiser updates the fp32 weights. With fp16, the loss is multiplied by a
scale before ``backward`` so small gradients survive, and divided out before the
update::

    >>> from workbench import data, models
    >>> ds = data.load("digits")
    >>> h = train_mixed(models.build("lenet5"), ds, precision="bf16", num_epochs=1, max_steps=5)
    >>> len(h.losses), h.precision
    (5, 'bf16')

``scaling="dynamic"`` is ``torch.amp.GradScaler``: it starts high, halves the scale
and skips the step when a gradient is inf/NaN, and doubles it after
``growth_interval`` clean steps. ``"static"`` multiplies by a fixed scale and also
skips steps whose gradients overflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice, check_int, check_number, checked
from ..train import evaluate, seed_everything
from .gradients import check_scale

PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
SCALINGS = ("none", "static", "dynamic")


def autocast(precision: str):
    """The ``torch.autocast`` context for ``precision`` on the CPU (disabled for fp32).

    >>> with autocast("bf16"):
    ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    torch.bfloat16
    """
    check_choice("precision", precision, PRECISIONS)
    dtype = PRECISIONS[precision]
    return torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None)


@dataclass
class MixedHistory:
    """A mixed-precision run: loss and loss scale per step, skipped steps, accuracy per epoch."""

    precision: str
    scaling: str
    losses: list[float] = field(default_factory=list)     # fp32 loss of each step (unscaled)
    scales: list[float] = field(default_factory=list)     # loss scale used at each step (1 without scaling)
    skipped: int = 0                                      # steps skipped for inf/NaN gradients
    epochs: list[dict] = field(default_factory=list)      # epoch, loss, val_acc, seconds
    seconds: float = 0.0

    @property
    def label(self) -> str:
        return self.precision if self.scaling == "none" else f"{self.precision} + {self.scaling} scaling"

    @property
    def final_val_acc(self) -> float:
        return self.epochs[-1]["val_acc"] if self.epochs else float("nan")

    def __repr__(self) -> str:
        return (f"MixedHistory({self.label}: {len(self.losses)} steps, final loss "
                f"{self.losses[-1] if self.losses else float('nan'):.3f}, skipped {self.skipped})")


class StaticScaler:
    """Loss scaling by a fixed ``scale``, with ``GradScaler``'s interface (skips inf/NaN steps)."""

    def __init__(self, scale: float):
        self.scale_value = check_scale(scale)
        self.found_inf = False

    def scale(self, loss: Tensor) -> Tensor:
        """``loss × scale``."""
        return loss * self.scale_value

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide the gradients by the scale, then step unless one of them is inf/NaN."""
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        self.found_inf = not all(torch.isfinite(g).all() for g in grads)
        if not self.found_inf:
            for g in grads:
                g.div_(self.scale_value)
            optimizer.step()

    def update(self) -> None:
        """Nothing to adapt: the scale is static."""

    def get_scale(self) -> float:
        """The fixed scale."""
        return self.scale_value


@checked
def make_scaler(scaling: str, *, init_scale: float = 2.0**16, growth_interval: int = 2000):
    """``None`` (no scaling), a :class:`StaticScaler`, or ``torch.amp.GradScaler("cpu")``.

    >>> float(make_scaler("dynamic", init_scale=1024).get_scale())
    1024.0
    """
    check_choice("scaling", scaling, SCALINGS)
    check_scale(init_scale)
    check_int("growth_interval", growth_interval, 1)
    if scaling == "none":
        return None
    if scaling == "static":
        return StaticScaler(init_scale)
    return torch.amp.GradScaler("cpu", init_scale=init_scale, growth_interval=growth_interval)


def training_step(model: nn.Module, opt: torch.optim.Optimizer, X: Tensor, y: Tensor, *,
                  precision: str = "fp32", scaler=None) -> tuple[float, bool]:
    """One step: forward under autocast, (scaled) backward, (unscaled) update.

    Returns ``(loss, skipped)``; ``skipped`` is True when the scaler found inf/NaN.
    """
    with autocast(precision):
        loss = F.cross_entropy(model(X), y)        # autocast keeps cross-entropy in fp32
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        opt.step()
        return loss.item(), False
    before = scaler.get_scale()
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    skipped = scaler.found_inf if isinstance(scaler, StaticScaler) else scaler.get_scale() < before
    return loss.item(), bool(skipped)


@checked
def train_mixed(model: nn.Module, data, *, precision: str = "bf16", scaling: str = "none", num_epochs: int = 3,
                lr: float = 2e-3, batch_size: int = 64, init_scale: float = 2.0**16, growth_interval: int = 2000,
                max_steps: int | None = None, seed: int = 0, monitor=None,
                on_step: Callable[[MixedHistory], None] | None = None) -> MixedHistory:
    """Train ``model`` (fp32 master weights, in place) with Adam under ``precision`` autocast.

    ``scaling`` is ``"none"``, ``"static"`` (a fixed ``init_scale``) or ``"dynamic"``
    (``GradScaler``). Accuracy is measured on the validation split with the fp32 weights.
    ``max_steps`` stops early (short runs in the explorer); ``monitor`` is a
    :class:`workbench.widgets.TrainingMonitor`; ``on_step(history)`` runs after each step.
    """
    check_choice("precision", precision, PRECISIONS)
    check_int("num_epochs", num_epochs, 1)
    check_number("lr", lr, 0.0, 10.0, low_inclusive=False)
    check_int("batch_size", batch_size, 1)
    if max_steps is not None:
        check_int("max_steps", max_steps, 1)
    scaler = make_scaler(scaling, init_scale=init_scale, growth_interval=growth_interval)
    seed_everything(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = MixedHistory(precision, scaling)
    loader = data.loader("train", batch_size=batch_size, seed=seed)
    total = num_epochs * len(loader) if max_steps is None else min(max_steps, num_epochs * len(loader))
    if monitor is not None:
        monitor.start(total, history.label)
    start = time.perf_counter()
    for epoch in range(1, num_epochs + 1):
        model.train()
        t0, seen, total_loss = time.perf_counter(), 0, 0.0
        for X, y in loader:
            scale = scaler.get_scale() if scaler is not None else 1.0
            loss, skipped = training_step(model, opt, X, y, precision=precision, scaler=scaler)
            history.losses.append(loss)
            history.scales.append(scale)
            history.skipped += skipped
            total_loss, seen = total_loss + loss * len(y), seen + len(y)
            if monitor is not None:
                monitor.step()
            if on_step is not None:
                on_step(history)
            if len(history.losses) >= total:
                break
        record = dict(epoch=epoch, loss=total_loss / seen, val_acc=evaluate(model, data.X_val, data.y_val),
                      seconds=time.perf_counter() - t0)
        history.epochs.append(record)
        if monitor is not None:
            monitor.epoch(record)
        if len(history.losses) >= total:
            break
    history.seconds = time.perf_counter() - start
    if monitor is not None:
        monitor.finish()
    model.eval()
    return history


RECIPES: dict[str, tuple[str, str]] = {            # label -> (precision, scaling)
    "fp32": ("fp32", "none"),
    "bf16": ("bf16", "none"),
    "fp16": ("fp16", "none"),
    "fp16 + dynamic scaling": ("fp16", "dynamic"),
}


@checked
def train_recipes(data, recipes: list[str] | None = None, *, model: str = "lenet5", num_epochs: int = 3,
                  seed: int = 0, **kwargs) -> dict[str, tuple[nn.Module, MixedHistory]]:
    """Train one fresh ``model`` per recipe (``RECIPES``), same initial weights, data order and epochs.

    Returns ``{label: (model, history)}``; ``kwargs`` go to :func:`train_mixed`.
    """
    from ..models import build

    out = {}
    for label in recipes or list(RECIPES):
        precision, scaling = RECIPES[check_choice("recipes", label, RECIPES, what="recipe")]
        net = build(model, data.input_shape, data.num_classes, seed=seed)
        out[label] = (net, train_mixed(net, data, precision=precision, scaling=scaling, num_epochs=num_epochs,
                                       seed=seed, **kwargs))
    return out


def accuracy_table(runs: dict[str, tuple[nn.Module, MixedHistory]], data, *, reference: str = "fp32"):
    """Test accuracy of each run (fp32 weights), its gap to ``reference`` in points, loss, skipped steps."""
    import pandas as pd

    check_choice("reference", reference, runs, what="run")
    acc = {label: evaluate(m, data.X_test, data.y_test) for label, (m, _) in runs.items()}
    rows = {label: {"test accuracy": acc[label], "Δ vs " + reference + " (pp)": 100 * (acc[label] - acc[reference]),
                    "final loss": h.epochs[-1]["loss"], "skipped steps": h.skipped,
                    "last loss scale": h.scales[-1]} for label, (_, h) in runs.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


@checked(fits=("model", "X"))
def autocast_dtypes(model: nn.Module, X: Tensor, precision: str = "bf16"):
    """Which layers compute in low precision under autocast: each leaf module's output dtype.

    The last row is the loss (``F.cross_entropy``), which autocast keeps in fp32.

    >>> from workbench import models
    >>> t = autocast_dtypes(models.build("lenet300"), torch.zeros(2, 1, 28, 28))
    >>> t.loc["classifier.1", "output dtype"], t.loc["loss", "output dtype"]
    ('bfloat16', 'float32')
    """
    import pandas as pd

    rows, handles = {}, []
    for name, m in model.named_modules():
        if not list(m.children()):
            def hook(mod, inputs, output, name=name):
                dtypes = {str(t.dtype).removeprefix("torch.") for t in inputs if isinstance(t, Tensor)}
                rows[name] = {"layer": type(mod).__name__, "input dtype": ", ".join(sorted(dtypes)),
                              "output dtype": str(output.dtype).removeprefix("torch.")}
            handles.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad(), autocast(precision):
            logits = model(X)
            loss = F.cross_entropy(logits, torch.zeros(len(X), dtype=torch.long))
    finally:
        for h in handles:
            h.remove()
    rows["loss"] = {"layer": "cross_entropy", "input dtype": str(logits.dtype).removeprefix("torch."),
                    "output dtype": str(loss.dtype).removeprefix("torch.")}
    return pd.DataFrame.from_dict(rows, orient="index")
