"""Metrics of CTR prediction: AUC, LogLoss and gAUC, vectorised (numpy; no loop over users).

Definitions (FuxiCTR's, which BARS reports; RecBole's agree):

- ``auc``: the area under the ROC curve, i.e. the Mann-Whitney statistic
  ``P(score(pos) > score(neg)) + P(tie) / 2``, from average ranks (ties share their mean
  rank), as ``sklearn.metrics.roc_auc_score``. Undefined (NaN) with one class only.
- ``logloss``: mean binary cross-entropy in nats, probabilities clipped to
  ``[1e-7, 1 - 1e-7]`` (FuxiCTR's ``log_loss(..., eps=1e-7)``) so one confident mistake
  costs 16.1, not infinity.
- ``gauc``: AUC per user, averaged with each user's number of rows as the weight; users
  whose rows hold one class only are left out (their AUC is undefined). NaN when no user
  has both classes.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-7  #: LogLoss clipping (FuxiCTR)


def _check(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, probs = np.asarray(labels), np.asarray(probs, dtype=np.float64)
    if labels.shape != probs.shape or labels.ndim != 1:
        raise ValueError(f"labels and predictions must be 1-D of one length, got "
                         f"{labels.shape} and {probs.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if not np.isfinite(probs).all():
        raise ValueError("predictions must be finite")
    return labels.astype(np.float64), probs


def _ranks(keys: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """1-based rank of each score within its key's group, ties sharing their mean rank."""
    order = np.lexsort((scores, keys))
    k, s = keys[order], scores[order]
    new_group = np.r_[True, k[1:] != k[:-1]]
    new_run = new_group | np.r_[True, s[1:] != s[:-1]]
    position = np.arange(len(s), dtype=np.float64)
    group_start = np.maximum.accumulate(np.where(new_group, position, 0))
    run_id = np.cumsum(new_run) - 1
    run_first = position[new_run]
    run_last = np.r_[run_first[1:] - 1, len(s) - 1]
    rank_sorted = ((run_first + run_last) / 2)[run_id] - group_start + 1
    ranks = np.empty_like(rank_sorted)
    ranks[order] = rank_sorted
    return ranks


def _group_auc(keys: np.ndarray, labels: np.ndarray, scores: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(group keys, AUC per group, rows per group)``; AUC NaN for one-class groups."""
    ranks = _ranks(keys, scores)
    groups, inverse, rows = np.unique(keys, return_inverse=True, return_counts=True)
    n_pos = np.bincount(inverse, weights=labels, minlength=len(groups))
    n_neg = rows - n_pos
    pos_rank_sum = np.bincount(inverse, weights=ranks * labels, minlength=len(groups))
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (pos_rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return groups, np.where((n_pos > 0) & (n_neg > 0), auc, np.nan), rows


def auc(labels: np.ndarray, probs: np.ndarray) -> float:
    """AUC of ``(n,)`` 0/1 labels and scores (any monotone scale)."""
    labels, probs = _check(labels, probs)
    return float(_group_auc(np.zeros(len(labels), np.int64), labels, probs)[1][0]) \
        if len(labels) else float("nan")


def logloss(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean binary cross-entropy (nats) of ``(n,)`` 0/1 labels and probabilities."""
    labels, probs = _check(labels, probs)
    p = np.clip(probs, EPS, 1 - EPS)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log1p(-p)))


def gauc(users: np.ndarray, labels: np.ndarray, probs: np.ndarray) -> float:
    """Row-weighted mean of per-user AUCs (one-class users left out)."""
    labels, probs = _check(labels, probs)
    users = np.asarray(users)
    if users.shape != labels.shape:
        raise ValueError(f"users must have the labels' shape {labels.shape}, got {users.shape}")
    _, per_user, rows = _group_auc(users, labels, probs)
    ok = ~np.isnan(per_user)
    return float(np.average(per_user[ok], weights=rows[ok])) if ok.any() else float("nan")
