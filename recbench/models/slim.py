"""SLIM ElasticNet (Ning & Karypis, ICDM 2011): sparse non-negative item-item regression."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet

from recbench.models.base import FitContext, Recommender, sparse_rows_times
from recbench.models.constraints import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, OneOf


def _top_positive(coef: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest positive entries of ``coef``, ties by lower index."""
    nonzero = np.flatnonzero(coef > 0)
    if len(nonzero) > k:
        order = np.lexsort((nonzero, -coef[nonzero]))  # value desc, then index asc
        nonzero = np.sort(nonzero[order[:k]])
    return nonzero


def _fit_items(train: sp.csc_matrix, items: np.ndarray, params: dict, topk: int):
    """One worker: fit the ElasticNet of every item in ``items``; ``(rows, cols, vals, n_iter)``.

    ``train`` is copied once, then column j is zeroed in place (its ``data`` slice set to 0
    and restored after the fit), as in the reference code of Dacrema et al.: no per-item
    copy of the matrix, and the explicit zeros leave the solver's arithmetic unchanged.
    """
    x = train.copy()
    model = ElasticNet(**params)
    rows, cols, vals, n_iter = [], [], [], []
    for j in items:
        start, stop = x.indptr[j], x.indptr[j + 1]
        y = x[:, j].toarray().ravel()
        backup = x.data[start:stop].copy()
        x.data[start:stop] = 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is a budget
            model.fit(x, y)
        x.data[start:stop] = backup
        coef = model.coef_
        keep = _top_positive(coef, topk)
        rows.append(keep)
        cols.append(np.full(len(keep), j))
        vals.append(coef[keep].astype(np.float32))
        n_iter.append(model.n_iter_)
    return (np.concatenate(rows), np.concatenate(cols), np.concatenate(vals),
            np.asarray(n_iter, dtype=np.int64))


class SLIM(Recommender):
    """SLIM with an ElasticNet penalty, solved per item by scikit-learn's coordinate descent.

    For each item j: ``w_j = argmin_{w >= 0} 1/(2 n_users) ||x_j - X_{-j} w||^2
    + alpha l1_ratio ||w||_1 + alpha (1 - l1_ratio) / 2 ||w||^2`` with ``X_{-j}`` the train
    matrix with column j zeroed (so ``W[j, j] = 0``), as in the reference implementation of
    Dacrema et al. (RecSys 2019, ``SLIMElasticNetRecommender``: positive, no intercept,
    ``selection="random"``); only the ``topk`` largest coefficients of each column are kept
    (ties: lower item). ``score(u) = x_u W`` with ``x_u`` the ``history`` row.

    The per-item regression loop is inherent to coordinate-descent SLIM (RecBole, Elliot and
    Dacrema et al. all loop over items): the n_items problems are independent, so they run in
    ``n_jobs`` parallel blocks with joblib. Every item's solver is seeded with the run seed,
    whatever block it falls in, so ``W`` is identical for any ``n_jobs``. Each worker holds
    one copy of the train matrix; ``W`` has at most ``topk * n_items`` entries.

    Args:
        alpha: overall penalty strength (> 0); sklearn scales the squared loss by
            ``1 / (2 n_users)``.
        l1_ratio: share of the L1 penalty in ``[0, 1]`` (1: lasso, 0: ridge).
        topk: coefficients kept per item (>= 1).
        max_iter: coordinate-descent passes per item (>= 1).
        tol: solver tolerance on the duality gap (>= 0).
        n_jobs: joblib workers (>= 1, or -1 for all cores); does not change results.
    """

    parameter_constraints = {"alpha": POSITIVE, "l1_ratio": FRACTION, "topk": AT_LEAST_ONE,
                             "max_iter": AT_LEAST_ONE, "tol": NON_NEGATIVE,
                             "n_jobs": (AT_LEAST_ONE, OneOf((-1,)))}

    def __init__(self, alpha: float = 0.03, l1_ratio: float = 0.1, topk: int = 100,
                 max_iter: int = 100, tol: float = 1e-4, n_jobs: int = 1):
        self.check_params(locals())
        self.alpha, self.l1_ratio, self.tol = float(alpha), float(l1_ratio), float(tol)
        self.topk, self.max_iter, self.n_jobs = int(topk), int(max_iter), int(n_jobs)

    def _fit(self, train, valid, ctx: FitContext) -> None:
        n = self.n_items
        params = dict(alpha=self.alpha, l1_ratio=self.l1_ratio, positive=True,
                      fit_intercept=False, copy_X=False, precompute=True, selection="random",
                      max_iter=self.max_iter, tol=self.tol, random_state=ctx.seed)
        x = sp.csc_matrix(train, dtype=np.float32, copy=True)
        x.sort_indices()
        workers = effective_n_jobs(self.n_jobs)
        blocks = np.array_split(np.arange(n), 1 if workers == 1 else min(n, 4 * workers))
        parts = Parallel(n_jobs=workers)(
            delayed(_fit_items)(x, items, params, self.topk) for items in blocks)
        rows, cols, vals, n_iter = (np.concatenate(p) for p in zip(*parts))
        self.n_iter = n_iter  #: solver passes per item (== max_iter: stopped by the budget)
        self.weights = sp.csr_matrix((vals, (rows, cols)), shape=(n, n), dtype=np.float32)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return sparse_rows_times(self.history, users, self.weights)

    def n_parameters(self) -> int:
        return int(self.weights.nnz)
