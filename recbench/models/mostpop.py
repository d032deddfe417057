"""MostPop: every user gets the items ranked by their number of training interactions."""

from __future__ import annotations

import numpy as np
import torch

from recbench.models.base import FitContext, Recommender


class MostPop(Recommender):
    """Score of item i = number of training users who interacted with i."""

    def _fit(self, train, valid, ctx: FitContext) -> None:
        self.popularity = torch.from_numpy(np.asarray(train.sum(axis=0)).ravel().astype(np.float32))

    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        rows = self.popularity.expand(len(users), -1)
        return rows.clone() if out is None else out.copy_(rows)

    def n_parameters(self) -> int:
        return self.n_items
