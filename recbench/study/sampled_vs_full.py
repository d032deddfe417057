"""``recbench study sampled-vs-full``: do sampled ranking metrics order models as full
ranking does?

The runs: those ``recbench leaderboard EXPERIMENT`` reports (:mod:`recbench.report.board`:
per model the chosen configuration, each of its seeds), one board per (data set, split).
Each is re-fitted from its logged config and seed (:mod:`.refit`) and its test part scored
ONCE: full ranking, every sampled protocol asked for (:mod:`recbench.evaluation.sampled`:
the same candidates for every model of a split) and, with ``corrected``, Krichene &
Rendle's corrected sampled metric (:mod:`recbench.evaluation.correction`, uniform sampler
only), each at every bias-variance weight ``gamma`` asked for.

Two full-ranking references, from the same scores:

    full (per list)   the leaderboard's metric: one top-K list per user among every item
                      not masked, scored against all the user's test items at once.
    full (per item)   the sampled metric with every free item as candidate (nothing drawn,
                      :class:`recbench.evaluation.sampled.FreeItems`): each test item's rank
                      ``1 +`` #{items the user never interacted with, in any part, scored
                      above it, or equal with a lower id}, the one-relevant-item formula,
                      averaged over the user's test items, then over users.

Sampling approximates the per-item metric, not the per-list one (other test items are
never candidates, and hit@K = recall@K per item), so each sampled and corrected order is
compared with the per-item order (:mod:`.agreement`); per item vs per list is compared too,
for information: how far the definition alone moves the order. With one test item per user
(leave-one-out) the two are equal. A model's value is its mean over seeds. Per-list values
are those of the re-fit, checked against the logged ones (``logged`` column).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recbench.errors import RecbenchError, first_line, unknown_choice
from recbench.evaluation.registry import (ACCURACY, SAMPLERS, SampledRanking, parse_metric,
                                          sampled_ranking)
from recbench.study.agreement import agreement, order
from recbench.tracking.run_tracker import metric_key

#: metrics studied by default, at every K the runs logged (hit@K = recall@K under sampling,
#: :mod:`recbench.evaluation.sampled`; K&R's per-item metrics)
DEFAULT_METRICS = ("ndcg", "recall", "hit", "mrr")
FULL = "full"  #: label and key of the per-list full-ranking metric (the leaderboard's)
PER_ITEM = "full (per item)"  #: label of the per-item full reference
PER_ITEM_KEY = "full_item"


@dataclass(frozen=True)
class Protocol:
    """One way of scoring the test part.

    Attributes:
        label: how tables name it (``"full"``, ``"sampled (100, uniform)"``,
            ``"corrected sampled (100, uniform), γ=0.01"``).
        key: a short column-safe name (``"full"``, ``"s100u"``, ``"s100u_c0.01"``).
        ranking: the sampled protocol (None: full ranking).
        gamma: the correction's bias-variance weight (None: not corrected).
    """

    label: str
    key: str
    ranking: SampledRanking | None = None
    gamma: float | None = None


def _corrected(ranking: SampledRanking, gamma: float) -> Protocol:
    what = "minimal bias" if gamma == 0 else f"γ={gamma:g}"
    return Protocol(f"corrected {ranking.label}, {what}", f"{ranking.prefix}_c{gamma:g}",
                    ranking, gamma)


def _numbers(text: str, what: str, kind, example: str) -> list:
    values = []
    for part in str(text).split(","):
        try:
            value = kind(part.strip())
        except ValueError:
            value = None
        if value is None or (kind is int and value < 1) or (kind is float and not 0 <= value <= 1):
            raise RecbenchError(f"{what} takes {example}, got '{text}'.")
        values.append(value)
    return list(dict.fromkeys(values))


def parse_protocols(n: str, samplers: str, corrected: bool = False,
                    gammas: str = "0.01") -> list[Protocol]:
    """The protocols of a study from its options (comma-separated lists): full ranking per
    list and per item first, then per ``n`` and sampler the sampled protocol and, with
    ``corrected``, its corrected variants (uniform sampler only)."""
    sizes = _numbers(n, "--n", int, "positive integers, e.g. --n 100 or --n 50,100")
    names = [s.strip() for s in str(samplers).split(",") if s.strip()]
    if not names:
        raise RecbenchError(f"--sampler takes {' or '.join(SAMPLERS)} (comma-separated).")
    for name in names:
        if name not in SAMPLERS:
            raise unknown_choice("--sampler", name, SAMPLERS)
    weights = _numbers(gammas, "--gamma", float, "weights in [0, 1], e.g. --gamma 0,0.01")
    if corrected and "uniform" not in names:
        raise RecbenchError("--corrected corrects uniformly sampled metrics (Krichene & "
                            "Rendle); add --sampler uniform.")
    protocols = [Protocol(FULL, FULL), Protocol(PER_ITEM, PER_ITEM_KEY)]
    for size in sizes:
        for name in dict.fromkeys(names):
            ranking = SampledRanking(size, name)
            protocols.append(Protocol(ranking.label, ranking.prefix, ranking))
            if corrected and name == "uniform":
                protocols += [_corrected(ranking, g) for g in weights]
    return protocols


def study_metrics(runs: pd.DataFrame, metrics: str | None) -> list[str]:
    """``--metrics`` (plain accuracy metrics, comma-separated), or by default
    :data:`DEFAULT_METRICS` among the runs' ``metrics.names`` at each of their ``metrics.ks``."""
    if metrics:
        names = list(dict.fromkeys(m.strip().lower() for m in metrics.split(",") if m.strip()))
        for name in names:
            metric, k = parse_metric(name)
            if sampled_ranking(name) is not None or metric not in ACCURACY \
                    or name != f"{metric}@{k}":
                raise RecbenchError(f"--metrics takes accuracy metrics like ndcg@10 "
                                    f"({', '.join(ACCURACY)}), got '{name}'.")
        if not names:
            raise RecbenchError("no metrics given; e.g. --metrics ndcg@10,recall@10.")
        return names
    first = runs.iloc[0]
    logged = json.loads(first.get("param.metrics.names") or "[]")
    ks = json.loads(first.get("param.metrics.ks") or "[10]")
    names = [n for n in DEFAULT_METRICS if n in logged] or ["ndcg"]
    return [f"{n}@{k}" for n in names for k in ks]


@dataclass
class StudyResult:
    """What a study found.

    Attributes:
        experiment: the MLflow experiment; protocols: as asked (full per list, full per
            item first).
        runs: one row per (re-fitted run, protocol, metric): ``dataset``, ``split``,
            ``model``, ``seed``, ``run_id``, ``protocol`` (label), ``metric``, ``value``
            (mean over test users) and ``logged`` (the run's own per-list value).
        models: one row per (board, model, protocol, metric): ``mean`` and ``std`` over
            seeds, ``seeds``, ``rank`` (1 = best under that protocol).
        agreement: one row per (board, metric, protocol other than full per list):
            ``reference`` (:func:`reference`), ``n_models``, ``kendall_tau``,
            ``spearman_rho``, ``flipped_share``, ``n_flipped``, ``flipped_pairs`` (``"a >
            b"``: the reference order, reversed by the protocol), ``reference_order``.
        notes: facts per board (re-fit check).
    """

    experiment: str
    protocols: list[Protocol]
    metrics: list[str]
    runs: pd.DataFrame
    models: pd.DataFrame = field(default_factory=pd.DataFrame)
    agreement: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        """The metric progress lines and model tables show: NDCG@10 when studied."""
        return headline(self.metrics)


def headline(metrics: list[str]) -> str:
    return "ndcg@10" if "ndcg@10" in metrics else metrics[0]


def reference(label: str) -> str:
    """The protocol whose order ``label``'s is compared with: full per item for sampled and
    corrected protocols (what they approximate), full per list for full per item."""
    return FULL if label == PER_ITEM else PER_ITEM


def _sampling(split, protocols: list[Protocol], metrics: list[str], seed: int):
    """Candidates per sampled protocol (and every free item under ``PER_ITEM_KEY``) and
    correctors per corrected one, for one split."""
    from recbench.evaluation.correction import Corrector
    from recbench.evaluation.sampled import free_items, split_candidates

    candidates = {p.ranking.prefix: split_candidates(split, p.ranking, seed)
                  for p in protocols if p.ranking is not None and p.gamma is None}
    users = np.flatnonzero(np.diff(split.test.indptr) > 0)
    correctors = {p.key: Corrector.build(candidates[p.ranking.prefix], metrics, users, p.gamma)
                  for p in protocols if p.gamma is not None}
    candidates[PER_ITEM_KEY] = free_items(split)
    return candidates, correctors


def score_run(fitted, metrics: list[str], protocols: list[Protocol], candidates: dict,
              correctors: dict, chunk_size: int) -> dict[tuple[str, str], float]:
    """``{(protocol key, metric): mean over test users}`` of a re-fitted run: one scoring
    pass (:func:`recbench.evaluation.suite.evaluate_chunks`; per-item full and corrected
    values beside it, from the same scores).

    Args:
        candidates: :func:`_sampling`'s, every free item under ``PER_ITEM_KEY``.
    """
    import torch

    from recbench.evaluation.ranker import ranked_chunks
    from recbench.evaluation.sampled import sampled_metrics
    from recbench.evaluation.suite import evaluate_chunks

    truth, masked = fitted.task.test_inputs(fitted.model, fitted.split)
    sets = [c for key, c in candidates.items() if key != PER_ITEM_KEY]
    position = {c.ranking.prefix: i for i, c in enumerate(sets)}
    corrected = {(p.key, m): [] for p in protocols if p.gamma is not None for m in metrics}
    per_item = {(PER_ITEM_KEY, m): [] for m in metrics}

    def with_corrections(chunks):
        for chunk in chunks:
            # the last set is every free item: evaluate_chunks has no name for it
            for m, v in sampled_metrics(chunk.sampled[-1], metrics).items():
                per_item[(PER_ITEM_KEY, m)].append(v)
            for p in protocols:
                if p.gamma is not None:
                    ranked = chunk.sampled[position[p.ranking.prefix]]
                    for m, v in correctors[p.key].user_metrics(ranked, chunk.users).items():
                        corrected[(p.key, m)].append(v)
            yield chunk

    names = [*metrics, *(c.ranking.name(m) for c in sets for m in metrics)]
    k_max = max(parse_metric(m)[1] for m in metrics)
    chunks = ranked_chunks(fitted.model.score, truth, masked, k_max, chunk_size,
                           [*sets, candidates[PER_ITEM_KEY]])
    result = evaluate_chunks(with_corrections(chunks), names, masked, truth)
    out = {(FULL, m): float(np.mean(result.per_user[m])) for m in metrics}
    out |= {(c.ranking.prefix, m): float(np.mean(result.per_user[c.ranking.name(m)]))
            for c in sets for m in metrics}
    out |= {key: float(torch.cat(parts).mean()) for key, parts in (corrected | per_item).items()}
    return out


def sampled_vs_full(client, experiment: str, protocols: list[Protocol],
                    metrics: str | None = None, filters: dict[str, str] | None = None,
                    group: bool = False, seed: int = 0,
                    progress: Callable[[str], None] = print) -> StudyResult:
    """Re-fit and re-score the reported runs of ``experiment`` (module docstring).

    Args:
        protocols: :func:`parse_protocols`; metrics: ``--metrics`` or None (defaults).
        filters, group: as ``recbench leaderboard``'s ``--dataset/--split/--tag`` and
            ``--group``.
        seed: ``metrics.sampled.seed`` of the candidates.
        progress: receives one line per re-fitted run.
    """
    from recbench.report.board import build_boards
    from recbench.report.runs import finished_runs
    from recbench.study.refit import logged_config, refit

    runs = finished_runs(client, [experiment], filters)
    if "tag.task" in runs and (runs["tag.task"] == "ctr").any():
        raise RecbenchError(f"experiment {experiment} holds CTR runs (task=ctr); the study "
                            f"re-scores top-N ranking runs.")
    if "tag.ranking" in runs and (runs["tag.ranking"].fillna(FULL) != FULL).any():
        raise RecbenchError(f"experiment {experiment} holds sampled-ranking runs; the study "
                            f"re-scores full-ranking runs: keep only those with --tag "
                            f"ranking=full.")
    names = study_metrics(runs, metrics)
    logged = [m for m in names if metric_key(f"test_{m}") in runs
              and runs[metric_key(f"test_{m}")].notna().all()]
    boards = build_boards(runs, logged or names[:1], group)
    by_id = runs.set_index("run_id")
    total = sum(len(b.table["run_ids"].str.cat(sep=";").split(";")) for b in boards)
    rows, notes, done = [], {}, 0
    for board in boards:
        split = candidates = correctors = None
        started = time.perf_counter()
        for model, run_ids in zip(board.table["model"], board.table["run_ids"]):
            for run_id in run_ids.split(";"):
                tags = {k.removeprefix("tag."): v for k, v in by_id.loc[run_id].items()
                        if k.startswith("tag.") and isinstance(v, str)}
                cfg = logged_config(client, run_id, tags)
                with _named_failures(model, cfg.seed, run_id):
                    fitted = refit(cfg, split, tags.get("split_fingerprint"))
                    if split is None:
                        split = fitted.split
                        candidates, correctors = _sampling(split, protocols, names, seed)
                    began = time.perf_counter()
                    values = score_run(fitted, names, protocols, candidates, correctors,
                                       int(cfg.metrics.chunk_size))
                    fit_time = fitted.fit_time_s
                    del fitted  # not held in memory while the next run fits
                done += 1
                for p in protocols:
                    for m in names:
                        own = by_id.loc[run_id].get(metric_key(f"test_{m}"), math.nan)
                        rows.append({"dataset": board.dataset, "split": board.split,
                                     "model": model, "seed": int(cfg.seed), "run_id": run_id,
                                     "protocol": p.label, "metric": m,
                                     "value": values[(p.key, m)],
                                     "logged": float(own) if p.key == FULL else math.nan})
                head = headline(names)
                shown = ", ".join(f"{p.key} {values[(p.key, head)]:.4f}" for p in protocols)
                progress(f"[{done}/{total}] {board.title} {model} seed={cfg.seed}: fit "
                         f"{fit_time:.1f}s, scored {time.perf_counter() - began:.1f}s; "
                         f"{head}: {shown}")
        notes[(board.dataset, board.split)] = [
            f"{len(board.table)} models, {sum(board.table['seeds'])} runs re-fitted and "
            f"scored in {time.perf_counter() - started:.0f} s."]
    result = StudyResult(experiment, protocols, names, pd.DataFrame(rows), notes=notes)
    summarise(result)
    return result


@contextmanager
def _named_failures(model: str, seed, run_id: str):
    """Any error of a re-fit or its scoring (NaN scores, out of memory, a model bug) as one
    line naming the run: a study of many runs must say which one failed, without a trace.
    Interrupts (Ctrl-C) pass through."""
    where = f"run {run_id} ({model} seed={seed})"
    try:
        yield
    except RecbenchError as err:  # already one line: say which run
        raise RecbenchError(f"{where}: {err}") from None
    except Exception as err:  # noqa: BLE001 - every failure of the model's own code
        raise RecbenchError(f"re-fitting and scoring {where} failed: {type(err).__name__}: "
                            f"{first_line(err) or 'no message'}; re-run it alone with "
                            f"`recbench run` to see the trace, or leave it out (--dataset, "
                            f"--split, --tag).") from None


def summarise(result: StudyResult) -> None:
    """Fill ``result.models`` (means over seeds, ranks) and ``result.agreement``, and the
    re-fit check of each board's notes."""
    runs = result.runs
    keys = ["dataset", "split", "model", "protocol", "metric"]
    models = runs.groupby(keys, sort=False)["value"].agg(
        mean="mean", std=lambda v: v.std(ddof=1), seeds="size").reset_index()
    models["rank"] = models.groupby(["dataset", "split", "protocol", "metric"])["mean"].rank(
        ascending=False, method="min").astype(int)
    result.models = models
    rows = []
    for (dataset, split, metric), part in models.groupby(["dataset", "split", "metric"],
                                                         sort=False):
        means = {p: dict(zip(g["model"], g["mean"])) for p, g in part.groupby("protocol")}
        for p in result.protocols:
            if p.key == FULL:
                continue
            ref = reference(p.label)
            found = agreement(means[ref], means[p.label])
            rows.append({"dataset": dataset, "split": split, "metric": metric,
                         "protocol": p.label, "reference": ref, "n_models": found.n_models,
                         "kendall_tau": found.kendall_tau, "spearman_rho": found.spearman_rho,
                         "flipped_share": found.flipped_share, "n_flipped": len(found.flipped),
                         "flipped_pairs": "; ".join(f"{a} > {b}" for a, b in found.flipped),
                         "reference_order": " > ".join(order(means[ref]))})
    result.agreement = pd.DataFrame(rows)
    full = runs[runs["protocol"] == FULL]
    for (dataset, split), part in full.groupby(["dataset", "split"], sort=False):
        gap = (part["value"] - part["logged"]).abs()
        checked = int(gap.notna().sum())
        result.notes.setdefault((dataset, split), []).append(
            f"re-fit check: the largest difference between a re-fitted run's full-ranking "
            f"(per-list) metric and the value it logged is {gap.max():.1e} ({checked} values)."
            if checked else "re-fit check: the runs logged none of the studied metrics.")
