"""One ranking over several data sets: mean rank, Borda count and performance profiles.

Shevchenko et al. (2024), "From Variability to Stability: Advancing RecSys Benchmarking
Practices", compare ways of aggregating many data sets into one ranking of models; three
of them are computed here. Each board (data set · split) counts as one data set, and the
value of a model on it is the board's sort metric (the first column, mean over seeds):

- **Mean rank**: the model's rank on each data set (1 = best by the metric's direction;
  tied models get the mean of the ranks they span, "1 2.5 2.5 4", as in Demšar 2006),
  averaged over data sets. Lower is better.
- **Borda count**: on each data set a model scores one point per model it beats (strictly
  better beyond round-off; a tie scores nothing), summed over data sets. Higher is better;
  without ties it is the sum of ``n_models - rank``.
- **Performance profile** (Dolan & Moré 2002): ``rho_m(tau)`` = the share of data sets on
  which model m is within ``tau`` of the best, relatively: ``value >= (1 - tau) * best``
  where higher is better, ``value <= (1 + tau) * best`` where lower is better (``|best|``
  for a negative best). Equivalently, the model's relative gap to the best, ``gap =
  |value - best| / |best|``, is at most ``tau``; a model tied with the best has gap 0, a
  best of 0 gives gap infinity to any other value. ``rho_m(0)`` is the share of data sets
  it wins (each tied winner counts); ``rho_m`` is a non-decreasing step function reaching 1
  at the model's largest gap; a gap within round-off of ``tau`` (1e-12) counts as within.
  The table shows it at :data:`TAUS`, the plot as curves.

Models: only those on every board are aggregated (ranks among them, the best among
them): a rank over fewer data sets, or against fewer rivals, would not be comparable. The
others are named in a note. Ties and NaN: as :func:`recbench.report.stability.better_than`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recbench.errors import RecbenchError
from recbench.evaluation.registry import display_name, higher_is_better
from recbench.report.board import Board
from recbench.report.stability import TIE_TOLERANCE, better_than

#: the tau of the table's performance-profile columns (relative gap to the best)
TAUS = (0.0, 0.01, 0.05, 0.1)


@dataclass
class Aggregate:
    """The ranking of the models common to every board.

    Attributes:
        metric: the column aggregated (every board's sort metric).
        table: one row per common model, by mean rank (then Borda, then name): ``model``,
            ``data_sets``, ``mean_rank``, ``borda``, ``rho@<tau>`` per :data:`TAUS`.
        values, ranks, gaps: ``(model x data set)`` frames, columns the board titles: the
            metric (mean over seeds), the rank (ties: mean rank) and the relative gap to
            the best.
        notes: what was left out and why.
    """

    metric: str
    table: pd.DataFrame
    values: pd.DataFrame
    ranks: pd.DataFrame
    gaps: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def rho_column(tau: float) -> str:
    return f"rho@{tau:g}"


def aggregate_values(values: pd.DataFrame, higher: bool, taus=TAUS
                     ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Mean rank, Borda count and performance profile of a ``(model x data set)`` table.

    Args:
        values: one row per model (index: model), one column per data set; NaN is worst.
        higher: the metric's direction.

    Returns:
        ``(table, ranks, gaps)``: the summary (columns as :attr:`Aggregate.table`, sorted)
        and the per-data-set ranks and relative gaps, shaped like ``values``.
    """
    v = values.to_numpy(np.float64).T  # (data sets, models)
    better = better_than(v, higher)  # [d, i, j]: j beats i on data set d
    n_better = better.sum(axis=2)
    n_tied = (~better & ~np.swapaxes(better, 1, 2)).sum(axis=2)  # itself included
    ranks = 1 + n_better + (n_tied - 1) / 2
    borda = better.sum(axis=1).sum(axis=0)  # [d, i, k] summed over i: the models k beats
    o = np.where(np.isnan(v), -np.inf, v * (1.0 if higher else -1.0))
    best = o.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        gaps = np.abs(o - best) / np.abs(best)
    gaps = np.where(np.isnan(gaps), np.inf, gaps)  # 0/0 (best 0 and equal): set below
    gaps = np.where(n_better == 0, 0.0, gaps)  # unbeaten: the best, whatever round-off
    table = pd.DataFrame({"model": values.index, "data_sets": v.shape[0],
                          "mean_rank": ranks.mean(axis=0), "borda": borda.astype(np.int64)})
    for tau in taus:
        # the gap is relative, so is the round-off allowed at the boundary
        table[rho_column(tau)] = (gaps <= tau + TIE_TOLERANCE).mean(axis=0)
    table = table.sort_values(["mean_rank", "borda", "model"], ascending=[True, False, True],
                              kind="stable").reset_index(drop=True)
    return (table, pd.DataFrame(ranks.T, index=values.index, columns=values.columns),
            pd.DataFrame(gaps.T, index=values.index, columns=values.columns))


def aggregate(boards: list[Board], metric: str) -> Aggregate:
    """The aggregate ranking of ``boards`` on ``metric`` (their shared sort column).

    Raises:
        RecbenchError: fewer than two boards, or fewer than two models on every board.
    """
    titles = [b.title for b in boards]
    if len(boards) < 2:
        raise RecbenchError(
            f"--aggregate ranks models over several data sets, but the runs make "
            f"{len(boards)} board ({'; '.join(titles)}); name more experiments, or filter "
            f"less (--dataset / --split).")
    per_board = {b.title: b.table.set_index("model")[metric] for b in boards}
    common = [m for m in boards[0].table["model"] if all(m in s.index for s in per_board.values())]
    if len(common) < 2:
        raise RecbenchError(
            f"--aggregate: {len(common)} model ({', '.join(common) or 'none'}) is on every board "
            f"({'; '.join(titles)}); at least two are needed to rank.")
    values = pd.DataFrame({t: s.loc[common].to_numpy(np.float64) for t, s in per_board.items()},
                          index=pd.Index(common, name="model"))
    table, ranks, gaps = aggregate_values(values, higher_is_better(metric))
    notes = []
    everyone = dict.fromkeys(m for b in boards for m in b.table["model"])
    left = {m: [t for t, s in per_board.items() if m not in s.index] for m in everyone
            if m not in common}
    if left:
        notes.append("Left out (not on every board): " + "; ".join(
            f"{m} (missing on {', '.join(where)})" for m, where in left.items()) + ".")
    return Aggregate(metric=metric, table=table, values=values.loc[table["model"]],
                     ranks=ranks.loc[table["model"]], gaps=gaps.loc[table["model"]],
                     notes=notes)


def display_frame(agg: Aggregate) -> pd.DataFrame:
    """The readable aggregate table: mean rank, Borda, rho at each tau, rank per data set."""
    t = agg.table
    out = pd.DataFrame({"Model": t["model"], "Data sets": t["data_sets"],
                        "Mean rank ↓": t["mean_rank"].map(lambda r: f"{r:.2f}"),
                        "Borda ↑": t["borda"]})
    for tau in TAUS:
        out[f"ρ({tau:g}) ↑"] = t[rho_column(tau)].map(lambda r: f"{r:.2f}")
    for title in agg.ranks.columns:
        out[f"Rank: {title}"] = agg.ranks[title].map(lambda r: f"{r:g}").to_numpy()
    return out


def csv_frame(agg: Aggregate) -> pd.DataFrame:
    """``aggregate.csv``: the summary, then per data set the value, rank and gap (raw)."""
    out = agg.table.copy()
    out.insert(1, "metric", agg.metric)
    for title in agg.values.columns:
        out[f"value: {title}"] = agg.values[title].to_numpy()
        out[f"rank: {title}"] = agg.ranks[title].to_numpy()
        out[f"gap: {title}"] = agg.gaps[title].to_numpy()
    return out


def legend(agg: Aggregate) -> str:
    """What the aggregate columns mean, in one paragraph."""
    name = display_name(agg.metric)
    within = "≥ (1 − τ) · best" if higher_is_better(agg.metric) else "≤ (1 + τ) · best"
    return (f"Over {agg.values.shape[1]} data sets (each board, data set · split, counts as "
            f"one), on test {name} (mean over seeds), models on every board only. Mean rank: "
            f"rank per data set (1 = best; ties share the mean of their ranks), averaged. "
            f"Borda: one point per model beaten on a data set, summed. ρ(τ): performance "
            f"profile, the share of data sets on which the model is within τ of the best "
            f"({name} {within}).")
