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

Ranking protocols. A name without a prefix is scored by full ranking. An accuracy metric
scored by sampled ranking (``metrics.ranking=sampled``, :mod:`.sampled`) carries its protocol
in front of its name: ``s100u_ndcg@10`` is NDCG@10 with each test item ranked against 100
sampled items (``u`` uniform, ``p`` popularity), logged as ``test_s100u_ndcg_10`` and shown
as "NDCG@10 sampled (100, uniform)". Different protocols are different names, so a table
column never mixes them.
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
#: the protocol prefix of a sampled metric: ``s<n><sampler's first letter>_``
_SAMPLED = re.compile(r"^s(\d+)([a-z])_(.*)$")
_LABEL = re.compile(r"^sampled \((\d+), ([a-z]+)\)$")
SAMPLERS = ("uniform", "popularity")  #: how sampled ranking draws its items (metrics.sampled)
#: a slice of a metric: ``ndcg@10.gender_F`` (one group) or ``ndcg@10.gender_gap``
_COLUMN = re.compile(r"^([a-z0-9]+@\d+)(?:\.([A-Za-z0-9_\-]+))?$")
#: slice suffixes that measure unfairness between groups: lower is better
GAP_SUFFIXES = ("_gap", "_ratio")


@dataclass(frozen=True)
class SampledRanking:
    """The protocol of a sampled metric: each test item ranked against ``n`` items drawn
    by ``sampler`` (:mod:`.sampled`)."""

    n: int
    sampler: str

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise unknown_choice("sampler", self.sampler, SAMPLERS)
        if not isinstance(self.n, int) or isinstance(self.n, bool) or self.n < 1:
            raise RecbenchError(f"the number of sampled items must be an integer >= 1, "
                                f"got {self.n!r}.")

    @property
    def prefix(self) -> str:
        """``"s100u"`` (``p``: popularity)."""
        return f"s{self.n}{self.sampler[0]}"

    @property
    def label(self) -> str:
        """``"sampled (100, uniform)"``: how headers, tags and tables name the protocol."""
        return f"sampled ({self.n}, {self.sampler})"

    def name(self, metric: str) -> str:
        """``"ndcg@10" -> "s100u_ndcg@10"``."""
        return f"{self.prefix}_{metric}"


def sampled_ranking(name: str) -> SampledRanking | None:
    """The sampled protocol a metric name (or column, ``_std`` and slices included) carries,
    None for full ranking: ``"s100u_ndcg@10" -> SampledRanking(100, "uniform")``."""
    match = _SAMPLED.match(str(name).strip().lower())
    if not match:
        return None
    letter = {s[0]: s for s in SAMPLERS}.get(match.group(2))
    if letter is None:
        raise RecbenchError(f"bad metric '{name}': the sampler letter must be one of "
                            f"{', '.join(s[0] for s in SAMPLERS)} "
                            f"({', '.join(SAMPLERS)}), e.g. s100u_ndcg@10.")
    return SampledRanking(int(match.group(1)), letter)


def ranking_from_label(label: str | None) -> SampledRanking | None:
    """Inverse of :attr:`SampledRanking.label` (a run's ``ranking`` tag); None for ``full``,
    a missing tag or anything else."""
    match = _LABEL.match(str(label or "").strip())
    if not match:
        return None
    return SampledRanking(int(match.group(1)), match.group(2))


def plain_metric(name: str) -> str:
    """``"s100u_ndcg@10" -> "ndcg@10"``: the name without its protocol prefix."""
    match = _SAMPLED.match(str(name).strip().lower())
    return match.group(3) if match else str(name).strip()


def parse_metric(name: str) -> tuple[str, int]:
    """Parse ``"ndcg@10"`` into ``("ndcg", 10)``; raise a one-line error on bad names. A
    sampled metric parses to its formula: ``"s100u_ndcg@10" -> ("ndcg", 10)``
    (:func:`sampled_ranking` tells its protocol); only accuracy metrics can be sampled."""
    ranking = sampled_ranking(name)
    if ranking is not None:
        metric, k = parse_metric(plain_metric(name))
        if metric not in ACCURACY:
            raise RecbenchError(f"bad metric '{name}': only accuracy metrics "
                                f"({', '.join(ACCURACY)}) are scored by sampled ranking.")
        return metric, k
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
    ranking = sampled_ranking(base)
    return (ranking.name(f"{metric}@{k}") if ranking else f"{metric}@{k}"), suffix or None


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
    """``"ndcg@10" -> "NDCG@10"``, ``"ndcg@10.gender_gap" -> "NDCG@10 gender_gap"``,
    ``"s100u_ndcg@10" -> "NDCG@10 sampled (100, uniform)"``."""
    base, suffix = parse_column(column)
    if base in CTR:
        return REGISTRY[base].display
    metric, k = parse_metric(base)
    ranking = sampled_ranking(base)
    return (f"{REGISTRY[metric].display}@{k}" + (f" {ranking.label}" if ranking else "")
            + (f" {suffix}" if suffix else ""))


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
