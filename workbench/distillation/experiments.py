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

import statistics
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice, check_fraction, check_int, check_number
from ..models import build
from ..train import History, evaluate, predict, train
from .features import FeatureTap, Guided, TeacherFeatures, feature_layers
from .losses import Regressor, attention_loss, hint_loss, kd_loss
from .teachers import CachedTeacher

# student name -> build arguments (small models the CPU trains in seconds)
STUDENTS: dict[str, dict] = {
    "lenet5-0.5": dict(name="lenet5", width=0.5),     # 35,820 params, 154 k MACs: conv channels (3, 8)
    "lenet5-0.25": dict(name="lenet5", width=0.25),   # 23,390 params, 82 k MACs: conv channels (2, 4)
    "mlp-30": dict(name="lenet300", hidden=(30,)),    # 23,860 params: one hidden layer of 30
}


def build_student(name: str = "lenet5-0.5", seed: int = 0) -> nn.Module:
    """A fresh, untrained student from :data:`STUDENTS`.

    >>> build_student("mlp-30").config["hidden"]
    (30,)
    """
    check_choice("name", name, STUDENTS, what="student")
    return build(**STUDENTS[name], seed=seed)


@dataclass(frozen=True)
class Recipe:
    """How every student here is trained (Adam, cosine schedule): the budget is the same for all."""

    num_epochs: int = 200     # passes over the transfer set (350 digits: 6 steps each)
    lr: float = 3e-3          # Adam learning rate, annealed to zero
    batch_size: int = 64
    schedule: str = "cosine"
    threads: int | None = 1   # intra-op threads while training (None: leave PyTorch's setting)


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


# ---------------------------------------------------------------- the omitted class (Hinton et al. section 3)


def class_accuracy(logits: Tensor, y: Tensor, digit: int) -> float:
    """Accuracy on the examples of class ``digit`` only.

    >>> class_accuracy(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), torch.tensor([0, 1, 1]), 1)
    0.5
    """
    mask = y == digit
    if not mask.any():
        raise ValueError(f"digit {digit} has no examples in y")
    return (logits[mask].argmax(1) == digit).float().mean().item()


def best_bias_shift(logits: Tensor, y: Tensor, digit: int, shifts: Sequence[float] | None = None) -> float:
    """The shift of class ``digit``'s logit (its bias) that maximises accuracy on ``(logits, y)``.

    Choose it on the validation split. Ties go to the smallest shift.

    >>> best_bias_shift(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([1, 1]), 1, [0.0, 0.5, 1.5])
    1.5
    """
    check_int("digit", digit, 0, logits.shape[1] - 1)
    shifts = [float(s) for s in (shifts if shifts is not None else torch.arange(0.0, 20.01, 0.25).tolist())]
    if not shifts:
        raise ValueError("shifts must hold at least one value")
    onehot = F.one_hot(torch.tensor(digit), logits.shape[1]).float()
    accs = [((logits + s * onehot).argmax(1) == y).float().mean().item() for s in shifts]
    best = max(accs)
    return min(s for s, a in zip(shifts, accs) if a == best)


def output_layer(model: nn.Module) -> nn.Linear:
    """The last ``nn.Linear`` of ``model``: the layer whose bias holds each class's prior."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("model must end in an nn.Linear layer (none found)")
    return linears[-1]


@torch.no_grad()
def shift_bias(model: nn.Module, digit: int, shift: float) -> nn.Module:
    """Add ``shift`` to the output bias of class ``digit`` (in place); returns ``model``."""
    layer = output_layer(model)
    check_int("digit", digit, 0, layer.out_features - 1)
    layer.bias[digit] += float(shift)
    return model


@dataclass
class OmittedClass:
    """What a student does on a class it never saw, before and after shifting that class's bias.

    Each shift is chosen on the validation split; accuracies are on the test split.
    """

    digit: int
    shift: float                  # bias shift of the distilled student
    before: float                 # distilled student: accuracy on the omitted digit
    after: float                  # ... after its bias shift
    overall_before: float         # distilled student: accuracy on all digits
    overall_after: float
    labels_shift: float           # the same procedure applied to the student trained from labels
    labels_before: float
    labels_after: float           # ... after its own best shift (0 when no shift helps it on val)
    labels_same: float            # ... after the distilled student's shift instead
    labels_overall_before: float
    labels_overall_same: float
    per_class: dict[str, list[float]] = field(default_factory=dict, repr=False)   # model -> accuracy per class
    model: nn.Module = field(repr=False, default=None)

    def __str__(self) -> str:
        d = self.digit
        none = "  (no shift raised its validation accuracy)" if self.labels_shift == 0 else ""
        return (f"digit {d} never shown to the student; accuracy on the test {d}s (all test digits):\n"
                f"  distilled     {self.before:6.1%} ({self.overall_before:.1%})   its best shift {self.shift:+6.2f}: "
                f"{self.after:6.1%} ({self.overall_after:.1%})\n"
                f"  from labels   {self.labels_before:6.1%} ({self.labels_overall_before:.1%})   its best shift "
                f"{self.labels_shift:+6.2f}: {self.labels_after:6.1%}{none}\n"
                f"  from labels, given the distilled student's shift {self.shift:+.2f}: "
                f"{self.labels_same:6.1%} ({self.labels_overall_same:.1%})")


def _shifted(model: nn.Module, data, digit: int) -> tuple[float, Tensor, Tensor]:
    """(best shift on val, test logits before, test logits after) for ``model``."""
    shift = best_bias_shift(predict(model, data.X_val), data.y_val, digit)
    test = predict(model, data.X_test)
    return shift, test, test + shift * F.one_hot(torch.tensor(digit), test.shape[1]).float()


def omitted_class(data, teacher: CachedTeacher, *, digit: int = 3, student: str = "lenet5-0.5",
                  temperature: float = 8.0, alpha: float = 0.9, recipe: Recipe = FULL,
                  seed: int = 0) -> OmittedClass:
    """Hinton et al.'s experiment: distil without any example of ``digit``, then raise its bias.

    The student trained from labels on the same digits is the control, with its own best
    shift (chosen on val like the distilled student's) and with the distilled student's
    shift: a shift can only recover what the features already separate.
    """
    transfer = omit_class(data, digit)
    scratch = build_student(student, seed)
    distill(scratch, transfer, None, alpha=0.0, recipe=recipe, seed=seed)
    model = build_student(student, seed)
    distill(model, transfer, teacher, temperature=temperature, alpha=alpha, recipe=recipe, seed=seed)
    y = data.y_test
    acc = lambda z: (z.argmax(1) == y).float().mean().item()
    s_shift, s_before, s_after = _shifted(scratch, data, digit)
    shift, before, after = _shifted(model, data, digit)
    shift_bias(model, digit, shift)
    s_same = s_before + shift * F.one_hot(torch.tensor(digit), s_before.shape[1]).float()   # the control
    classes = range(data.num_classes)
    per_class = {name: [class_accuracy(z, y, c) for c in classes] for name, z in (
        ("from labels", s_before), (f"from labels, bias {shift:+.2f}", s_same),
        ("distilled", before), (f"distilled, bias {shift:+.2f}", after))}
    return OmittedClass(digit, shift, class_accuracy(before, y, digit), class_accuracy(after, y, digit),
                        acc(before), acc(after), s_shift, class_accuracy(s_before, y, digit),
                        class_accuracy(s_after, y, digit), class_accuracy(s_same, y, digit),
                        acc(s_before), acc(s_same), per_class, model)


# ---------------------------------------------------------------- feature-level transfer

FEATURE_METHODS: dict[str, str] = {
    "labels": "from labels alone (cross-entropy)",
    "kd": "logits only: Hinton et al.'s soft targets",
    "kd + attention": "soft targets + attention transfer at every stage (Zagoruyko & Komodakis 2017)",
    "kd + hint": "FitNets (Romero et al. 2015): first regress the teacher's first-stage map, then soft targets",
}


def stage_pairs(student: nn.Module, teacher: nn.Module) -> list[tuple[str, str]]:
    """(student layer, teacher layer) for each stage both have, early to late.

    >>> stage_pairs(build("lenet5"), build("vgg"))
    [('features.2', 'features.3'), ('features.5', 'features.7')]
    """
    s, t = feature_layers(student), feature_layers(teacher)
    return list(zip(s, t))


def feature_distill(student: nn.Module, data, teacher: nn.Module, logits: CachedTeacher, *, method: str = "kd + attention",
                    temperature: float = 8.0, alpha: float = 0.9, beta: float = 1000.0, recipe: Recipe = FULL,
                    seed: int = 0, features: CachedTeacher | None = None) -> History:
    """Distil with a feature-level term added (``method`` from :data:`FEATURE_METHODS`); trains in place.

    ``beta`` weighs the attention term as in the paper (``beta / 2`` times the summed
    per-stage losses, 1000 there). For ``"kd + hint"`` the first quarter of the epochs
    trains the student's first stage and a 1x1 regressor to predict the teacher's
    first-stage map (FitNets' stage 1); the rest is plain KD, so the step budget is
    the same. ``features`` may pass a cache of ``TeacherFeatures`` (built if omitted).
    """
    check_choice("method", method, FEATURE_METHODS, what="method")
    check_number("beta", beta, 0.0)
    if method == "labels":
        return distill(student, data, None, alpha=0.0, recipe=recipe, seed=seed)
    if method == "kd":
        return distill(student, data, logits, temperature=temperature, alpha=alpha, recipe=recipe, seed=seed)
    pairs = stage_pairs(student, teacher)
    if method == "kd + hint":
        pairs = pairs[:1]
    s_layers, t_layers = [p[0] for p in pairs], [p[1] for p in pairs]
    t_features = TeacherFeatures(teacher, t_layers)
    if features is None:
        features = CachedTeacher(t_features, data.X_train)
    else:
        t_features = features.teacher
        if t_features.layers != tuple(t_layers):
            raise ValueError(f"features must cache the teacher layers {t_layers}, got {list(t_features.layers)}")
    tap = FeatureTap(student, s_layers)
    try:
        if method == "kd + attention":
            def loss_fn(z: Tensor, y: Tensor, X: Tensor) -> Tensor:
                at = sum(attention_loss(s, t) for s, t in zip(tap.outputs, t_features.unflatten(features(X))))
                return kd_loss(z, logits(X), y, temperature, alpha) + beta / 2 * at
            with threads(recipe.threads):
                return train(student, data, num_epochs=recipe.num_epochs, lr=recipe.lr,
                             batch_size=recipe.batch_size, schedule=recipe.schedule, loss_fn=loss_fn, seed=seed,
                             progress=False, desc=method)
        hint_epochs = max(1, recipe.num_epochs // 4)
        with torch.no_grad():
            s_shape = tap_shapes(student, s_layers, data.input_shape)[0]
        regressor = Regressor(s_shape[0], t_features.shapes[0][0])
        guided = Guided(student, [regressor])
        with threads(recipe.threads):
            train(guided, data, num_epochs=hint_epochs, lr=recipe.lr, batch_size=recipe.batch_size,
                  schedule=recipe.schedule, seed=seed, progress=False, desc="FitNets stage 1: hint",
                  loss_fn=lambda z, y, X: hint_loss(tap.outputs[0], t_features.unflatten(features(X))[0], regressor))
    finally:
        tap.close()
    rest = replace(recipe, num_epochs=recipe.num_epochs - hint_epochs)
    return distill(student, data, logits, temperature=temperature, alpha=alpha, recipe=rest, seed=seed)


def tap_shapes(model: nn.Module, layers: Sequence[str], input_shape: Sequence[int]) -> list[tuple[int, ...]]:
    """The ``(C, H, W)`` of each layer's output for one input of ``input_shape``."""
    with FeatureTap(model, layers) as tap, torch.no_grad():
        predict(model, torch.zeros(1, *input_shape))
        return [tuple(o.shape[1:]) for o in tap.outputs]


def feature_transfer(data, teacher: nn.Module, logits: CachedTeacher, *, student: str = "lenet5-0.5",
                     methods: Sequence[str] = tuple(FEATURE_METHODS), seeds: Sequence[int] = (0,),
                     recipe: Recipe = FULL, split: str = "test", **kwargs) -> dict[str, dict[int, float]]:
    """Test accuracy of the same student trained by each method, per seed: ``{method: {seed: acc}}``."""
    for m in methods:
        check_choice("methods", m, FEATURE_METHODS, what="method")
    X, y = data.split(split)
    caches: dict[tuple[str, ...], CachedTeacher] = {}
    out: dict[str, dict[int, float]] = {m: {} for m in methods}
    for seed in seeds:
        for method in methods:
            model = build_student(student, seed)
            features = None
            if method in ("kd + attention", "kd + hint"):
                pairs = stage_pairs(model, teacher)[: 1 if method == "kd + hint" else None]
                key = tuple(p[1] for p in pairs)
                if key not in caches:
                    caches[key] = CachedTeacher(TeacherFeatures(teacher, key), data.X_train)
                features = caches[key]
            feature_distill(model, data, teacher, logits, method=method, recipe=recipe, seed=seed,
                            features=features, **kwargs)
            out[method][seed] = evaluate(model, X, y)
    return out
