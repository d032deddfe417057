"""Declared hyper-parameter ranges (recbench/models/constraints.py), by hand."""

from __future__ import annotations

import math

import pytest

from recbench.errors import RecbenchError
from recbench.models.constraints import (AT_LEAST_ONE, DROPOUT, POSITIVE, Interval, OneOf,
                                         ParameterError, check_params)
from recbench.models.ease import EASE
from recbench.models.slim import SLIM


@pytest.mark.parametrize("rule,inside,outside,text", [
    (POSITIVE, [1e-9, 5], [0, -1, math.nan, "abc", None], "> 0"),
    (AT_LEAST_ONE, [1, 7], [0, 0.5, math.nan], ">= 1"),
    (DROPOUT, [0, 0.99], [1, -0.1, math.nan], "in [0, 1)"),
    (Interval(0, 1, "neither"), [0.5], [0, 1], "in (0, 1)"),
    (Interval(None, 3, "right"), [-5, 3], [3.5], "<= 3"),
    (OneOf(("cosine", "jaccard")), ["cosine"], ["Cosine", None, 1], "one of cosine, jaccard"),
])
def test_rules_contain_and_describe(rule, inside, outside, text):
    assert all(v in rule for v in inside) and not any(v in rule for v in outside)
    assert str(rule) == text


def test_first_violation_is_one_line_naming_model_argument_rule_and_value():
    rules = {"a": AT_LEAST_ONE, "n_jobs": (AT_LEAST_ONE, OneOf((-1,)))}
    check_params("M", {"a": 2, "n_jobs": -1}, rules)  # an alternative suffices
    with pytest.raises(ParameterError, match=r"^M n_jobs must be >= 1 or one of -1, got 0$"):
        check_params("M", {"a": 2, "n_jobs": 0}, rules)


def test_models_raise_an_error_the_cli_and_python_both_understand():
    with pytest.raises(ParameterError) as err:
        EASE(l2=-1)
    assert isinstance(err.value, ValueError) and isinstance(err.value, RecbenchError)
    assert str(err.value) == "EASE l2 must be > 0, got -1"
    assert SLIM.parameter_constraints["l1_ratio"].high == 1  # declared, readable
