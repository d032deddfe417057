"""Paired significance tests of per-user metrics: every model against the best one.

Each user is one paired observation (the same test interactions ranked by both models). For
every metric the best model (highest mean) is compared with every other model by

- the paired t-test (``scipy.stats.ttest_rel``, two-sided), and
- the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, two-sided, zero differences
  dropped: ``zero_method="wilcox"``),

and the p-values of each test are corrected with Holm–Bonferroni over the whole family of
comparisons in one table (all models x all metrics). The effect size is Cohen's
``d_z = mean(d) / sd(d)`` of the per-user differences ``d = best - other``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from recbench.evaluation.registry import higher_is_better

TOLERANCE = 1e-12
COLUMNS = ["metric", "model", "best", "n_users", "mean_diff", "effect_size_dz", "t_stat",
           "t_p", "t_p_holm", "w_stat", "w_p", "w_p_holm"]


def holm(pvalues) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (same order as given).

    The i-th smallest of m p-values becomes ``max_{j<=i} min(1, (m - j + 1) p_(j))``
    (j counted from 1); an adjusted p below alpha rejects at family-wise error rate alpha.
    NaN p-values stay NaN and do not count in m.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))  # a NaN p-value is no test: not in the family
    m = finite.size
    if m == 0:
        return adjusted
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def paired_test(best: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """Paired t-test, Wilcoxon signed-rank test and effect size of ``best - other``.

    Args:
        best, other: ``(n_users,)`` per-user values of one metric, aligned by user.

    Identical samples (every difference zero) get p = 1; a constant non-zero difference
    (zero variance) gets t-test p = 0 and an infinite effect size. Differences and standard
    deviations below :data:`TOLERANCE` count as zero (float round-off, not a signal).
    """
    d = np.asarray(best, dtype=np.float64) - np.asarray(other, dtype=np.float64)
    mean = float(d.mean()) if d.size else float("nan")
    sd = float(d.std(ddof=1)) if d.size > 1 else float("nan")
    if d.size == 0 or np.all(np.abs(d) <= TOLERANCE):
        return {"n_users": int(d.size), "mean_diff": 0.0, "effect_size_dz": 0.0,
                "t_stat": 0.0, "t_p": 1.0, "w_stat": 0.0, "w_p": 1.0}
    if sd <= TOLERANCE:
        t_stat, t_p, dz = float(np.sign(mean) * np.inf), 0.0, float(np.sign(mean) * np.inf)
    else:
        t = stats.ttest_rel(best, other)
        t_stat, t_p, dz = float(t.statistic), float(t.pvalue), mean / sd
    d = np.where(np.abs(d) <= TOLERANCE, 0.0, d)  # round-off is a zero difference
    w = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return {"n_users": int(d.size), "mean_diff": mean, "effect_size_dz": dz,
            "t_stat": t_stat, "t_p": t_p, "w_stat": float(w.statistic), "w_p": float(w.pvalue)}


def compare_to_best(per_user: dict[str, pd.DataFrame], metrics: list[str],
                    means: pd.DataFrame) -> pd.DataFrame:
    """Every model against the best one on each metric, Holm-corrected over the family.

    Args:
        per_user: model -> frame indexed by user with one column per metric (per-user
            values, already averaged over seeds).
        metrics: the metrics to test.
        means: one row per model (column ``model``) with the reported mean of each metric;
            the best model of a metric is the one with the best mean there (highest, or
            lowest for metrics where lower is better, e.g. ARP).

    Returns:
        One row per (metric, non-best model), columns :data:`COLUMNS`. Users are paired on
        the users both models were evaluated on.
    """
    rows = []
    for metric in metrics:
        column = means[metric] if higher_is_better(metric) else -means[metric]
        best = means.loc[column.idxmax(), "model"]
        for model in means["model"]:
            if model == best:
                continue
            a, b = per_user[best][metric], per_user[model][metric]
            common = a.index.intersection(b.index)
            result = paired_test(a.loc[common].to_numpy(), b.loc[common].to_numpy())
            rows.append({"metric": metric, "model": model, "best": best, **result})
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if not c.endswith("_holm")])
    table["t_p_holm"] = holm(table["t_p"]) if len(table) else []
    table["w_p_holm"] = holm(table["w_p"]) if len(table) else []
    return table[COLUMNS]


def seed_mean(frames: list[pd.DataFrame], metrics: list[str]) -> pd.DataFrame:
    """Per-user means across seeds: frames with a ``user`` column and one per metric."""
    stacked = pd.concat([f[["user", *metrics]] for f in frames], ignore_index=True)
    return stacked.groupby("user", sort=True)[metrics].mean()
