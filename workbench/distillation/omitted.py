"""The omitted class (Hinton et al. 2015, section 3): a digit the student never sees.

The student learns the other nine digits, from labels or from the teacher's soft
targets; the soft targets still carry how much each training digit resembles a 3.

    >>> class_accuracy(torch.tensor([[0.0, 1.0]]), torch.tensor([1]), 1)
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_int, checked
from ..train import predict
from .experiments import FULL, Recipe, build_student, distill, omit_class
from .teachers import CachedTeacher


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


@checked(temperature=(0, math.inf, "()"), alpha=(0, 1))
@checked
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

