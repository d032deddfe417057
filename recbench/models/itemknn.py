"""ItemKNN: item-item similarity (cosine, Jaccard or asymmetric cosine) with shrinkage,
top-k neighbours per item."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recbench.models.base import FitContext, Recommender, sparse_rows_times
from recbench.models.constraints import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, OneOf
from recbench.models.neighbours import blockwise_top_k


SIMILARITIES = ("cosine", "jaccard", "asymmetric")


class ItemKNN(Recommender):
    """Item-item similarity ``sim(j, i)`` over item columns ``x_i`` of the train matrix.

    With ``x_j . x_i`` the co-occurrence count ``|I_j & I_i|`` on binary data and ``i`` the
    target item (a column of the similarity matrix), ``j`` a candidate neighbour:

    * ``cosine``:     ``x_j . x_i / (|x_j| |x_i| + shrink)``
    * ``jaccard``:    ``x_j . x_i / (|x_j|^2 + |x_i|^2 - x_j . x_i + shrink)`` (Tanimoto; on
      binary data ``|I_j & I_i| / (|I_j| + |I_i| - |I_j & I_i| + shrink)``)
    * ``asymmetric``: ``x_j . x_i / (|x_i|^(2 a) |x_j|^(2 (1 - a)) + shrink)`` with
      ``a = asym_alpha`` (Aiolli, RecSys 2013; on binary data
      ``|I_i & I_j| / (|I_i|^a |I_j|^(1-a) + shrink)``, the target's support raised to ``a``,
      as in the reference code of Dacrema et al.); ``a = 0.5`` is cosine, bit for bit (it
      takes the cosine path).

    For each target item i only its ``k`` most similar items j != i are kept (ties: lower j);
    ``score(u, i) = sum_j x_uj sim(j, i)``. Similarities are computed ``block_size`` target
    items at a time and only for co-occurring pairs (``x_j . x_i = 0`` gives 0, never kept), so
    memory is the nonzeros of ``block_size`` rows of ``X^T X`` (at most ``n_items *
    block_size``), never ``n_items^2``. After ``fit`` the
    attribute ``similarity`` holds the sparse ``(n_items, n_items)`` matrix (the measure's
    name is ``similarity_name``).

    Args:
        k: neighbours kept per item (>= 1).
        shrink: shrinkage added to the similarity denominator (>= 0).
        block_size: target items per similarity block.
        similarity: ``"cosine"``, ``"jaccard"`` or ``"asymmetric"``.
        asym_alpha: exponent ``a`` of the asymmetric cosine, in ``[0, 1]`` (read only by
            ``"asymmetric"``).
    """

    parameter_constraints = {"k": AT_LEAST_ONE, "shrink": NON_NEGATIVE,
                             "block_size": AT_LEAST_ONE, "similarity": OneOf(SIMILARITIES),
                             "asym_alpha": FRACTION}

    def __init__(self, k: int = 100, shrink: float = 0.0, block_size: int = 1024,
                 similarity: str = "cosine", asym_alpha: float = 0.5):
        self.check_params(locals())
        self.k, self.shrink, self.block_size = int(k), float(shrink), int(block_size)
        self.similarity_name, self.asym_alpha = similarity, float(asym_alpha)

    def _denominator(self, dots: np.ndarray, squares: np.ndarray, norms: np.ndarray,
                     targets: np.ndarray, candidates: np.ndarray, start: int, stop: int
                     ) -> np.ndarray:
        """Denominators of the entries ``(targets[e], candidates[e])`` with overlap
        ``dots[e]``, targets in ``start .. stop - 1``: the same operations, in the same
        dtypes, as on the dense ``(targets, candidates)`` block, so the same bits."""
        a = self.asym_alpha
        if self.similarity_name == "cosine" or (self.similarity_name == "asymmetric" and a == 0.5):
            return norms[targets] * norms[candidates] + self.shrink + 1e-12
        if self.similarity_name == "jaccard":
            return (squares[targets] + squares[candidates] - dots) + self.shrink + 1e-12
        # asymmetric: the target's |x|^2 to the a times the candidate's to the 1 - a, from the
        # squared norms in float64 (sqrt then power would make |I|^1 = 3 come out 2.9999998)
        squares = squares.astype(np.float64)
        return ((squares[start:stop] ** a)[targets - start] * (squares ** (1 - a))[candidates]
                + self.shrink + 1e-12)

    def _fit(self, train, valid, ctx: FitContext) -> None:
        n = self.n_items
        squares = np.asarray(train.multiply(train).sum(axis=0)).ravel()
        norms = np.sqrt(squares)
        k = min(self.k, n - 1) if n > 1 else 0

        by_item = train.T.tocsr()  # (n_items, n_users)

        def block(start, stop):  # (targets, candidates): row t holds sim(j, start + t)
            # only the co-occurring pairs: sim is 0 elsewhere, and 0 is never kept
            dots = by_item[start:stop] @ train
            targets = np.repeat(np.arange(start, stop), np.diff(dots.indptr))
            denominator = self._denominator(dots.data, squares, norms, targets, dots.indices,
                                            start, stop)
            with np.errstate(divide="ignore", invalid="ignore"):
                values = dots.data.astype(np.float32) / denominator.astype(np.float32)
            return sp.csr_matrix((values, dots.indices, dots.indptr), shape=dots.shape)

        # top-k neighbours per target item, stored as column `target`
        self.similarity = blockwise_top_k(n, k, self.block_size, block, transpose=True)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return sparse_rows_times(self.history, users, self.similarity)

    def n_parameters(self) -> int:
        return int(self.similarity.nnz)
