"""ItemKNN: item-item similarity (cosine, Jaccard or asymmetric cosine) with shrinkage,
top-k neighbours per item."""

from __future__ import annotations

import numpy as np
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
    ``score(u, i) = sum_j x_uj sim(j, i)``. Similarities are computed ``block_size`` items at a
    time, so memory is ``n_items * block_size`` floats, never ``n_items^2``. After ``fit`` the
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
                     start: int, stop: int) -> np.ndarray:
        """``(targets, candidates)`` float64 denominators of the block ``start:stop``."""
        a = self.asym_alpha
        if self.similarity_name == "cosine" or (self.similarity_name == "asymmetric" and a == 0.5):
            return np.outer(norms[start:stop], norms) + self.shrink + 1e-12
        if self.similarity_name == "jaccard":
            return (squares[start:stop, None] + squares[None, :] - dots) + self.shrink + 1e-12
        # asymmetric: the target's |x|^2 to the a times the candidate's to the 1 - a, from the
        # squared norms in float64 (sqrt then power would make |I|^1 = 3 come out 2.9999998)
        squares = squares.astype(np.float64)
        return np.outer(squares[start:stop] ** a, squares ** (1 - a)) + self.shrink + 1e-12

    def _fit(self, train, valid, ctx: FitContext) -> None:
        n = self.n_items
        squares = np.asarray(train.multiply(train).sum(axis=0)).ravel()
        norms = np.sqrt(squares)
        k = min(self.k, n - 1) if n > 1 else 0

        def block(start, stop):  # (targets, candidates): row t holds sim(j, start + t)
            dots = (train[:, start:stop].T @ train).toarray()
            denominator = self._denominator(dots, squares, norms, start, stop)
            return torch.from_numpy(dots.astype(np.float32)) / torch.from_numpy(
                denominator.astype(np.float32))

        # top-k neighbours per target item, stored as column `target`
        self.similarity = blockwise_top_k(n, k, self.block_size, block, transpose=True)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return sparse_rows_times(self.history, users, self.similarity)

    def n_parameters(self) -> int:
        return int(self.similarity.nnz)
