"""EASE (Steck, WWW 2019): closed-form item-item linear autoencoder with zero diagonal."""

from __future__ import annotations

import numpy as np
import torch

from recbench.models.base import FitContext, Recommender, sparse_rows_times
from recbench.models.constraints import POSITIVE, OneOf

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class EASE(Recommender):
    """``B = I - P diagMat(1 / diag(P))`` with ``P = (X^T X + l2 I)^-1``; score = ``x_u B``.

    Memory while fitting: two ``n_items x n_items`` matrices (Cholesky factor and inverse)
    of ``dtype``; scoring reads ``history`` rows sparsely (cost ``nnz * n_items``).

    Args:
        l2: L2 regularisation added to the Gram matrix diagonal (> 0).
        dtype: ``"float64"``, ``"float32"`` (half the memory) or ``"auto"``: float64 up to
            ``AUTO_FLOAT64_ITEMS`` items, float32 above (41k items: 2 x 6.7 GB, not 2 x 13.4).
    """

    AUTO_FLOAT64_ITEMS = 16384

    parameter_constraints = {"l2": POSITIVE, "dtype": OneOf(("auto", *_DTYPES))}

    def __init__(self, l2: float = 500.0, dtype: str = "auto"):
        self.check_params(locals())
        self.l2, self.dtype = float(l2), dtype

    def _fit(self, train, valid, ctx: FitContext) -> None:
        dtype = self.dtype
        if dtype == "auto":
            dtype = "float64" if self.n_items <= self.AUTO_FLOAT64_ITEMS else "float32"
        gram = torch.from_numpy((train.T @ train).toarray()).to(_DTYPES[dtype])
        gram.diagonal().add_(self.l2)
        factor = torch.linalg.cholesky(gram)
        del gram
        weights = torch.cholesky_inverse(factor)  # P = (X^T X + l2 I)^-1
        del factor
        # LAPACK returns P column-major; P is symmetric, so its transpose is the same matrix
        # in row-major order, which sparse @ dense needs (else scipy copies it every chunk)
        weights = weights if weights.is_contiguous() else weights.T
        weights.div_(-weights.diagonal().clone())  # B = -P / diag(P), column-wise
        weights.diagonal().zero_()
        self.weights = weights.to(torch.float32).numpy()

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return sparse_rows_times(self.history, users, self.weights)

    def n_parameters(self) -> int:
        return int(np.prod(self.weights.shape))
