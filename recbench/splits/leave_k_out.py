"""Leave-k-out: each user's last k interactions (by time, or random) are test, the k before valid."""

from __future__ import annotations

import numpy as np

from recbench.data.interactions import Interactions
from recbench.errors import RecbenchError
from recbench.splits.base import TEST, TRAIN, VALID, order_keys, rank_within_user


class LeaveKOutSplit:
    """Per user, order interactions (``order="time"``: by timestamp, equal times by a seeded
    tie-break; ``"random"``: seeded shuffle); the last ``k`` are test, the ``k`` before them
    valid. Users with fewer than ``max(min_user_interactions, 2k + 1)`` interactions stay
    train-only. ``k=1`` is leave-one-out, the standard sequential-recommendation protocol.
    """

    def __init__(self, k: int = 1, order: str = "time", seed: int = 2024,
                 min_user_interactions: int = 3):
        if k < 1:
            raise RecbenchError(f"split.k must be >= 1, got {k}.")
        if order not in ("time", "random"):
            from recbench.errors import unknown_choice
            raise unknown_choice("split order", order, ("time", "random"))
        self.k, self.order, self.seed = int(k), order, int(seed)
        self.min_user_interactions = max(int(min_user_interactions), 2 * self.k + 1)
        self.promises = frozenset({"time_user"}) if order == "time" else frozenset()

    def assign(self, data: Interactions) -> np.ndarray:
        """``(len(data),) int8``: 0 train, 1 valid, 2 test for each interaction."""
        rank, count = rank_within_user(data.user, *order_keys(data, self.order, self.seed))
        from_end = count - 1 - rank
        eligible = count >= self.min_user_interactions
        assign = np.full(len(data), TRAIN, dtype=np.int8)
        assign[eligible & (from_end >= self.k) & (from_end < 2 * self.k)] = VALID
        assign[eligible & (from_end < self.k)] = TEST
        return assign
