import math

import pytest

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
