import pytest
import torch

from workbench.exercises import Case, Exercise, close
from workbench.exercises import measuring as ex
from workbench.solutions import measuring as ref
from workbench.solutions.measuring import conv_macs


def test_reference_solutions_pass():
    for check, fn in [(ex.check_conv_macs, ref.conv_macs), (ex.check_csr_bytes, ref.csr_bytes),
                      (ex.check_speedup, ref.speedup)]:
        feedback = check(fn)
        assert feedback.passed and str(feedback).startswith("✓"), str(feedback)


def test_every_known_mistake_gets_its_own_hint():
    for exercise in (ex._conv, ex._csr, ex._speed):
        for hint, wrong in exercise.mistakes.items():
            feedback = exercise.check(wrong)
            assert not feedback.passed and feedback.message.endswith(f"Hint: {hint}"), (exercise.name, str(feedback))


def test_feedback_says_what_was_returned_and_expected():
    feedback = ex.check_conv_macs(lambda ci, co, k, h, w, groups=1: 2 * conv_macs(ci, co, k, h, w, groups))
    assert str(feedback).startswith("✗ conv_macs, case 1 (LeNet-5 conv1): got 235,200 MACs, expected 117,600 MACs.")


def test_not_attempted_and_crashing_answers():
    def stub(*args):
        raise NotImplementedError

    feedback = ex.check_speedup(stub)
    assert not feedback.attempted and "not attempted yet" in str(feedback)
    crash = ex.check_speedup(lambda b, c: b / c)
    assert "your function raised TypeError" in str(crash) and crash.attempted
    assert "expected a function, got int" in str(ex.check_speedup(3))


def test_an_unknown_wrong_answer_gets_no_misleading_hint():
    feedback = ex.check_conv_macs(lambda *a, **k: 42)
    assert "got 42 MACs" in str(feedback) and "Hint" not in str(feedback)


def test_conv_macs_reference_agrees_with_pytorchs_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    for c_in, c_out, k, size, groups in [(3, 8, 3, 16, 1), (16, 16, 3, 9, 16), (8, 4, 1, 5, 2)]:
        conv = torch.nn.Conv2d(c_in, c_out, k, padding=k // 2, groups=groups)
        with FlopCounterMode(display=False) as counter:
            conv(torch.zeros(1, c_in, size, size))
        assert counter.get_total_flops() // 2 == conv_macs(c_in, c_out, k, size, size, groups)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_csr_reference_agrees_with_torchs_csr_tensor():
    w = torch.randn(30, 40) * (torch.rand(30, 40) > 0.7)
    csr = w.to_sparse_csr()
    expected = 4 * csr.values().numel() + 4 * csr.col_indices().numel() + 4 * csr.crow_indices().numel()
    assert ref.csr_bytes(w) == expected


def test_tensor_comparison_messages():
    compare = close()
    assert compare(torch.ones(2), torch.ones(3)) == "got shape (2,), expected (3,)"
    assert compare(5, torch.ones(2)) == "got a int, expected a tensor of shape (2,)"
    assert "differ from the reference by up to 1" in compare(torch.zeros(2), torch.ones(2))
    assert compare("x", 1.0).startswith("got 'x' (str)")


def test_generic_exercise_describes_cases_by_argument_name():
    exercise = Exercise("scale", reference=lambda x, k=2: x * k, cases=[Case((torch.ones(3),), {"k": 3})])
    feedback = exercise.check(lambda x, k=2: x)
    assert "case 1 (x: tensor (3,), k=3)" in str(feedback)
