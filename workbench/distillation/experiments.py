"""Distillation experiments: the same student trained from labels and from a teacher.

Every run goes through :func:`distill`; ``alpha=0`` is training from labels alone
(plain cross-entropy), so the from-scratch student and the distilled student share
the code path, the data order, the initial weights and the budget::

    >>> from workbench import data
    >>> ds = transfer_subset(data.load("digits"), per_class=5)
    >>> student = build_student("lenet5-0.25")
    >>> history = distill(student, ds, None, alpha=0.0, recipe=Recipe(num_epochs=1))
    >>> len(history.records)
    1

Where distillation shows on 3,500 digits: a *limited transfer set*. Hinton et al.
(2015, section 6, "soft targets as regularizers") trained a speech model on 3% of
the data: from hard labels it overfitted badly, from the full model's soft targets it
nearly matched the model trained on everything. Here the student sees 35 digits per
class (350, 10% of the training split), with or without the teacher's soft targets;
the teacher was trained on all 3,500.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

from .._checks import check_choice, check_fraction, check_int, check_number, checked
from ..models import build
from ..train import History, evaluate, train
from .losses import kd_loss
from .teachers import CachedTeacher

# student name -> build arguments (small models the CPU trains in seconds)
STUDENTS: dict[str, dict] = {
    "lenet5-0.5": dict(name="lenet5", width=0.5),     # 35,820 params, 154 k MACs: conv channels (3, 8)
    "lenet5-0.25": dict(name="lenet5", width=0.25),   # 23,390 params, 82 k MACs: conv channels (2, 4)
    "mlp-30": dict(name="lenet300", hidden=(30,)),    # 23,860 params: one hidden layer of 30
}


@checked
def build_student(name: str = "lenet5-0.5", seed: int = 0) -> nn.Module:
    """A fresh, untrained student from :data:`STUDENTS`.

    >>> build_student("mlp-30").config["hidden"]
    (30,)
    """
    check_choice("name", name, STUDENTS, what="student")
    return build(**STUDENTS[name], seed=seed)


@checked
@dataclass(frozen=True)
class Recipe:
    """How every student here is trained (Adam, cosine schedule): the budget is the same for all."""

    num_epochs: int = 200     # passes over the transfer set (350 digits: 6 steps each)
    lr: float = 3e-3          # Adam learning rate, annealed to zero
    batch_size: int = 64
    schedule: str = "cosine"
    threads: int | None = 1   # intra-op threads while training (None: leave PyTorch's setting)

    def __post_init__(self):
        from ..train import SCHEDULES
        check_choice("schedule", self.schedule, SCHEDULES)
        check_number("lr", self.lr, 0.0, low_inclusive=False)


@contextmanager
def threads(n: int | None):
    """Run the block with ``torch.set_num_threads(n)`` and restore the previous count.

    The students here are too small for a second thread to help, and on a shared
    2-core machine two threads wait on each other: 60 epochs of ``lenet5-0.25`` took
    18.7 s on one thread and 202 s on two while other jobs kept the load near 5
    (``benchmarks/distillation.py`` re-measures this).
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(check_int("threads", n, 1, 1024))
    try:
        yield
    finally:
        torch.set_num_threads(before)


FULL = Recipe()                           # what the benchmark runs
SHORT = Recipe(num_epochs=40)             # what the executed notebook runs (stated where used)


# ---------------------------------------------------------------- transfer sets


@checked
def transfer_subset(data, per_class: int = 35, *, seed: int = 0):
    """A copy of ``data`` whose training split keeps ``per_class`` examples of each class (stratified, seeded).

    Validation and test splits are unchanged.

    >>> from workbench import data
    >>> len(transfer_subset(data.load("digits"), per_class=35).y_train)
    350
    """
    counts = torch.bincount(data.y_train, minlength=data.num_classes)
    check_int("per_class", per_class, 1, int(counts.min()))
    g = torch.Generator().manual_seed(seed)
    keep = []
    for c in range(data.num_classes):
        idx = torch.nonzero(data.y_train == c).flatten()
        keep.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    idx = torch.cat(keep).sort().values
    return replace(data, X_train=data.X_train[idx], y_train=data.y_train[idx])


@checked
def omit_class(data, digit: int):
    """A copy of ``data`` whose training split holds no example of class ``digit`` (Hinton et al. section 3).

    >>> from workbench import data
    >>> int((omit_class(data.load("digits"), 3).y_train == 3).sum())
    0
    """
    check_int("digit", digit, 0, data.num_classes - 1)
    keep = data.y_train != digit
    return replace(data, X_train=data.X_train[keep], y_train=data.y_train[keep])


# ---------------------------------------------------------------- training


@checked(temperature=(0, math.inf, "()"), alpha=(0, 1))
def distill(student: nn.Module, data, teacher: CachedTeacher | None, *, temperature: float = 4.0,
            alpha: float = 0.9, recipe: Recipe = FULL, seed: int = 0, scale: bool = True, monitor=None,
            progress: bool = False) -> History:
    """Train ``student`` in place on ``data``'s training split with the KD loss.

    ``alpha=0`` (or ``teacher=None``) trains from labels alone; ``scale=False`` drops
    the ``T**2`` factor. The teacher's logits come from the cache, so an epoch costs
    only the student.
    """
    check_number("temperature", temperature, 0.0, 1e9, low_inclusive=False)
    alpha = check_fraction("alpha", alpha)
    if teacher is None and alpha > 0:
        raise ValueError(f"alpha must be 0 when no teacher is given, got {alpha:g}")
    if teacher is None or alpha == 0.0:
        loss_fn = None
        desc = "from labels"
    else:
        def loss_fn(logits: Tensor, y: Tensor, X: Tensor) -> Tensor:
            return kd_loss(logits, teacher(X), y, temperature, alpha, scale=scale)
        desc = f"distil T={temperature:g} α={alpha:g}"
    with threads(recipe.threads):
        return train(student, data, num_epochs=recipe.num_epochs, lr=recipe.lr, batch_size=recipe.batch_size,
                     schedule=recipe.schedule, loss_fn=loss_fn, seed=seed, monitor=monitor, progress=progress,
                     desc=desc)


def gap_closed(scratch: float, distilled: float, teacher: float) -> float:
    """The fraction of the accuracy gap from the scratch student to the teacher that distillation closes.

    >>> gap_closed(0.90, 0.96, 0.98)
    0.75
    """
    for name, v in (("scratch", scratch), ("distilled", distilled), ("teacher", teacher)):
        check_fraction(name, v)
    if teacher <= scratch:
        raise ValueError(f"teacher must be more accurate than scratch to have a gap, got {teacher:g} <= {scratch:g}")
    return round((distilled - scratch) / (teacher - scratch), 10)


@dataclass
class Comparison:
    """Scratch vs distilled student, one pair per seed, and the teacher they are compared with."""

    teacher_accuracy: float
    scratch: dict[int, float] = field(default_factory=dict)     # seed -> test accuracy
    distilled: dict[int, float] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)     # seed -> seconds of both runs
    models: dict[tuple[str, int], nn.Module] = field(default_factory=dict, repr=False)    # (kind, seed) ->
    histories: dict[tuple[str, int], History] = field(default_factory=dict, repr=False)

    @property
    def scratch_mean(self) -> float:
        return statistics.fmean(self.scratch.values())

    @property
    def distilled_mean(self) -> float:
        return statistics.fmean(self.distilled.values())

    @property
    def gap_closed(self) -> float:
        """Gap closed by the means over seeds (the headline number)."""
        return gap_closed(self.scratch_mean, self.distilled_mean, self.teacher_accuracy)

    def lines(self) -> list[str]:
        """One printed line per seed, then the means."""
        out = []
        for s in self.scratch:
            out.append(f"seed {s}: from labels {self.scratch[s]:.3f}  distilled {self.distilled[s]:.3f}  "
                       f"teacher {self.teacher_accuracy:.3f}  gap closed "
                       f"{gap_closed(self.scratch[s], self.distilled[s], self.teacher_accuracy):.0%}")
        out.append(f"mean  : from labels {self.scratch_mean:.3f}  distilled {self.distilled_mean:.3f}  "
                   f"teacher {self.teacher_accuracy:.3f}  gap closed {self.gap_closed:.0%}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


@checked(temperature=(0, math.inf, "()"), alpha=(0, 1))
def compare(data, teacher: CachedTeacher, teacher_accuracy: float, *, student: str = "lenet5-0.5",
            temperature: float = 8.0, alpha: float = 0.9, recipe: Recipe = FULL,
            seeds: Sequence[int] = (0, 1, 2), split: str = "test") -> Comparison:
    """Train the same student from labels and distilled, for each seed; accuracies on ``split``."""
    if len(seeds) == 0:
        raise ValueError("seeds must hold at least one seed")
    X, y = data.split(split)
    result = Comparison(teacher_accuracy)
    for seed in seeds:
        start = time.perf_counter()
        for kind, a in (("scratch", 0.0), ("distilled", alpha)):
            model = build_student(student, seed)
            history = distill(model, data, teacher, temperature=temperature, alpha=a, recipe=recipe, seed=seed)
            getattr(result, kind)[seed] = evaluate(model, X, y)
            result.models[(kind, seed)] = model
            result.histories[(kind, seed)] = history
        result.seconds[seed] = time.perf_counter() - start
    return result


# the omitted class and feature-level transfer live in their own modules; their names stay importable here
from .feature_transfer import FEATURE_METHODS, feature_distill, feature_transfer, stage_pairs, tap_shapes  # noqa: E402, F401
from .omitted import OmittedClass, best_bias_shift, class_accuracy, omitted_class, output_layer, shift_bias  # noqa: E402, F401
