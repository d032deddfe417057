"""UserKNN: user-user cosine similarity with shrinkage, top-k neighbours per scored user."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recbench.evaluation.ranker import topk_items
from recbench.models.base import FitContext, Recommender
from recbench.models.constraints import AT_LEAST_ONE, NON_NEGATIVE


def _row_norms(matrix: sp.csr_matrix) -> np.ndarray:
    return np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1), dtype=np.float64).ravel())


class UserKNN(Recommender):
    """``sim(u, v) = x_u . x_v / (|x_u| |x_v| + shrink)``, ``score(u, i) = sum_v sim(u, v) x_vi``.

    ``x_u`` is the scored user's ``history`` row (train, or train + fold-in for cold users);
    ``x_v`` ranges over the train rows of every OTHER user v != u, of which only the ``k`` most
    similar (ties: lower v) with a positive similarity are kept. Fit only stores the train
    matrix and its row norms; similarities are computed at scoring time, ``block_size`` scored
    users at a time (memory ``block_size * n_users`` plus ``block_size * n_items`` floats), so
    folded-in histories are used without refitting.

    ``n_parameters()`` is the number of stored train interactions (``train.nnz``): the model
    learns nothing, its "parameters" are the neighbours' rows.

    Args:
        k: neighbours kept per scored user (>= 1).
        shrink: shrinkage added to the cosine denominator (>= 0).
        block_size: scored users per similarity block.
    """

    parameter_constraints = {"k": AT_LEAST_ONE, "shrink": NON_NEGATIVE,
                             "block_size": AT_LEAST_ONE}

    def __init__(self, k: int = 100, shrink: float = 0.0, block_size: int = 1024):
        self.check_params(locals())
        self.k, self.shrink, self.block_size = int(k), float(shrink), int(block_size)

    def _fit(self, train, valid, ctx: FitContext) -> None:
        self.train = train
        self.train_t = train.T.tocsr()  # (n_items, n_users): history rows @ train_t = dots
        self.norms = _row_norms(train)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(len(users), self.n_items, dtype=torch.float32)
        k = min(self.k, self.n_users - 1)
        for start in range(0, len(users), self.block_size) if k else ():
            block = users[start:start + self.block_size]
            rows = self.history[block.numpy()]
            # (scored users, candidate neighbours): sim(u, v) against every train user v
            sims = torch.from_numpy((rows @ self.train_t).toarray().astype(np.float32))
            sims /= torch.from_numpy(
                (np.outer(_row_norms(rows), self.norms) + self.shrink + 1e-12).astype(np.float32))
            itself = torch.zeros_like(sims, dtype=torch.bool)
            itself[torch.arange(len(block)), block] = True  # never your own neighbour
            top, valid = topk_items(sims, itself, k)
            top_vals = sims.gather(1, top)
            keep = valid & (top_vals > 0)
            neighbours = sp.csr_matrix(
                (top_vals[keep].numpy(),
                 (torch.arange(len(block))[:, None].expand(-1, top.shape[1])[keep].numpy(),
                  top[keep].numpy())), shape=(len(block), self.n_users))
            out[start:start + len(block)] = torch.from_numpy(
                (neighbours @ self.train).toarray().astype(np.float32))
        return out

    def n_parameters(self) -> int:
        return int(self.train.nnz)
