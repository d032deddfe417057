"""ItemKNN: item-item cosine similarity with shrinkage, top-k neighbours per item."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recbench.evaluation.ranker import topk_items
from recbench.models.base import FitContext, Recommender, sparse_rows_times


class ItemKNN(Recommender):
    """``sim(j, i) = x_j . x_i / (|x_j| |x_i| + shrink)`` over item columns of the train matrix.

    For each target item i only its ``k`` most similar items j != i are kept (ties: lower j);
    ``score(u, i) = sum_j x_uj sim(j, i)``. Similarities are computed ``block_size`` items at a
    time, so memory is ``n_items * block_size`` floats, never ``n_items^2``.

    Args:
        k: neighbours kept per item (>= 1).
        shrink: shrinkage added to the cosine denominator (>= 0).
        block_size: target items per similarity block.
    """

    def __init__(self, k: int = 100, shrink: float = 0.0, block_size: int = 1024):
        if k < 1 or shrink < 0 or block_size < 1:
            raise ValueError(f"ItemKNN needs k >= 1, shrink >= 0, block_size >= 1; "
                             f"got k={k}, shrink={shrink}, block_size={block_size}")
        self.k, self.shrink, self.block_size = int(k), float(shrink), int(block_size)

    def _fit(self, train, valid, ctx: FitContext) -> None:
        n = self.n_items
        norms = np.sqrt(np.asarray(train.multiply(train).sum(axis=0)).ravel())
        k = min(self.k, n - 1) if n > 1 else 0
        rows, cols, vals = [], [], []
        for start in range(0, n, self.block_size) if k else ():
            stop = min(start + self.block_size, n)
            # (targets, candidates): row t holds sim(j, start + t) for every item j
            block = torch.from_numpy((train[:, start:stop].T @ train).toarray().astype(np.float32))
            block /= torch.from_numpy(
                (np.outer(norms[start:stop], norms) + self.shrink + 1e-12).astype(np.float32))
            targets = torch.arange(start, stop)
            itself = torch.zeros_like(block, dtype=torch.bool)
            itself[targets - start, targets] = True  # never your own neighbour
            top, valid = topk_items(block, itself, k)
            top_vals = block.gather(1, top)
            keep = valid & (top_vals > 0)
            rows.append(top[keep].numpy())
            cols.append(targets[:, None].expand(-1, k)[keep].numpy())
            vals.append(top_vals[keep].numpy())
        self.similarity = sp.csr_matrix(
            (np.concatenate(vals) if vals else np.zeros(0, np.float32),
             (np.concatenate(rows) if rows else np.zeros(0, int),
              np.concatenate(cols) if cols else np.zeros(0, int))), shape=(n, n))

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return sparse_rows_times(self.history, users, self.similarity)

    def n_parameters(self) -> int:
        return int(self.similarity.nnz)
