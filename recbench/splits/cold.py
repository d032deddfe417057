"""Cold-start protocols: test users (or items) never seen in training."""

from __future__ import annotations

import numpy as np

from recbench.data.interactions import Interactions
from recbench.splits.base import (FOLD_IN, TEST, TRAIN, VALID, check_ratios, rank_within_user,
                                  ratio_sizes)


def _entity_parts(n: int, ratios: list[float], seed: int) -> np.ndarray:
    """Assign ``n`` entities to TRAIN / VALID / TEST by ``ratios`` after a seeded shuffle."""
    order = np.random.default_rng(seed).permutation(n)
    n_valid, n_test = int(round(ratios[1] * n)), int(round(ratios[2] * n))
    parts = np.full(n, TRAIN, dtype=np.int8)
    parts[order[:n_test]] = TEST
    parts[order[n_test:n_test + n_valid]] = VALID
    return parts


class ColdUserSplit:
    """Users are split by ``ratios`` into train, valid and test users (seeded); train users'
    interactions are training data. Each held-out user's interactions are split again:
    a seeded random ``fold_in`` fraction is *fold-in* (readable by models at scoring time,
    masked from the ranking, never trained on) and the rest is that user's valid/test
    target ("strong generalisation", Marlin 2004; Liang et al. 2018).
    """

    promises = frozenset({"cold_users"})

    def __init__(self, ratios: list[float] = (0.8, 0.1, 0.1), fold_in: float = 0.8,
                 seed: int = 2024):
        self.ratios, self.fold_in, self.seed = check_ratios(ratios), float(fold_in), int(seed)

    def assign(self, data: Interactions) -> np.ndarray:
        user_part = _entity_parts(data.n_users, self.ratios, self.seed)[data.user]
        rank, count = rank_within_user(data.user, np.random.default_rng(self.seed + 1).random(len(data)))
        n_target = ratio_sizes(count, 1 - self.fold_in, count >= 2)
        held_out = user_part != TRAIN
        assign = np.where(held_out, FOLD_IN, TRAIN).astype(np.int8)
        target = held_out & (rank >= count - n_target)
        assign[target] = user_part[target]
        return assign


class ColdItemSplit:
    """Items are split by ``ratios`` into train, valid and test items (seeded): every
    interaction with a test item is test, with a valid item valid. Collaborative models
    cannot score unseen items (they score 0); content-aware models can."""

    promises = frozenset({"cold_items"})

    def __init__(self, ratios: list[float] = (0.8, 0.1, 0.1), seed: int = 2024):
        self.ratios, self.seed = check_ratios(ratios), int(seed)

    def assign(self, data: Interactions) -> np.ndarray:
        return _entity_parts(data.n_items, self.ratios, self.seed)[data.item]
