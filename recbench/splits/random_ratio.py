"""Per-user random ratio split (e.g. 80/10/10), seeded."""

from __future__ import annotations

import numpy as np

from recbench.data.interactions import Interactions
from recbench.errors import RecbenchError
from recbench.splits.base import TEST, TRAIN, VALID, rank_within_user


class RandomRatioSplit:
    """Shuffle each user's interactions with ``seed`` and cut them by ``ratios``.

    Per user with ``n >= min_user_interactions`` interactions: valid and test get
    ``floor(ratio * n)`` each, but at least 1; train gets the rest. Users with fewer
    interactions stay train-only (they are never evaluated). Same rule as RecBole's RS split.

    Args:
        ratios: ``[train, valid, test]`` fractions summing to 1.
        seed: seed of the shuffle; fixed independently of the run seed, so every model and
            every run seed is evaluated on the same test set (paired comparisons).
        min_user_interactions: users below this stay train-only.
    """

    def __init__(self, ratios: list[float] = (0.8, 0.1, 0.1), seed: int = 2024,
                 min_user_interactions: int = 3):
        ratios = [float(r) for r in ratios]
        if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1) > 1e-9 or ratios[0] <= 0:
            raise RecbenchError(
                f"split.ratios must be three non-negative fractions [train, valid, test] summing "
                f"to 1 with train > 0, got {ratios}."
            )
        if min_user_interactions < 1:
            raise RecbenchError("split.min_user_interactions must be >= 1.")
        self.ratios, self.seed, self.min_user_interactions = ratios, int(seed), min_user_interactions

    def assign(self, data: Interactions) -> np.ndarray:
        """``(len(data),) int8``: 0 train, 1 valid, 2 test for each interaction."""
        rng = np.random.default_rng(self.seed)
        rank, count = rank_within_user(data.user, rng.random(len(data)))
        eligible = count >= self.min_user_interactions

        def part_size(ratio: float) -> np.ndarray:
            if ratio == 0:
                return np.zeros_like(count)
            return np.where(eligible, np.maximum(np.floor(ratio * count + 1e-9), 1), 0).astype(int)

        n_valid, n_test = part_size(self.ratios[1]), part_size(self.ratios[2])
        n_train = count - n_valid - n_test
        return np.where(rank < n_train, TRAIN, np.where(rank < n_train + n_valid, VALID, TEST)
                        ).astype(np.int8)
