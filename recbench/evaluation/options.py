"""The ``metrics.*`` options of the beyond-accuracy suite and their checks, apart from the
numeric code (no numpy, no torch) so that checking a config stays fast. Defaults live in
configs/metrics/default.yaml; what each option means: :mod:`.popularity` and :mod:`.suite`.
"""

from __future__ import annotations

from recbench.errors import RecbenchError, unknown_choice

TAIL_RULES = ("head_share", "bottom_fraction")
VECTOR_SOURCES = ("auto", "features", "interactions")
#: the ``metrics.*`` options of the beyond-accuracy suite
OPTION_KEYS = ("tail_rule", "head_share", "tail_fraction", "item_vectors", "item_feature",
               "activity_groups", "user_groups", "bootstrap", "bootstrap_seed")


def check_options(tail_rule: str, head_share: float, tail_fraction: float,
                  item_vectors: str) -> None:
    """One-line errors for bad ``metrics.*`` options of the beyond-accuracy metrics."""
    if tail_rule not in TAIL_RULES:
        raise unknown_choice("metrics.tail_rule", tail_rule, TAIL_RULES)
    for key, value in (("head_share", head_share), ("tail_fraction", tail_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise RecbenchError(f"metrics.{key} must be a fraction in (0, 1], got {value!r}.")
    if item_vectors not in VECTOR_SOURCES:
        raise unknown_choice("metrics.item_vectors", item_vectors, VECTOR_SOURCES)


def check_suite_options(options) -> None:
    """One-line errors for the beyond-accuracy options of the ``metrics`` config node."""
    check_options(options.tail_rule, options.head_share, options.tail_fraction,
                  options.item_vectors)
    for key in ("activity_groups", "bootstrap", "bootstrap_seed"):
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise RecbenchError(f"metrics.{key} must be an integer >= 0, got {value!r}.")
    if not isinstance(options.item_feature, str):
        raise RecbenchError(f"metrics.item_feature must be a feature name, "
                            f"got {options.item_feature!r}.")
    groups = options.user_groups
    if not hasattr(groups, "__iter__") or isinstance(groups, str) or not all(
            isinstance(g, str) and g for g in groups):
        raise RecbenchError(f"metrics.user_groups must be a list of user feature names, "
                            f"e.g. [gender, age], got {groups!r}.")
