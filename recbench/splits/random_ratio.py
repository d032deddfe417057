"""Random ratio split (e.g. 80/10/10), per user or global; and its temporal per-user twin."""

from __future__ import annotations

import numpy as np

from recbench.data.interactions import Interactions
from recbench.errors import RecbenchError, unknown_choice
from recbench.splits.base import (TEST, TRAIN, VALID, check_ratios, order_keys, rank_within_user,
                                  ratio_sizes)


class RandomRatioSplit:
    """Cut interactions by ``ratios`` after a seeded shuffle (or by time, ``order="time"``).

    ``scope="user"``: per user with ``n >= min_user_interactions`` interactions, valid and
    test get ``floor(ratio * n)`` each but at least 1, train the rest (RecBole's RS rule);
    users with fewer interactions stay train-only. With ``order="time"`` each user's latest
    interactions are test and the ones before them valid (per-user temporal ratio).
    ``scope="global"``: the whole interaction list is shuffled and cut once.

    Args:
        ratios: ``[train, valid, test]`` fractions summing to 1.
        seed: seed of the shuffle (and of tie-breaks among equal timestamps); fixed
            independently of the run seed, so every model and run seed is tested on the
            same interactions (paired comparisons).
        min_user_interactions: users below this stay train-only (scope=user).
        scope: ``"user"`` or ``"global"``.
        order: ``"random"`` or ``"time"``.
    """

    promises: frozenset[str] = frozenset()

    def __init__(self, ratios: list[float] = (0.8, 0.1, 0.1), seed: int = 2024,
                 min_user_interactions: int = 3, scope: str = "user", order: str = "random"):
        self.ratios = check_ratios(ratios)
        if min_user_interactions < 1:
            raise RecbenchError("split.min_user_interactions must be >= 1.")
        if scope not in ("user", "global"):
            raise unknown_choice("split scope", scope, ("user", "global"))
        if order not in ("random", "time"):
            raise unknown_choice("split order", order, ("random", "time"))
        if scope == "global" and order == "time":
            raise RecbenchError("a global split by time is split=temporal_global (a cutoff).")
        self.seed, self.min_user_interactions = int(seed), min_user_interactions
        self.scope, self.order = scope, order
        if order == "time":
            self.promises = frozenset({"time_user"})

    def assign(self, data: Interactions) -> np.ndarray:
        """``(len(data),) int8``: 0 train, 1 valid, 2 test for each interaction."""
        if self.scope == "global":
            rank = np.empty(len(data), dtype=np.int64)
            rank[np.random.default_rng(self.seed).permutation(len(data))] = np.arange(len(data))
            count = np.full(len(data), len(data))
            eligible = np.ones(len(data), dtype=bool)
        else:
            rank, count = rank_within_user(data.user, *order_keys(data, self.order, self.seed))
            held_out = (self.ratios[1] > 0) + (self.ratios[2] > 0)
            eligible = count >= max(self.min_user_interactions, held_out + 1)  # keep >= 1 train
        n_valid = ratio_sizes(count, self.ratios[1], eligible)
        n_test = ratio_sizes(count, self.ratios[2], eligible)
        n_train = count - n_valid - n_test
        return np.where(rank < n_train, TRAIN, np.where(rank < n_train + n_valid, VALID, TEST)
                        ).astype(np.int8)
