"""Declared hyper-parameter ranges, scikit-learn's ``_parameter_constraints`` for recbench
models: each model class lists, per constructor argument, what it accepts, and its
constructor calls :meth:`recbench.models.base.Recommender.check_params` first. Types come
from the constructor's annotations (checked by :mod:`recbench.config` before anything is
built); ranges live here, once per model, instead of hand-written ``if`` chains. Rules
that tie two arguments together (SASRec's ``n_heads`` dividing ``dim``) stay in the
constructor.

The error is one line, ``<Model> <argument> must be <rule>, got <value>``; it is both a
``ValueError`` (what a wrong argument is in Python) and a :class:`RecbenchError` (what the
command line prints without a traceback).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recbench.errors import RecbenchError


class ParameterError(RecbenchError, ValueError):
    """A hyper-parameter outside its declared range."""


@dataclass(frozen=True)
class Interval:
    """Numbers between ``low`` and ``high`` (None: unbounded); ``closed`` says which ends
    belong: ``"both"``, ``"left"``, ``"right"`` or ``"neither"``. NaN is never inside."""

    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def __contains__(self, value: Any) -> bool:
        try:
            value = float(value)
        except (TypeError, ValueError, OverflowError):  # an int beyond 1e308 is no float
            return False
        low_ok = self.low is None or (value >= self.low if self.closed in ("both", "left")
                                      else value > self.low)
        high_ok = self.high is None or (value <= self.high if self.closed in ("both", "right")
                                        else value < self.high)
        return value == value and low_ok and high_ok

    def __str__(self) -> str:
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.high is None:
            return f"{'>=' if left else '>'} {self.low:g}"
        if self.low is None:
            return f"{'<=' if right else '<'} {self.high:g}"
        return f"in {'[' if left else '('}{self.low:g}, {self.high:g}{']' if right else ')'}"


@dataclass(frozen=True)
class OneOf:
    """One of the listed values (compared exactly: ``"Cosine"`` is not ``"cosine"``)."""

    choices: tuple

    def __contains__(self, value: Any) -> bool:
        return any(value == c and type(value) is type(c) for c in self.choices)

    def __str__(self) -> str:
        return "one of " + ", ".join(str(c) for c in self.choices)


POSITIVE = Interval(0, None, "neither")   #: > 0
NON_NEGATIVE = Interval(0, None)          #: >= 0
AT_LEAST_ONE = Interval(1, None)          #: >= 1 (counts, sizes)
FRACTION = Interval(0, 1)                 #: in [0, 1]
DROPOUT = Interval(0, 1, "left")          #: in [0, 1)


def check_params(owner: str, values: dict[str, Any], constraints: dict[str, Any]) -> None:
    """Raise :class:`ParameterError` for the first of ``values`` outside its constraint
    (a constraint may be a tuple of alternatives: any one suffices)."""
    for name, rule in constraints.items():
        value = values[name]
        rules = rule if isinstance(rule, tuple) else (rule,)
        if not any(value in r for r in rules):
            shown = " or ".join(str(r) for r in rules)
            raise ParameterError(f"{owner} {name} must be {shown}, got {value!r}")
