"""Paired bootstrap over users for CTR metrics: every model against the best one.

AUC and LogLoss are not means of independent per-user values, so the per-user tests of
:mod:`recbench.report.significance` do not apply. Instead the test users are resampled
with replacement (a user's rows go together: rows of one user are not independent), the
same resamples for every model (paired), and each metric is recomputed on every resample
for every run; a model's value on a resample is the mean over its seeds. The two-sided
p-value of "best and other differ" is ``min(1, 2 min(#(d <= 0) + 1, #(d >= 0) + 1) /
(B + 1))`` over the B resampled differences ``d = best - other`` (in the metric's better
direction), and the 95% interval is their 2.5 and 97.5 percentiles. p-values are
Holm-corrected over the table, as the per-user tests are.

Resampling a user ``c`` times weighs each of its rows by ``c``, so a resample is a weight
vector and nothing is copied: AUC is the weighted Mann-Whitney statistic from one sort per
run, LogLoss and gAUC are weighted sums of per-user terms computed once.

Data sets without users (Criteo, Avazu: one group) resample rows instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recbench.errors import RecbenchError
from recbench.evaluation.ctr import EPS, _group_auc
from recbench.evaluation.registry import higher_is_better
from recbench.report.significance import holm

N_RESAMPLES = 1000  #: at least; more with many comparisons (see :func:`n_resamples`)
SEED = 0
#: fewer users than this (data sets without a user field have one): rows are resampled
MIN_USERS = 20
#: bootstrap weights materialised at once (resamples x rows), bounding memory
CHUNK_CELLS = 1 << 22
COLUMNS = ["metric", "model", "best", "n_users", "unit", "n_resamples", "mean_diff", "ci_low",
           "ci_high", "boot_p", "boot_p_holm"]


def n_resamples(comparisons: int) -> int:
    """Resamples for a family of ``comparisons`` tests: the smallest bootstrap p-value is
    ``2 / (B + 1)`` and Holm multiplies it by up to ``comparisons``, so ``B`` grows with
    the family (100 per comparison) to keep significance reachable at alpha = 0.05."""
    return max(N_RESAMPLES, 100 * comparisons)


def weighted_auc(labels: np.ndarray, scores: np.ndarray, counts: np.ndarray,
                 groups: np.ndarray) -> np.ndarray:
    """AUC on each resample: ``counts`` ``(b, n_groups)`` draws of each group, ``groups``
    ``(n,)`` each row's group; row ``r`` weighs ``counts[:, groups[r]]``. Returns ``(b,)``.

    ``sum_{i pos, j neg} w_i w_j [s_i > s_j] + 1/2 [s_i = s_j]`` over ``W_pos W_neg``: the
    AUC of the data with row ``r`` repeated ``w[r]`` times (``roc_auc_score`` with
    ``sample_weight``). NaN where a resample holds one class only. The ``(b, n)`` weights
    are built :data:`CHUNK_CELLS` at a time.
    """
    order = np.argsort(scores, kind="stable")
    s, y, g = scores[order], labels[order].astype(np.float64), groups[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # runs of tied scores
    out = np.empty(len(counts))
    step = max(1, CHUNK_CELLS // max(1, len(s)))
    for lo in range(0, len(counts), step):
        w = counts[lo:lo + step][:, g].astype(np.float64)
        pos = np.add.reduceat(w * y, starts, axis=1)
        neg = np.add.reduceat(w * (1 - y), starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg  # negatives scored strictly lower
        with np.errstate(invalid="ignore", divide="ignore"):
            out[lo:lo + step] = ((pos * (below + neg / 2)).sum(axis=1)
                                 / (pos.sum(axis=1) * neg.sum(axis=1)))
    return out


class RunTerms:
    """What one run's test predictions contribute to every resample.

    Args:
        user_codes: ``(n,)`` each row's user index in ``[0, n_users)``.
        labels, probs: ``(n,)`` the rows' labels and predicted probabilities.
    """

    def __init__(self, user_codes: np.ndarray, labels: np.ndarray, probs: np.ndarray,
                 n_users: int):
        self.codes, self.labels, self.probs = user_codes, labels, probs
        p = np.clip(probs, EPS, 1 - EPS)
        loss = -(labels * np.log(p) + (1 - labels) * np.log1p(-p))
        self.loss_sum = np.bincount(user_codes, weights=loss, minlength=n_users)
        self.rows = np.bincount(user_codes, minlength=n_users).astype(np.float64)
        _, per_user, rows = _group_auc(user_codes, labels.astype(np.float64), probs)
        self.user_auc = np.zeros(n_users)
        self.user_auc_rows = np.zeros(n_users)  # 0 for one-class users: left out
        present = np.unique(user_codes)
        ok = ~np.isnan(per_user)
        self.user_auc[present[ok]] = per_user[ok]
        self.user_auc_rows[present[ok]] = rows[ok]

    def resampled(self, metric: str, counts: np.ndarray) -> np.ndarray:
        """``(b,)`` the metric on each resample; ``counts`` ``(b, n_users)`` user draws."""
        counts = counts.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            if metric == "auc":
                return weighted_auc(self.labels, self.probs, counts, self.codes)
            if metric == "logloss":
                return counts @ self.loss_sum / (counts @ self.rows)
            if metric == "gauc":
                w = counts * self.user_auc_rows
                return (w @ self.user_auc) / w.sum(axis=1)
        raise ValueError(f"no bootstrap for metric '{metric}'")


def user_codes(users: np.ndarray) -> tuple[np.ndarray, int]:
    """``(codes, n_users)``: each row's user as an index into the sorted distinct users."""
    uniques, codes = np.unique(np.asarray(users).astype(str), return_inverse=True)
    return codes.astype(np.int64), len(uniques)


def compare_to_best(predictions: dict[str, list[pd.DataFrame]], metrics: list[str],
                    means: pd.DataFrame, resamples: int | None = None,
                    seed: int = SEED) -> pd.DataFrame:
    """Every model against the best one on each CTR metric by the paired user bootstrap.

    Args:
        predictions: model -> one frame per seed with columns ``row``, ``user``, ``label``,
            ``probability`` (the test rows; every frame must hold the same rows).
        metrics: the CTR metrics to test (``auc``, ``logloss``, ``gauc``).
        means: one row per model (column ``model``) with the reported mean of each metric.

    Returns:
        One row per (metric, non-best model), columns :data:`COLUMNS`. With fewer than
        :data:`MIN_USERS` users (a data set without a user field) the rows are resampled
        instead (``unit`` says which) and gAUC, which needs users, is not tested (NaN p).
    """
    frames = {m: [f.sort_values("row", kind="stable").reset_index(drop=True) for f in fs]
              for m, fs in predictions.items()}
    first = next(iter(frames.values()))[0]
    for model, fs in frames.items():
        for f in fs:
            if not np.array_equal(f["row"].to_numpy(), first["row"].to_numpy()):
                raise RecbenchError(f"the runs of model '{model}' were scored on other test "
                                    f"rows than the rest; the board cannot pair them.")
    codes, n_users = user_codes(first["user"].to_numpy())
    unit = "user"
    if n_users < MIN_USERS:  # no users to speak of: rows are the independent units
        codes, n_users, unit = np.arange(len(first), dtype=np.int64), len(first), "row"
    labels = first["label"].to_numpy()
    b = resamples or n_resamples(len(metrics) * (len(means) - 1))
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_users, np.full(n_users, 1 / n_users), size=b)
    terms = {m: [RunTerms(codes, labels, f["probability"].to_numpy(np.float64), n_users)
                 for f in fs] for m, fs in frames.items()}
    rows = []
    for metric in metrics:
        sign = 1.0 if higher_is_better(metric) else -1.0
        column = sign * means[metric]
        best = means.loc[column.idxmax(), "model"]
        if metric == "gauc" and unit == "row":  # per-user AUC of one-row "users": none
            boot = {m: np.full(b, np.nan) for m in terms}
        else:
            boot = {m: np.mean([t.resampled(metric, counts) for t in ts], axis=0)
                    for m, ts in terms.items()}
        for model in means["model"]:
            if model == best:
                continue
            d = sign * (boot[best] - boot[model])  # > 0: the best is better on the resample
            d = d[np.isfinite(d)]
            observed = float(means.set_index("model").loc[best, metric]
                             - means.set_index("model").loc[model, metric])
            tails = min((d <= 0).sum(), (d >= 0).sum()) + 1
            rows.append({"metric": metric, "model": model, "best": best, "n_users": n_users,
                         "unit": unit, "n_resamples": b, "mean_diff": observed,
                         "ci_low": float(np.percentile(sign * d, 2.5)) if d.size else np.nan,
                         "ci_high": float(np.percentile(sign * d, 97.5)) if d.size else np.nan,
                         "boot_p": min(1.0, 2 * tails / (d.size + 1)) if d.size else np.nan})
    table = pd.DataFrame(rows, columns=COLUMNS[:-1])
    table["boot_p_holm"] = holm(table["boot_p"]) if len(table) else []
    return table[COLUMNS]
