"""Exercise feedback diagnoses: every check, a list of wrong answers, and the hint each must get.

The listed mistakes of every exercise module are found automatically, so an exercise
added tomorrow is covered the day it lands.
"""

import importlib
import pkgutil
import statistics

import pytest
import torch
import torch.nn.functional as F

import workbench.exercises as exercises_pkg
from workbench.exercises import Case, Exercise, close
from workbench.exercises import diagnose as dg
from workbench.exercises import distillation as kd_ex
from workbench.exercises import measuring as meas_ex
from workbench.exercises import pruning as prune_ex
from workbench.exercises import quantization as quant_ex
from workbench.solutions import distillation as kd_ref
from workbench.solutions import measuring as meas_ref
from workbench.solutions import pruning as prune_ref
from workbench.solutions import quantization as quant_ref


def _all_exercises():
    found = []
    for info in pkgutil.iter_modules(exercises_pkg.__path__):
        module = importlib.import_module(f"workbench.exercises.{info.name}")
        found += [(f"{info.name}.{name}", obj) for name, obj in vars(module).items() if isinstance(obj, Exercise)]
    return found


EXERCISES = _all_exercises()


def test_every_topic_module_is_discovered():
    topics = {name.split(".")[0] for name, _ in EXERCISES}
    assert {"measuring", "pruning", "quantization", "distillation"} <= topics


@pytest.mark.parametrize("name,exercise", EXERCISES, ids=[n for n, _ in EXERCISES])
def test_reference_passes_and_each_listed_mistake_gets_its_own_hint(name, exercise):
    assert exercise.check(exercise.reference).passed
    for hint, wrong in exercise.mistakes.items():
        feedback = exercise.check(wrong)
        assert not feedback.passed, (name, hint)
        assert feedback.message.endswith(f"Hint: {hint}"), (name, str(feedback))
    for note, other in exercise.equivalents.items():
        feedback = exercise.check(other)
        assert feedback.passed and feedback.message.endswith(note), (name, str(feedback))


def _off_by_one_masks(weights, amount):
    n = sum(w.numel() for w in weights.values())
    k = round(amount * n) + 1                                    # one weight too many removed
    threshold = torch.cat([w.abs().flatten() for w in weights.values()]).sort().values[k - 1]
    return {name: w.abs() > threshold for name, w in weights.items()}


def _bits_forgot_to_raise(sizes, budget, options=(8, 4, 2, 1)):
    return quant_ex._bits_not_bytes(sizes, budget, options)


# (check, wrong answer, the words its hint must contain)
WRONG_ANSWERS = [
    (meas_ex.check_conv_macs, lambda *a, **k: meas_ref.conv_macs(*a, **k) + 1, "off by one"),
    (meas_ex.check_conv_macs, lambda *a, **k: 2 * meas_ref.conv_macs(*a, **k), "2 FLOPs per MAC"),
    (meas_ex.check_csr_bytes, lambda w: 8 * meas_ref.csr_bytes(w), "bits where bytes were expected"),
    (meas_ex.check_csr_bytes, lambda w: meas_ref.csr_bytes(w) + 4, "same constant (+4)"),
    (meas_ex.check_speedup, lambda b, c: 100 * meas_ref.speedup(b, c), "not a percentage"),
    (meas_ex.check_speedup, lambda b, c: statistics.median(c) / statistics.median(b), "baseline time / candidate"),
    (prune_ex.check_global_magnitude_masks, _off_by_one_masks, "off by one at the threshold"),
    (prune_ex.check_global_magnitude_masks, lambda w, a: prune_ref.global_magnitude_masks(w, 1 - a),
     "fraction REMOVED"),
    (prune_ex.check_apoz, lambda a: (a == 0).float().sum(dim=(0, 2, 3)), "a sum where a mean over axes 0, 2, 3"),
    (prune_ex.check_apoz, lambda a: (a == 0).float().mean(dim=(0, 1, 3)), "which axes you reduce over"),
    (prune_ex.check_apoz, lambda a: -prune_ref.apoz(a), "opposite sign"),
    (prune_ex.check_cubic_sparsity, lambda *a: 100 * prune_ref.cubic_sparsity(*a), "not a percentage"),
    (quant_ex.check_scale_zero_point,
     lambda x, b=8: (quant_ref.scale_zero_point(x, b)[0], quant_ref.scale_zero_point(x, b)[1] + 1), "off by one"),
    (quant_ex.check_scale_zero_point,
     lambda x, b=8: (2 * quant_ref.scale_zero_point(x, b)[0], quant_ref.scale_zero_point(x, b)[1]), "factor of 2"),
    (quant_ex.check_choose_bits, _bits_forgot_to_raise, "total in bits with a budget in bytes"),
    (kd_ex.check_kd_loss,
     lambda z, v, y, t, a: a * t * F.kl_div(F.log_softmax(z / t, 1), F.softmax(v / t, 1), reduction="batchmean")
     + (1 - a) * F.cross_entropy(z, y), "T**2, not T"),
    (kd_ex.check_kd_loss, lambda *a: -kd_ref.kd_loss(*a), "opposite sign"),
    (kd_ex.check_softened_softmax, lambda z, t: 100 * F.softmax(z / t, -1), "not a percentage"),
]


@pytest.mark.parametrize("check,wrong,words", WRONG_ANSWERS, ids=[f"{c.__name__}-{w}" for c, _, w in WRONG_ANSWERS])
def test_wrong_answers_get_the_right_diagnosis(check, wrong, words):
    feedback = check(wrong)
    assert not feedback.passed
    assert "Hint:" in feedback.message and words in feedback.message, str(feedback)


def test_an_off_by_one_is_not_called_a_fraction_kept():
    feedback = prune_ex.check_global_magnitude_masks(_off_by_one_masks)
    assert "fraction REMOVED" not in str(feedback)


def test_the_cross_entropy_form_of_the_kd_loss_is_accepted_with_the_reason():
    def kd_with_cross_entropy(z, v, y, t, a):
        soft = -(F.softmax(v / t, 1) * F.log_softmax(z / t, 1)).sum(1).mean()
        return a * t**2 * soft + (1 - a) * F.cross_entropy(z, y)

    feedback = kd_ex.check_kd_loss(kd_with_cross_entropy)
    assert feedback.passed and "teacher's entropy" in str(feedback)


def test_a_hint_that_fits_one_case_by_chance_is_not_given():
    exercise = Exercise("double", reference=lambda x: 2 * x, cases=[Case((3,)), Case((5,))],
                        mistakes={"you squared": lambda x: x * x if x == 3 else -1})
    feedback = exercise.check(lambda x: x * x)                  # 9 and 25: the mistake fits case 1 only
    assert "you squared" not in str(feedback)


def test_an_arbitrary_ratio_on_one_number_is_no_diagnosis():
    exercise = Exercise("double", reference=lambda x: 2 * x, cases=[Case((3,))])
    assert "Hint" not in str(exercise.check(lambda x: 11))


# ---------------------------------------------------------------- the diagnosis itself
@pytest.mark.parametrize("got,expected,words", [
    (torch.tensor([20.0, 40.0]), torch.tensor([0.2, 0.4]), "not a percentage"),
    (torch.tensor([-1.0, 2.0]), torch.tensor([1.0, -2.0]), "opposite sign"),
    (torch.tensor([1.0, 2.0]), torch.tensor([1.0, -2.0]), "absolute values"),
    (torch.tensor([1.0, -2.0]), torch.tensor([1.0, 2.0]), "magnitude |x|"),
    (torch.tensor([3.0, 4.0]), torch.tensor([2.0, 3.0]), "off by one"),
    (torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 3.0], [2.0, 4.0]]), "transpose"),
    (torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "wrong shape"),
    (torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([4.0, 6.0]), "kept axis 0"),
    (torch.tensor([1, 2], dtype=torch.int64), torch.tensor([1, 2], dtype=torch.int8), "dtype is int64"),
    (torch.tensor([2.0, 1.0]), torch.tensor([1.0, 2.0]), "different order"),
    (torch.tensor([True, False, False]), torch.tensor([True, True, False]), "one element fewer"),
    (torch.tensor([float("nan"), 1.0]), torch.tensor([0.5, 0.5]), "nan or inf"),
])
def test_relations_are_named(got, expected, words):
    assert words in dg.describe(dg.relation(got, expected))


def test_factors_named_by_the_arguments_and_the_axes():
    x = torch.ones(4, 3)
    assert dg.consistent([(12.0, 3.0, {"x": x})]) == "your answer is a sum where a mean over axis 0 of x was expected."
    assert dg.consistent([(16.0, 1.0, {"temperature": 4.0})]) == "your answer is a factor temperature² too large."
    assert dg.consistent([(0.25, 1.0, {"temperature": 4.0}), (0.5, 1.0, {"temperature": 2.0})]) == \
        "your answer is missing a factor temperature."


def test_consistent_needs_every_case_to_agree():
    assert dg.consistent([(6.0, 3.0, ()), (10.0, 5.0, ())]).startswith("your answer is 2×")
    assert dg.consistent([(6.0, 3.0, ()), (11.0, 5.0, ())]) is None
    assert dg.consistent([(4.0, 3.0, ()), (6.0, 5.0, ())]).startswith("your answer is 1 more")
    assert "same constant (+0.5)" in dg.consistent([(3.5, 3.0, ()), (5.5, 5.0, ())])
    assert dg.consistent([]) is None


def test_dicts_and_pairs_are_diagnosed_part_by_part():
    got, expected = {"a": torch.tensor([2.0, 4.0]), "b": torch.tensor([1.0])}, {"a": torch.tensor([1.0, 2.0]),
                                                                                 "b": torch.tensor([1.0])}
    assert "2×" in dg.describe(dg.relation(got, expected))
    assert "off by one" in dg.describe(dg.relation((0.5, 3), (0.5, 2)))
    assert dg.relation({"a": 1}, {"b": 1}) is None
    assert dg.relation("text", 1.0) is None


def test_zero_and_infinite_ratios_do_not_break_the_diagnosis():
    # got 0 where 2 was expected: no ratio to speak of, but the offset is still a candidate
    assert [t for t, _ in dg.candidates(dg.relation(0.0, 2.0))] == [
        "your answer differs from the expected one by the same constant (-2) everywhere: a term that does not "
        "depend on the input is added or missing."]
    assert dg.consistent([(5.0, 0.0, ()), (5.0, 0.0, ())]).startswith("your answer differs")
    feedback = Exercise("zero", reference=lambda x: 0.0, cases=[Case((1.0,))]).check(lambda x: 5.0)
    assert str(feedback) == "✗ zero, case 1 (x=1.0): got 5, expected 0."
