"""RP3beta (Paudel et al., TIIS 2017): 3-step random walk item-item graph, popularity-penalised."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recbench.models.base import FitContext, Recommender, sparse_rows_times
from recbench.models.constraints import AT_LEAST_ONE, NON_NEGATIVE
from recbench.models.neighbours import blockwise_top_k


def _row_normalised(matrix: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """Rows divided by their sums (empty rows stay empty), then raised to ``alpha`` elementwise."""
    sums = np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    out = sp.csr_matrix(sp.diags(scale) @ matrix, dtype=np.float64)
    out.data **= alpha
    return out


class RP3beta(Recommender):
    """``W[i, j] = sum_u P_iu^alpha P_uj^alpha / deg(j)^beta``, zero diagonal, top-k per item i.

    ``P_uj = x_uj / sum_j' x_uj'`` (user -> item) and ``P_iu = b_ui / deg(i)`` (item -> user,
    ``b`` the binarised train matrix, ``deg(i)`` its number of users), as in the reference
    code of Dacrema et al. (RecSys 2019, ``RP3betaRecommender``): for each source item i only
    its ``k`` largest positive ``W[i, j]``, j != i, are kept (ties: lower j), so the popularity
    penalty ``deg(j)^-beta`` decides which neighbours survive. ``score(u) = x_u W`` with
    ``x_u`` the ``history`` row. ``W`` is computed ``block_size`` source items at a time, so
    memory is ``block_size * n_items`` floats, never ``n_items^2``.

    Args:
        k: neighbours kept per item (>= 1).
        alpha: exponent on the transition probabilities (>= 0; 1 is the plain walk, P3).
        beta: popularity penalty exponent on the target item's degree (>= 0; 0 is P3alpha).
        block_size: source items per block.
    """

    parameter_constraints = {"k": AT_LEAST_ONE, "alpha": NON_NEGATIVE, "beta": NON_NEGATIVE,
                             "block_size": AT_LEAST_ONE}

    def __init__(self, k: int = 100, alpha: float = 1.0, beta: float = 0.5,
                 block_size: int = 1024):
        self.check_params(locals())
        self.k, self.alpha, self.beta = int(k), float(alpha), float(beta)
        self.block_size = int(block_size)

    def _fit(self, train, valid, ctx: FitContext) -> None:
        n = self.n_items
        binary = train.copy()
        binary.data[:] = 1.0
        degree = np.asarray(binary.sum(axis=0), dtype=np.float64).ravel()  # users per item
        user_item = _row_normalised(train, self.alpha)  # P_ui
        item_user = _row_normalised(binary.T.tocsr(), self.alpha)  # P_iu
        penalty = torch.from_numpy(np.power(degree, -self.beta, out=np.zeros_like(degree),
                                            where=degree > 0).astype(np.float32))
        k = min(self.k, n - 1) if n > 1 else 0

        def block(start, stop):  # (sources, targets): row s holds W[start + s, j] for every j
            rows = (item_user[start:stop] @ user_item).toarray().astype(np.float32)
            return torch.from_numpy(rows) * penalty

        self.similarity = blockwise_top_k(n, k, self.block_size, block)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return sparse_rows_times(self.history, users, self.similarity)

    def n_parameters(self) -> int:
        return int(self.similarity.nnz)
