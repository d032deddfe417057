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


class Picky(Exploding):
    """Scores like MostPop, but refuses ``a == b == 1`` when built: a sweep's checks (one
    dimension at a time) pass, and that one job fails before its MLflow run exists."""

    def __init__(self, a: int = 0, b: int = 0):
        if a == b == 1:
            raise ValueError("a and b cannot both be 1")

    def _fit(self, train, valid, ctx: FitContext) -> None:
        self.popularity = torch.from_numpy(train.sum(axis=0).A1)

    def score(self, users):
        return self.popularity.expand(len(users), -1).clone()
