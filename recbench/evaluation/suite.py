"""The metric suite of a run (``metrics`` config group): accuracy, beyond-accuracy and
catalogue metrics from ONE ranking pass, and accuracy per user group.

Every user's top-K list is computed once per evaluation (chunk by chunk); per-user metrics
are computed on each chunk, catalogue metrics from the lists collected over the chunks.
Sampled accuracy metrics (``s100u_ndcg@10``, :mod:`.sampled`) come from the same scores:
each relevant item is ranked against its user's candidates of that protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from recbench.evaluation.beyond import list_metrics
from recbench.evaluation.catalog import CatalogAccumulator
from recbench.evaluation.metrics import per_user_metrics
from recbench.evaluation.popularity import ItemStats, item_categories
from recbench.evaluation.ranker import RankedChunk, ScoreFn, ranked_chunks, seen_matrix
from recbench.evaluation.registry import REGISTRY, parse_metric, plain_metric, sampled_ranking
from recbench.evaluation.sampled import Candidates, sampled_metrics, split_candidates
from recbench.evaluation.slices import slice_metrics, user_groups


@dataclass
class SuiteResult:
    """One evaluation (valid or test).

    Attributes:
        users: ``(n,) int64`` evaluated users.
        per_user: ``{metric: (n,) float64}`` accuracy and list metrics.
        per_run: ``{metric: value}`` catalogue metrics (and ``coverage_count@K``).
        intervals: ``{metric: (low, high)}`` 95% bootstrap intervals of catalogue metrics.
        slices: per-group means and gaps (:func:`recbench.evaluation.slices.slice_metrics`).
    """

    users: np.ndarray
    per_user: dict[str, np.ndarray]
    per_run: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    slices: dict[str, float] = field(default_factory=dict)

    def summary(self, prefix: str) -> dict[str, float]:
        """Flat metrics to log: ``{prefix}{metric}`` means, catalogue values, interval
        bounds as ``{prefix}{metric}.ci_low`` / ``.ci_high``, and the slices."""
        out = {f"{prefix}{m}": float(np.mean(v)) for m, v in self.per_user.items() if len(v)}
        out |= {f"{prefix}{m}": v for m, v in self.per_run.items()}
        for m, (low, high) in self.intervals.items():
            out |= {f"{prefix}{m}.ci_low": low, f"{prefix}{m}.ci_high": high}
        out |= {f"{prefix}{m}": v for m, v in self.slices.items()}
        return out


def list_length(metrics: Sequence[str]) -> int:
    """The longest top-K list the full-ranking metrics among ``metrics`` read (0: none,
    sampled metrics only)."""
    return max((parse_metric(m)[1] for m in metrics if sampled_ranking(m) is None), default=0)


def evaluate_suite(score_fn: ScoreFn, truth: sp.csr_matrix, exclude: Sequence[sp.csr_matrix],
                   metrics: Sequence[str], chunk_size: int = 1024,
                   stats: ItemStats | None = None, n_boot: int = 0, seed: int = 0,
                   groups: dict[str, np.ndarray] | None = None,
                   candidates: Sequence[Candidates] = (),
                   lists_end_at_minus_inf: bool = False) -> SuiteResult:
    """Evaluation of every user with at least one item in ``truth``: full ranking, and
    sampled ranking for sampled metric names.

    Args:
        metrics: any names of the registry, e.g. ``["ndcg@10", "arp@10", "gini@10",
            "s100u_ndcg@10"]``.
        stats: train-side item facts; required by every non-accuracy metric.
        n_boot, seed: bootstrap resamples of the catalogue metrics' intervals (0: none).
        groups: user groups for accuracy slices (None: no slices).
        candidates: one candidate set per sampled protocol among ``metrics``
            (:func:`recbench.evaluation.sampled.draw_candidates`).
    """
    chunks = ranked_chunks(score_fn, truth, exclude, list_length(metrics), chunk_size,
                           candidates, lists_end_at_minus_inf)
    return evaluate_chunks(chunks, metrics, exclude, truth, stats, n_boot, seed, groups)


def evaluate_chunks(chunks: Iterable[RankedChunk], metrics: Sequence[str],
                    seen: sp.csr_matrix | Sequence[sp.csr_matrix], truth: sp.csr_matrix,
                    stats: ItemStats | None = None,
                    n_boot: int = 0, seed: int = 0,
                    groups: dict[str, np.ndarray] | None = None) -> SuiteResult:
    """Every metric of top-K lists already ranked (by :func:`ranked_chunks`, or read from a
    TREC run): :func:`evaluate_suite` without the ranking.

    Args:
        chunks: lists of at least ``max K`` positions; ``users`` index the rows of ``seen``
            (masked items: PopRSP's candidates; one matrix or the ones it sums) and
            ``truth`` (relevant items: PopREO's).
    """
    parsed = [(m, *parse_metric(m)) for m in metrics]
    kind = {m: REGISTRY[name].kind for m, name, _ in parsed}
    if stats is None and any(k != "accuracy" for k in kind.values()):
        raise ValueError("beyond-accuracy metrics need the train ItemStats")
    sampled: dict[str, list[str]] = {}  # protocol prefix -> its metrics
    for m in metrics:
        ranking = sampled_ranking(m)
        if ranking is not None:
            sampled.setdefault(ranking.prefix, []).append(m)
    accuracy = [m for m in metrics if kind[m] == "accuracy" and sampled_ranking(m) is None]
    listed = [m for m in metrics if kind[m] == "list"]
    catalog = CatalogAccumulator([m for m in metrics if kind[m] == "catalog"], stats) \
        if any(k == "catalog" for k in kind.values()) else None
    users, parts = [], {m: [] for m in [*accuracy, *listed, *(n for v in sampled.values()
                                                              for n in v)]}
    # list metrics (ILD's sparse products: scipy releases the GIL) run beside the ranking
    # of the next chunks, on a core that scoring leaves idle; their inputs are small
    # (B x K per chunk), so the queue needs no bound
    beside, lists = ThreadPoolExecutor(max_workers=1), []
    hits, n_rel = [], []  # accuracy metrics: one vectorised call over every chunk's lists
    try:
        for chunk in chunks:
            users.append(chunk.users)
            if accuracy:
                hits.append(chunk.hits)
                n_rel.append(chunk.n_rel)
            values = {}
            for ranked in chunk.sampled:
                names = sampled.get(ranked.ranking.prefix, [])
                by_plain = sampled_metrics(ranked, [plain_metric(m) for m in names])
                values |= {m: by_plain[plain_metric(m)] for m in names}
            missing = [m for v in sampled.values() for m in v if m not in values]
            if missing:
                raise ValueError(f"{missing[0]} needs the candidates of its protocol")
            for m, v in values.items():
                parts[m].append(v)
            if listed:
                lists.append(beside.submit(list_metrics, chunk.items, chunk.valid, chunk.hits,
                                           stats, listed))
            if catalog is not None:
                catalog.add(chunk.items, chunk.valid, chunk.hits)
        for values in lists:  # in chunk order
            for m, v in values.result().items():
                parts[m].append(v)
        if hits:
            width = max(h.shape[1] for h in hits)  # lists read from a file may differ
            hits = [torch.nn.functional.pad(h, (0, width - h.shape[1])) for h in hits]
            for m, v in per_user_metrics(torch.cat(hits), torch.cat(n_rel), accuracy).items():
                parts[m].append(v)
    finally:  # on an error (NaN scores, Ctrl-C) the queued chunks are dropped, not run
        beside.shutdown(wait=True, cancel_futures=True)
    users = np.concatenate(users) if users else np.zeros(0, np.int64)
    result = SuiteResult(users, {m: torch.cat(v).numpy() if v else np.zeros(0)
                                 for m, v in parts.items()})
    if catalog is not None and len(users):
        if not sp.issparse(seen):
            seen = seen_matrix(truth.shape, seen)
        result.per_run, result.intervals = catalog.compute(users, seen, truth, n_boot, seed)
    if groups:
        result.slices = slice_metrics({m: v for m, v in result.per_user.items()
                                       if kind[m] == "accuracy"}, users, groups)
    return result


@dataclass
class MetricSuite:
    """A run's metric suite bound to its split: what to compute and from which train facts.

    Built once per run by :meth:`from_config`; :meth:`evaluate` is called for valid and test.
    ``candidates``: the sampled items of each sampled protocol among ``metrics``, drawn once
    for both.
    """

    metrics: list[str]
    valid_metrics: list[str]
    stats: ItemStats | None
    groups: dict[str, np.ndarray]
    n_boot: int
    seed: int
    notes: dict[str, str] = field(default_factory=dict)
    candidates: list[Candidates] = field(default_factory=list)

    @classmethod
    def from_config(cls, options, metrics: list[str], valid_metric: str, split) -> "MetricSuite":
        """``options``: the ``metrics`` config node; ``split``: a
        :class:`recbench.splits.base.Split`."""
        beyond = any(REGISTRY[parse_metric(m)[0]].kind != "accuracy" for m in metrics)
        stats, notes = None, {}
        if beyond:
            data = split.data
            stats = ItemStats.from_train(
                split.observed_train, tail_rule=options.tail_rule, head_share=options.head_share,
                tail_fraction=options.tail_fraction, item_vectors=options.item_vectors,
                categories=item_categories(data.item_features, options.item_feature))
            notes["ild_vectors"] = stats.vectors_source
            notes["n_tail_items"] = str(int(stats.tail.sum()))
        groups, missing = user_groups(split.observed_train, split.fold_in,
                                      split.data.user_features,
                                      list(options.user_groups), int(options.activity_groups))
        if missing:
            notes["user_groups_missing"] = ",".join(missing)
        notes["user_groups"] = ",".join(groups) or "none"
        valid_metrics = list(dict.fromkeys([valid_metric, *metrics]))
        rankings = list(dict.fromkeys(r for r in map(sampled_ranking, metrics) if r))
        seed = int((options.get("sampled") or {}).get("seed", 0))
        candidates = [split_candidates(split, r, seed) for r in rankings]
        notes["ranking"] = ", ".join(r.label for r in rankings) or "full"
        return cls(metrics, valid_metrics, stats, groups, int(options.bootstrap),
                   int(options.bootstrap_seed), notes, candidates)

    def evaluate(self, score_fn: ScoreFn, truth: sp.csr_matrix,
                 exclude: Sequence[sp.csr_matrix], chunk_size: int, *,
                 test: bool, lists_end_at_minus_inf: bool = False) -> SuiteResult:
        """Validation: every metric plus the selection metric, no intervals, no slices.
        Test: every metric, bootstrap intervals and per-group slices."""
        return evaluate_suite(score_fn, truth, exclude,
                              self.metrics if test else self.valid_metrics, chunk_size,
                              self.stats, self.n_boot if test else 0, self.seed,
                              self.groups if test else None, self.candidates,
                              lists_end_at_minus_inf)
