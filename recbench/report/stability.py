"""Rank stability of a leaderboard: how sure is each model of its place?

For one board and its sort metric (the first column), ``B`` resamples are drawn and every
model is ranked on each of them:

1. **Users, paired.** The test users are resampled with replacement, one resample for all
   models (``counts`` ``(B, n_users)``, multinomial, as in the CTR bootstrap of
   :mod:`recbench.report.bootstrap`, whose chunking and weights this reuses). A model's
   value on a resample is its metric over the resampled users: for per-user metrics the
   mean over users, a user drawn ``c`` times weighing ``c`` (users without a value, NaN,
   left out); for CTR metrics (AUC, LogLoss, gAUC) the metric recomputed on the resampled
   users' test rows. Users are those present in every run (all of them: a board's runs
   share the split). CTR data without users (fewer than ``bootstrap.MIN_USERS``) resample
   rows.
2. **Seeds.** On each resample, each model's value comes from *one* of its seeds, drawn
   uniformly at random, independently for each model and each resample (a model with one
   seed always uses it; a deterministic model's seeds agree). The rank spread therefore
   holds both the sampling of test users and the seed-to-seed spread of training: it is
   the rank one run of the model would get on another draw of users. (The mean over seeds
   would hide the seed spread, and the table already shows it.)
3. **Ranks.** On a resample, a model's rank is 1 + the number of models strictly better
   by the metric's direction (:func:`recbench.evaluation.registry.higher_is_better`):
   standard competition ranking ("1 2 2 4"), tied models share the better rank, as the
   table's bold best does. Values within :data:`TIE_TOLERANCE` (relative) of each other
   tie (float round-off of equal numbers); a NaN value (a resample holding one class, for
   AUC) ranks last.
4. **Summary** per model: ``p_rank_1`` = the share of resamples on which it ranks 1 (each
   of the models tied for first counts, so with exact ties, e.g. identical deterministic
   models, the column sums to more than 1); the 95% interval ``[rank_low, rank_high]`` =
   the 2.5% and 97.5% empirical quantiles of its ``B`` ranks (inverted CDF: the bounds are
   ranks that occurred, and hold at least 95% of the resamples); ``rank_median`` (same
   rule) and ``rank_mean``.

Randomness: ``SeedSequence(seed).spawn(2)``; the first stream draws the user counts, chunk
after chunk (the same numbers whatever the chunk size), the second the seed choices, all
at once (``(B, n_models)``, models in table order). The same board, ``B`` and seed give the
same result.
"""

from __future__ import annotations

from functools import reduce

import numpy as np
import pandas as pd

from recbench.errors import RecbenchError
from recbench.evaluation.registry import column_is_per_user, display_name, higher_is_better
from recbench.report import bootstrap
from recbench.report.board import Board
from recbench.report.runs import BOOTSTRAPPED, PER_USER_ARTIFACT
from recbench.tasks.ctr import PREDICTIONS_ARTIFACT

N_RESAMPLES = 1000
#: fewer resamples leave too few in each 2.5% tail for the interval to mean anything
MIN_RESAMPLES = 100
SEED = 0
#: two values tie when they differ by at most this, relative to the larger (round-off)
TIE_TOLERANCE = 1e-12
#: cells materialised at once (resamples x users, and resamples x models^2), bounding memory
CHUNK_CELLS = bootstrap.CHUNK_CELLS
COLUMNS = ["model", "metric", "unit", "n_units", "n_resamples", "bootstrap_seed", "seeds",
           "p_rank_1", "rank_median", "rank_mean", "rank_low", "rank_high"]


def resampling(resamples: int | None, seed: int | None, stability: bool) -> tuple[int, int]:
    """``(B, seed)`` of ``--stability`` from ``--bootstrap`` / ``--bootstrap-seed`` (None:
    the defaults), checked."""
    if not stability and (resamples is not None or seed is not None):
        raise RecbenchError("--bootstrap and --bootstrap-seed set the resamples of "
                            "--stability; add --stability (or leave them out).")
    resamples = N_RESAMPLES if resamples is None else resamples
    seed = SEED if seed is None else seed
    if resamples < MIN_RESAMPLES:
        raise RecbenchError(f"--bootstrap must be at least {MIN_RESAMPLES} resamples (a 95% "
                            f"interval needs several in each 2.5% tail), got {resamples}.")
    if seed < 0:
        raise RecbenchError(f"--bootstrap-seed must be >= 0, got {seed}.")
    return resamples, seed


# ------------------------------------------------------------------------------ ranking
def better_than(values: np.ndarray, higher: bool) -> np.ndarray:
    """``better[..., i, j]``: model ``j`` strictly better than model ``i``.

    Args:
        values: ``(..., n_models)`` the metric of each model (NaN: worst).
        higher: the metric's direction.

    Returns:
        ``(..., n_models, n_models)`` booleans; values within :data:`TIE_TOLERANCE`
        (relative to the larger magnitude) are not better than each other.
    """
    o = np.asarray(values, dtype=np.float64) * (1.0 if higher else -1.0)
    o = np.where(np.isnan(o), -np.inf, o)  # a missing value is beaten by every real one
    with np.errstate(invalid="ignore"):  # -inf - -inf: NaN, i.e. a tie
        diff = o[..., None, :] - o[..., :, None]
        scale = np.maximum(np.abs(o)[..., None, :], np.abs(o)[..., :, None])
        scale = np.where(np.isfinite(scale), scale, 0.0)
        return diff > TIE_TOLERANCE * scale


def competition_ranks(values: np.ndarray, higher: bool) -> np.ndarray:
    """``(..., n_models)`` ranks, 1 = best: 1 + the number of strictly better models (ties
    share the better rank, "1 2 2 4")."""
    return 1 + better_than(values, higher).sum(axis=-1)


# ----------------------------------------------------------------- what a run resamples
class PerUserRuns:
    """One model's per-user values on a board.

    Args:
        values: ``(n_seeds, n_users)`` the metric of each user in each run, users aligned
            across models; NaN where a user has no value.
    """

    def __init__(self, values: np.ndarray):
        values = np.asarray(values, dtype=np.float64)
        self.present = np.isfinite(values).astype(np.float64)
        self.values = np.where(self.present > 0, values, 0.0)
        self.n_seeds = len(values)

    def resampled(self, seed: int, counts: np.ndarray) -> np.ndarray:
        """``(k,)`` the mean over resampled users of run ``seed``; ``counts`` ``(k,
        n_users)``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return counts @ self.values[seed] / (counts @ self.present[seed])


class CtrRuns:
    """One model's CTR runs on a board: ``terms`` one :class:`bootstrap.RunTerms` per seed."""

    def __init__(self, terms: list[bootstrap.RunTerms], metric: str):
        self.terms, self.metric, self.n_seeds = terms, metric, len(terms)

    def resampled(self, seed: int, counts: np.ndarray) -> np.ndarray:
        return self.terms[seed].resampled(self.metric, counts)


def resampled_ranks(models: list, n_units: int, higher: bool, resamples: int = N_RESAMPLES,
                    seed: int = SEED) -> np.ndarray:
    """The rank of every model on every resample (see the module docstring).

    Args:
        models: :class:`PerUserRuns` / :class:`CtrRuns` (anything with ``n_seeds`` and
            ``resampled(seed, counts) -> (k,)``), in table order.
        n_units: the users (or rows) resampled.
        higher: the metric's direction.

    Returns:
        ``(resamples, n_models)`` integer ranks, 1 = best.
    """
    users_rng, seeds_rng = (np.random.default_rng(s)
                            for s in np.random.SeedSequence(seed).spawn(2))
    n_seeds = np.array([m.n_seeds for m in models])
    choice = seeds_rng.integers(0, n_seeds, size=(resamples, len(models)))
    ranks = np.empty((resamples, len(models)), dtype=np.int64)
    p = np.full(n_units, 1 / n_units)
    step = max(1, CHUNK_CELLS // max(n_units, len(models) ** 2))
    for lo in range(0, resamples, step):
        hi = min(lo + step, resamples)
        counts = users_rng.multinomial(n_units, p, size=hi - lo).astype(np.float64)
        values = np.empty((hi - lo, len(models)))
        for j, model in enumerate(models):
            for s in range(model.n_seeds):  # each seed scores only the resamples that drew it
                rows = np.flatnonzero(choice[lo:hi, j] == s)
                if rows.size:
                    values[rows, j] = model.resampled(s, counts[rows])
        ranks[lo:hi] = competition_ranks(values, higher)
    return ranks


def summarise(ranks: np.ndarray) -> pd.DataFrame:
    """``p_rank_1``, ``rank_median``, ``rank_mean``, ``rank_low``, ``rank_high`` (95%
    interval) per column of ``ranks`` ``(B, n_models)``; one row per model."""
    low, median, high = np.quantile(ranks, [0.025, 0.5, 0.975], axis=0,
                                    method="inverted_cdf")
    return pd.DataFrame({"p_rank_1": (ranks == 1).mean(axis=0),
                         "rank_median": median.astype(np.int64),
                         "rank_mean": ranks.mean(axis=0),
                         "rank_low": low.astype(np.int64), "rank_high": high.astype(np.int64)})


# ------------------------------------------------------------------------------- boards
def _refuse_missing(board: Board, column: str, artifact: str) -> None:
    """One line naming the models whose runs lack ``artifact`` (or its ``column``)."""
    models = board.table["model"].tolist()
    lacking = [m for m in models if m not in board.per_seed
               or any(column not in f for f in board.per_seed[m])]
    if lacking:
        raise RecbenchError(
            f"--stability on {board.title}: the runs of {', '.join(lacking)} lack {artifact} "
            f"(with column {column}) for some seed; re-run them with this recbench, or leave "
            f"out --stability.")


def _per_user_models(board: Board, metric: str) -> tuple[list[PerUserRuns], int]:
    _refuse_missing(board, metric, PER_USER_ARTIFACT)
    frames = {m: board.per_seed[m] for m in board.table["model"]}
    users = reduce(np.intersect1d, [f["user"].astype(str).unique()
                                    for fs in frames.values() for f in fs])
    if users.size == 0:
        raise RecbenchError(f"--stability on {board.title}: the runs share no test user; "
                            f"were they tested on the same split?")
    models = [PerUserRuns(np.stack([
        f.assign(user=f["user"].astype(str)).drop_duplicates("user").set_index("user")[metric]
        .reindex(users).to_numpy(np.float64) for f in fs])) for fs in frames.values()]
    return models, int(users.size)


def _ctr_models(board: Board, metric: str) -> tuple[list[CtrRuns], int, str]:
    _refuse_missing(board, "probability", PREDICTIONS_ARTIFACT)
    frames = {m: [f.sort_values("row", kind="stable").reset_index(drop=True)
                  for f in board.per_seed[m]] for m in board.table["model"]}
    first = next(iter(frames.values()))[0]
    for model, fs in frames.items():
        if any(not np.array_equal(f["row"].to_numpy(), first["row"].to_numpy()) for f in fs):
            raise RecbenchError(f"--stability on {board.title}: the runs of model '{model}' "
                                f"were scored on other test rows than the rest; the board "
                                f"cannot pair them.")
    codes, n_units = bootstrap.user_codes(first["user"].to_numpy())
    unit = "user"
    if n_units < bootstrap.MIN_USERS:  # no users to speak of: rows are the units
        codes, n_units, unit = np.arange(len(first), dtype=np.int64), len(first), "row"
        if metric == "gauc":
            raise RecbenchError(f"--stability on {board.title}: gAUC is an AUC per user, and "
                                f"the test data has no users to resample; put auc or "
                                f"logloss first in --metrics.")
    labels = first["label"].to_numpy()
    models = [CtrRuns([bootstrap.RunTerms(codes, labels, f["probability"].to_numpy(np.float64),
                                          n_units) for f in fs], metric)
              for fs in frames.values()]
    return models, n_units, unit


def board_stability(board: Board, metric: str, resamples: int = N_RESAMPLES,
                    seed: int = SEED) -> pd.DataFrame:
    """P(rank 1) and the 95% rank interval of every model of ``board`` under ``metric``.

    Args:
        board: with ``per_seed`` filled by :func:`recbench.report.runs.attach_details`.
        metric: the sort column: a per-user metric (accuracy, ARP, ILD, ...) or a CTR
            metric with a bootstrap (``auc``, ``logloss``, ``gauc``).

    Returns:
        One row per model in table order, columns :data:`COLUMNS` (``unit``: ``user`` or
        ``row``; ``n_units``: how many were resampled; ``seeds``: runs drawn from).

    Raises:
        RecbenchError: ``metric`` has one value per run (catalogue metrics, group slices,
            CTR metrics without a bootstrap), or a model's runs lack the artifact.
    """
    if metric in BOOTSTRAPPED:
        models, n_units, unit = _ctr_models(board, metric)
    elif column_is_per_user(metric):
        (models, n_units), unit = _per_user_models(board, metric), "user"
    else:
        raise RecbenchError(
            f"--stability resamples the test users of the first column, but "
            f"{display_name(metric)} has one value per run (a catalogue metric, a group slice "
            f"or a CTR statistic): put a per-user metric (e.g. ndcg@10) or auc / logloss / "
            f"gauc first in --metrics.")
    ranks = resampled_ranks(models, n_units, higher_is_better(metric), resamples, seed)
    summary = summarise(ranks)
    summary.insert(0, "model", board.table["model"].to_numpy())
    summary = summary.assign(metric=metric, unit=unit, n_units=n_units, n_resamples=resamples,
                             bootstrap_seed=seed, seeds=[m.n_seeds for m in models])
    return summary[COLUMNS]


def attach_stability(boards: list[Board], metric: str, resamples: int = N_RESAMPLES,
                     seed: int = SEED) -> None:
    """Set ``board.stability`` of every board (the same ``B`` and seed for each)."""
    for board in boards:
        board.stability = board_stability(board, metric, resamples, seed)
