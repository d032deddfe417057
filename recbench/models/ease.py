"""EASE (Steck, WWW 2019): closed-form item-item linear autoencoder with zero diagonal."""

from __future__ import annotations

import numpy as np
import torch

from recbench.models.base import FitContext, Recommender, rows_dense

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class EASE(Recommender):
    """``B = I - P diagMat(1 / diag(P))`` with ``P = (X^T X + l2 I)^-1``; score = ``x_u B``.

    Args:
        l2: L2 regularisation added to the Gram matrix diagonal (> 0).
        dtype: ``"float64"`` (exact) or ``"float32"`` (half the memory: two
            ``n_items x n_items`` matrices are held while fitting).
    """

    def __init__(self, l2: float = 500.0, dtype: str = "float64"):
        if l2 <= 0:
            raise ValueError(f"EASE l2 must be > 0, got {l2}")
        if dtype not in _DTYPES:
            raise ValueError(f"EASE dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        self.l2, self.dtype = float(l2), dtype

    def _fit(self, train, valid, ctx: FitContext) -> None:
        self.train = train
        gram = torch.from_numpy((train.T @ train).toarray()).to(_DTYPES[self.dtype])
        gram.diagonal().add_(self.l2)
        precision = torch.cholesky_inverse(torch.linalg.cholesky(gram))
        del gram
        weights = precision / (-precision.diagonal())
        weights.diagonal().zero_()
        self.weights = weights.to(torch.float32)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return rows_dense(self.train, users) @ self.weights

    def n_parameters(self) -> int:
        return int(np.prod(self.weights.shape))
