"""Test-only models that fail on purpose (selected with model._target_=tests.boom.X)."""

from __future__ import annotations

import torch

from recbench.models.base import FitContext, Recommender


class Exploding(Recommender):
    """Logs one epoch of curve, then raises inside fit."""

    def __init__(self, message: str = "boom", l2: float = 0.0, dtype: str = "auto"):
        self.message = message  # l2 / dtype: accepted so it can stand in for EASE in searches

    def _fit(self, train, valid, ctx: FitContext) -> None:
        if ctx.log:
            ctx.log({"train_loss": 1.5}, 0)
        raise RuntimeError(self.message)

    def score(self, users):
        raise AssertionError("never reached")

    def n_parameters(self) -> int:
        return 0


class NaNScores(Exploding):
    """Fits fine, then returns NaN scores."""

    def _fit(self, train, valid, ctx: FitContext) -> None:
        pass

    def score(self, users):
        return torch.full((len(users), self.n_items), float("nan"))
