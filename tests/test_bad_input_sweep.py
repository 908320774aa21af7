"""Every public callable gets bad input of every class the issue lists, and answers it clearly.

The sweep itself lives in ``tests/sweep_support.py`` (``python tests/sweep_support.py``
prints the same summary); this test holds it to the targets.
"""

import pytest

import sweep_support as sweep


@pytest.fixture(scope="module")
def result():
    out = sweep.run_sweep()
    print("\n" + out.summary())
    return out


def test_every_package_names_its_public_api():
    assert sweep.packages_without_all() == []


def test_every_public_callable_has_an_example_or_a_reason(result):
    assert result.missing == [], "add an example to OVERRIDES/VALID or an EXEMPT reason for: " + ", ".join(result.missing)
    assert all(reason.strip() for reason in sweep.EXEMPT.values())


def test_examples_run_with_valid_arguments(result):
    assert result.broken == []


def test_bad_inputs_get_an_error_that_names_the_argument(result):
    counts = result.counts()
    total = len(result.results)
    assert counts["GOOD"] / total >= 0.98, result.summary()


def test_no_nan_inf_or_out_of_range_value_is_silently_accepted(result):
    accepted = [r for r in result.results if r.outcome == "ACCEPTED" and r.bad.cls in ("nan", "inf", "-inf", "range")]
    assert accepted == []


def test_no_raw_error_from_inside_a_library(result):
    assert [r for r in result.results if r.inside_library] == []
