"""Leave-one-out by timestamp: each user's last interaction is test, the one before valid."""

from __future__ import annotations

import numpy as np

from recbench.data.interactions import Interactions
from recbench.errors import RecbenchError
from recbench.splits.base import TEST, TRAIN, VALID, rank_within_user


class LeaveOneOutSplit:
    """Order each user's interactions by time; last -> test, second to last -> valid.

    Interactions with equal timestamps are ordered by a seeded random tie-break, so the
    split is deterministic. Users with fewer than ``min_user_interactions`` stay train-only.

    Args:
        seed: seed of the tie-break among equal timestamps.
        min_user_interactions: users below this stay train-only (at least 3).
    """

    def __init__(self, seed: int = 2024, min_user_interactions: int = 3):
        if min_user_interactions < 3:
            raise RecbenchError("split.min_user_interactions must be >= 3 for leave-one-out.")
        self.seed, self.min_user_interactions = int(seed), min_user_interactions

    def assign(self, data: Interactions) -> np.ndarray:
        """``(len(data),) int8``: 0 train, 1 valid, 2 test for each interaction."""
        if data.timestamp is None:
            raise RecbenchError(
                f"dataset '{data.name}' has no timestamps; use split=random_ratio instead."
            )
        tiebreak = np.random.default_rng(self.seed).random(len(data))
        rank, count = rank_within_user(data.user, tiebreak, data.timestamp)
        from_end = count - 1 - rank
        eligible = count >= self.min_user_interactions
        assign = np.full(len(data), TRAIN, dtype=np.int8)
        assign[eligible & (from_end == 1)] = VALID
        assign[eligible & (from_end == 0)] = TEST
        return assign
