"""Accuracy per user group ("for whom is a model better?") and the gaps between groups.

Groups:
    ``activity``  users bucketed by their number of train interactions into ``n`` quantile
                  groups ``q1`` (least active) .. ``qn``: a user is in ``q_j`` when their count
                  is above the ``(j-1)/n`` and at most the ``j/n`` quantile of the counts of
                  users with train data (ties stay together, so groups can differ in size
                  and an empty group is left out). Users without train interactions but with
                  fold-in data (the cold users of ``split=cold_user``) form the group ``cold``.
    a user feature (``metrics.user_groups``, e.g. ml-100k's ``gender``, ``age``): one group
                  per value; a numeric feature with more than ``n`` distinct values is
                  bucketed into quantile groups like activity.

Metric names: ``ndcg@10.activity_q1``, ``ndcg@10.gender_F``; per attribute the gap
``ndcg@10.gender_gap`` = max - min and ``ndcg@10.gender_ratio`` = max / min over its groups
(NaN when the minimum is 0): both lower is better, 0 and 1 mean equal accuracy. Group sizes
are logged as ``n_users.gender_F``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import scipy.sparse as sp


def _quantile_labels(values: np.ndarray, n: int) -> np.ndarray:
    edges = np.quantile(values, np.arange(1, n) / n)
    return np.array([f"q{j + 1}" for j in np.searchsorted(edges, values, side="left")],
                    dtype=object)


def _label(value) -> str:
    """A group value as MLflow accepts it in a metric key (letters, digits, _ and -)."""
    return re.sub(r"[^A-Za-z0-9_\-]", "-", str(value)) or "-"


def user_groups(train: sp.csr_matrix, fold_in: sp.csr_matrix,
                user_features: pd.DataFrame | None, attributes: list[str],
                n_quantiles: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """Group label of every user for ``activity`` (if ``n_quantiles > 0``) and each
    feature in ``attributes``.

    Returns:
        ``({attribute: (n_users,) object labels, "" = no group}, missing attributes)``.
    """
    groups: dict[str, np.ndarray] = {}
    n_users = train.shape[0]
    if n_quantiles > 0:
        counts = np.diff(train.indptr)
        labels = np.full(n_users, "", dtype=object)
        active = counts > 0
        if active.any():
            labels[active] = _quantile_labels(counts[active], n_quantiles)
        labels[~active & (np.diff(fold_in.indptr) > 0)] = "cold"
        groups["activity"] = labels
    missing = []
    for attr in attributes:
        if user_features is None or attr not in user_features:
            missing.append(attr)
            continue
        column = user_features[attr].reset_index(drop=True)
        labels = np.full(n_users, "", dtype=object)
        known = column.notna().to_numpy() & (column.astype(str).str.strip() != "").to_numpy()
        numeric = pd.to_numeric(column[known], errors="coerce")
        if n_quantiles > 0 and numeric.notna().all() and numeric.nunique() > n_quantiles:
            labels[known] = _quantile_labels(numeric.to_numpy(np.float64), n_quantiles)
        else:
            labels[known] = [_label(v) for v in column[known]]
        groups[attr] = labels
    return groups, missing


def slice_metrics(per_user: dict[str, np.ndarray], users: np.ndarray,
                  groups: dict[str, np.ndarray]) -> dict[str, float]:
    """Means of every per-user metric per group, the gaps, and the group sizes.

    Args:
        per_user: ``{metric: (n,) values}`` of the evaluated ``users`` ``(n,)``.
        groups: :func:`user_groups` labels, indexed by user.
    """
    out: dict[str, float] = {}
    for attr, labels in groups.items():
        mine = labels[users]
        names = sorted(set(mine) - {""})
        if not names:
            continue
        index = {g: np.flatnonzero(mine == g) for g in names}
        for g in names:
            out[f"n_users.{attr}_{g}"] = float(len(index[g]))
        for metric, values in per_user.items():
            means = np.array([values[index[g]].mean() for g in names])
            for g, mean in zip(names, means):
                out[f"{metric}.{attr}_{g}"] = float(mean)
            low, high = means.min(), means.max()
            out[f"{metric}.{attr}_gap"] = float(high - low)
            out[f"{metric}.{attr}_ratio"] = float(high / low) if low > 0 else float("nan")
    return out
