"""The ``metrics`` config group, described once (:mod:`recbench.settings`): each key's type,
accepted values and whether it changes results, apart from the numeric code (no numpy, no
torch) so that checking a config stays fast. Values: configs/metrics/default.yaml; what
the suite options mean: :mod:`.popularity` and :mod:`.suite`.
"""

from __future__ import annotations

from typing import Any

from recbench.errors import RecbenchError
from recbench.evaluation.registry import SAMPLERS
from recbench.models.constraints import AT_LEAST_ONE, NON_NEGATIVE, Interval, OneOf
from recbench.settings import Setting, check_group

TAIL_RULES = ("head_share", "bottom_fraction")
VECTOR_SOURCES = ("auto", "features", "interactions")
SHARE = Interval(0, 1, "right")  #: in (0, 1]


def _feature_name(value: Any, node: Any, where: str) -> None:
    if not isinstance(value, str):
        raise RecbenchError(f"{where} must be a feature name, got {value!r}.")


def _feature_names(value: Any, node: Any, where: str) -> None:
    if not hasattr(value, "__iter__") or isinstance(value, str) or not all(
            isinstance(g, str) and g for g in value):
        raise RecbenchError(f"{where} must be a list of user feature names, e.g. "
                            f"[gender, age], got {value!r}.")


#: ``metrics.sampled``: how sampled ranking draws the items each test item is ranked
#: against (:mod:`.sampled`); read only under ``ranking: sampled``
SAMPLED = {
    "n": Setting("int", AT_LEAST_ONE, says="a positive integer (items drawn per user)"),
    "sampler": Setting("str", OneOf(SAMPLERS)),
    "seed": Setting("int", NON_NEGATIVE),
}


def _sampled(value: Any, node: Any, where: str) -> None:
    from omegaconf import OmegaConf

    if not isinstance(value, dict):
        raise RecbenchError(f"{where} must be a mapping like {{n: 100, sampler: uniform, "
                            f"seed: 0}}, got {value!r}.")
    check_group(OmegaConf.create(value), SAMPLED, where)
    missing = sorted(set(SAMPLED) - set(value))
    if missing:
        raise RecbenchError(f"{where} lacks {', '.join(missing)}; e.g. {where}.n=100.")


#: the ``metrics`` node; names, ks and valid_metric are checked against the metric
#: registry by :func:`recbench.config.validate`
METRICS = {
    # full: every item ranked; sampled: each test item against metrics.sampled.n drawn items
    "ranking": Setting("str", OneOf(("full", "sampled"))),
    # under ranking=full it is left out of the config hash and params
    # (recbench.config.HASHED_UNLESS_VALUE): runs logged before it existed keep their hashes
    "sampled": Setting("dict", _sampled),
    "names": Setting("list"),
    "ks": Setting("list"),
    "valid_metric": Setting("str"),
    "chunk_size": Setting("int", AT_LEAST_ONE, result=False,  # memory, not results
                          says="a positive integer"),
    "tail_rule": Setting("str", OneOf(TAIL_RULES)),
    "head_share": Setting("float", SHARE, says="a fraction in (0, 1]"),
    "tail_fraction": Setting("float", SHARE, says="a fraction in (0, 1]"),
    "item_vectors": Setting("str", OneOf(VECTOR_SOURCES)),
    "item_feature": Setting("str", _feature_name),
    "activity_groups": Setting("int", NON_NEGATIVE),
    "user_groups": Setting("list[str]", _feature_names),
    "bootstrap": Setting("int", NON_NEGATIVE),
    "bootstrap_seed": Setting("int", NON_NEGATIVE),
}


def check_options(tail_rule: str, head_share: float, tail_fraction: float,
                  item_vectors: str) -> None:
    """One-line errors for the options :class:`~.popularity.ItemStats` is built with."""
    for key, value in (("tail_rule", tail_rule), ("head_share", head_share),
                       ("tail_fraction", tail_fraction), ("item_vectors", item_vectors)):
        METRICS[key].check(value, None, f"metrics.{key}")
