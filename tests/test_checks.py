import math

import pytest
import torch

from workbench._checks import check_choice, check_fraction, check_int, check_number


def test_fraction_message_names_argument_and_interval():
    with pytest.raises(ValueError, match=r"^amount must be in \[0, 1\), got 1.5$"):
        check_fraction("amount", 1.5, high_inclusive=False)
    assert check_fraction("amount", 0) == 0.0


@pytest.mark.parametrize("bad", [float("nan"), "0.5", None, True])
def test_number_refuses_nan_strings_and_bools(bad):
    with pytest.raises(ValueError, match="^lr must be"):
        check_number("lr", bad, 0, 1)


def test_open_intervals_and_infinity():
    with pytest.raises(ValueError, match=r"^t must be in \(0, inf\], got 0$"):
        check_number("t", 0, 0, math.inf, low_inclusive=False)
    assert check_number("t", 1e9, 0, math.inf, low_inclusive=False) == 1e9


def test_int_refuses_floats_and_out_of_range():
    with pytest.raises(ValueError, match=r"^bits must be an integer in \[1, 32\], got 2.5$"):
        check_int("bits", 2.5, 1, 32)
    with pytest.raises(ValueError, match=r"^bits must be in \[1, 32\], got 33$"):
        check_int("bits", 33, 1, 32)


def test_choice_lists_valid_options():
    with pytest.raises(ValueError, match=r"^unknown model 'vgg16'; name must be one of: a, b$"):
        check_choice("name", "vgg16", ["a", "b"], what="model")


# ---------------------------------------------------------------- checked: checks from the signature
from torch import nn  # noqa: E402

from workbench._checks import ArgumentError, checked  # noqa: E402


@checked(amount=(0, 1, "[)"), ndim={"y": 1})
def _toy(model: nn.Module, x: torch.Tensor, amount: float, y: torch.Tensor | None = None, *, name: str = "a") -> float:
    return amount


def test_checked_names_the_argument_for_each_class_of_bad_input():
    m, x = nn.Linear(2, 2), torch.ones(3, 2)
    assert _toy(m, x, 0.5) == 0.5
    cases = [((None, x, 0.5), "model must be an nn.Module, got None"),
             (("m", x, 0.5), "model must be an nn.Module, got str"),
             ((m, torch.empty(0, 2), 0.5), r"x must hold at least one value, got shape \(0, 2\)"),
             ((m, torch.tensor([float("nan")]), 0.5), "x holds nan or inf"),
             ((m, x, float("nan")), r"amount must be in \[0, 1\), got nan"),
             ((m, x, 1.0), r"amount must be in \[0, 1\), got 1"),
             ((m, x, "0.5"), "amount must be a number"),
             ((m, x, 0.5, torch.ones(2, 2)), r"y must be 1-D, got shape \(2, 2\)")]
    for args, message in cases:
        with pytest.raises(ValueError, match=f"^{message}"):
            _toy(*args)
    with pytest.raises(TypeError, match="bitz"):
        _toy(m, x, 0.5, bitz=4)
    with pytest.raises(ValueError, match="name must be a string"):
        _toy(m, x, 0.5, name=3)


def test_argument_errors_are_both_value_and_type_errors():
    assert issubclass(ArgumentError, ValueError) and issubclass(ArgumentError, TypeError)


def test_make_explorer_names_amount_not_the_sliders_value():
    from workbench.pruning import make_explorer

    with pytest.raises(ValueError, match=r"^amount must be in \[0, 0.95\], got 1.5$"):
        make_explorer(amount=1.5)
