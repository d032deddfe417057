"""Every metric recbench computes, once: its name, how it is shown, which way is better and
what it is computed from. Configs, the evaluator, ``recbench evaluate`` and leaderboards all
read this table; nothing else lists metric names.

Kinds:
    ``accuracy``  per user, from the hits of the top-K list (:mod:`.metrics`)
    ``list``      per user, from the top-K list and train popularity / item vectors
                  (:mod:`.beyond`)
    ``catalog``   one value per run, from every user's top-K list together
                  (:mod:`.catalog`); reported with a bootstrap interval over users
    ``ctr``       one value per run, from the test rows' click probabilities
                  (:mod:`.ctr`, ``task=ctr``); written without ``@K`` (``auc``)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from recbench.errors import RecbenchError, unknown_choice


@dataclass(frozen=True)
class MetricInfo:
    name: str
    display: str
    higher_is_better: bool
    kind: str  # "accuracy" | "list" | "catalog" | "ctr"

    @property
    def per_user(self) -> bool:
        return self.kind in ("accuracy", "list")

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


_TABLE = [
    ("precision", "Precision", True, "accuracy"), ("recall", "Recall", True, "accuracy"),
    ("ndcg", "NDCG", True, "accuracy"), ("map", "MAP", True, "accuracy"),
    ("mrr", "MRR", True, "accuracy"), ("hit", "HitRate", True, "accuracy"),
    ("f1", "F1", True, "accuracy"),
    ("arp", "ARP", False, "list"), ("aplt", "APLT", True, "list"),
    ("aclt", "ACLT", True, "list"), ("epc", "EPC", True, "list"),
    ("novelty", "Novelty", True, "list"), ("ild", "ILD", True, "list"),
    ("coverage", "Coverage", True, "catalog"), ("gini", "Gini", False, "catalog"),
    ("entropy", "Entropy", True, "catalog"), ("poprsp", "PopRSP", False, "catalog"),
    ("popreo", "PopREO", False, "catalog"),
    ("auc", "AUC", True, "ctr"), ("logloss", "LogLoss", False, "ctr"),
    ("gauc", "gAUC", True, "ctr"),
    # generated data with a known truth (synthetic-ctr): the Bayes-optimal predictor's AUC,
    # and how far a model is from it (optimal - model AUC; model - optimal LogLoss)
    ("optimal_auc", "Bayes-optimal AUC", True, "ctr"),
    ("optimal_logloss", "Bayes-optimal LogLoss", False, "ctr"),
    ("optimal_gauc", "Bayes-optimal gAUC", True, "ctr"),
    ("auc_gap", "AUC gap to optimal", False, "ctr"),
    ("logloss_gap", "LogLoss gap to optimal", False, "ctr"),
]
REGISTRY: dict[str, MetricInfo] = {n: MetricInfo(n, d, h, k) for n, d, h, k in _TABLE}
ACCURACY = tuple(n for n, m in REGISTRY.items() if m.kind == "accuracy")
BEYOND = tuple(n for n, m in REGISTRY.items() if m.kind in ("list", "catalog"))
CTR = tuple(n for n, m in REGISTRY.items() if m.kind == "ctr")

_NAME = re.compile(r"^([a-z0-9]+)@(\d+)$")
#: a slice of a metric: ``ndcg@10.gender_F`` (one group) or ``ndcg@10.gender_gap``
_COLUMN = re.compile(r"^([a-z0-9]+@\d+)(?:\.([A-Za-z0-9_\-]+))?$")
#: slice suffixes that measure unfairness between groups: lower is better
GAP_SUFFIXES = ("_gap", "_ratio")


def parse_metric(name: str) -> tuple[str, int]:
    """Parse ``"ndcg@10"`` into ``("ndcg", 10)``; raise a one-line error on bad names."""
    match = _NAME.match(str(name).strip().lower())
    if not match:
        raise RecbenchError(f"bad metric '{name}': write it as <metric>@<k>, e.g. ndcg@10.")
    metric, k = match.group(1), int(match.group(2))
    if metric not in REGISTRY or metric in CTR:
        raise unknown_choice("metric", metric, [n for n in REGISTRY if n not in CTR])
    if k < 1:
        raise RecbenchError(f"bad metric '{name}': k must be >= 1.")
    return metric, k


def parse_column(name: str) -> tuple[str, str | None]:
    """A leaderboard column: ``"NDCG@10"`` -> ``("ndcg@10", None)``,
    ``"ndcg@10.gender_gap"`` -> ``("ndcg@10", "gender_gap")`` (a per-group slice)."""
    text = str(name).strip()
    if text.lower() in CTR:  # a CTR metric: one value per run, no K, no slices
        return text.lower(), None
    base, _, suffix = text.partition(".")
    metric, k = parse_metric(base)
    if suffix and not _COLUMN.match(f"{metric}@{k}.{suffix}"):
        raise RecbenchError(f"bad slice '{suffix}' in '{name}': letters, digits, _ and - only, "
                            f"e.g. ndcg@10.gender_gap.")
    return f"{metric}@{k}", suffix or None


def info(column: str) -> MetricInfo:
    """The :class:`MetricInfo` of a metric or column (``ndcg@10``, ``ndcg@10.gender_F``,
    ``auc``)."""
    base = parse_column(column)[0]
    return REGISTRY[base] if base in CTR else REGISTRY[parse_metric(base)[0]]


def higher_is_better(column: str) -> bool:
    """Direction of a leaderboard column; a group gap or ratio is better when lower."""
    _, suffix = parse_column(column)
    if suffix and suffix.endswith(GAP_SUFFIXES):
        return False
    return info(column).higher_is_better


def display_name(column: str) -> str:
    """``"ndcg@10" -> "NDCG@10"``, ``"ndcg@10.gender_gap" -> "NDCG@10 gender_gap"``."""
    base, suffix = parse_column(column)
    if base in CTR:
        return REGISTRY[base].display
    metric, k = parse_metric(base)
    return f"{REGISTRY[metric].display}@{k}" + (f" {suffix}" if suffix else "")


def column_is_per_user(column: str) -> bool:
    """True where per-user values exist for paired significance tests (no slices)."""
    return parse_column(column)[1] is None and info(column).per_user


#: the metrics shown first: default leaderboard columns, a run's ``done:`` line
HEADLINE = ("ndcg@10", "recall@10", "map@10")
#: the default leaderboard columns of CTR runs (task=ctr); HEADLINE_OPTIONAL_CTR where
#: every run logged them (generated data: the gap to the Bayes-optimal predictor)
HEADLINE_CTR = ("auc", "logloss", "gauc")
HEADLINE_OPTIONAL_CTR = ("optimal_auc", "auc_gap", "logloss_gap")
#: further default leaderboard columns, shown when every run logged them (metrics=full)
HEADLINE_BEYOND = ("coverage@10", "gini@10", "arp@10", "aplt@10", "epc@10", "ild@10",
                   "popreo@10")
