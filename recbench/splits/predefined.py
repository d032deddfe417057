"""Predefined split: the data set's own train/test files; validation carved from train, or
the data set's own validation file where it publishes one (BARS' CTR sets)."""

from __future__ import annotations

import numpy as np

from recbench.data.interactions import Interactions
from recbench.errors import RecbenchError
from recbench.splits.base import TEST, TRAIN, VALID, rank_within_user, ratio_sizes


class PredefinedSplit:
    """Keep the published train/test files (``_m1`` sets, LightGCN sets) as they are.

    Validation rule: per user with at least ``min_user_interactions`` train interactions, a
    seeded random ``valid_ratio`` of them (``floor``, at least 1) becomes validation; the test
    file is never touched. ``valid_ratio=0`` keeps no validation (early stopping then has
    nothing to watch). A data set that publishes a validation file too (train/valid/test,
    as BARS' CTR sets) keeps its three parts exactly as published: nothing is carved.
    """

    promises: frozenset[str] = frozenset()

    def __init__(self, valid_ratio: float = 0.1, seed: int = 2024, min_user_interactions: int = 3):
        if not 0 <= valid_ratio < 1:
            raise RecbenchError(f"split.valid_ratio must be in [0, 1), got {valid_ratio}.")
        self.valid_ratio, self.seed = float(valid_ratio), int(seed)
        self.min_user_interactions = int(min_user_interactions)
        #: valid_ratio=0 asks for no validation (published-protocol repros): not an error
        self.valid_optional = self.valid_ratio == 0

    def assign(self, data: Interactions) -> np.ndarray:
        """``(len(data),) int8``: 0 train, 1 valid, 2 test for each interaction."""
        if data.part is None:
            raise RecbenchError(f"dataset '{data.name}' has no predefined split (one file); "
                                f"use split=random_ratio or split=leave_one_out.")
        if (data.part == VALID).any():  # published train/valid/test: kept as they are
            return data.part.astype(np.int8, copy=True)
        assign = np.where(data.part == TEST, TEST, TRAIN).astype(np.int8)
        is_train = assign == TRAIN
        train_users = np.zeros(data.n_users, dtype=bool)
        train_users[data.user[is_train]] = True
        lonely = np.unique(data.user[~is_train & ~train_users[data.user]])
        if len(lonely):
            raise RecbenchError(f"{len(lonely)} test users of '{data.name}' have no train "
                                f"interactions; filter them (dataset.user_core) or use a "
                                f"cold-user protocol.")
        idx = np.flatnonzero(is_train)
        key = np.random.default_rng(self.seed).random(len(idx))
        rank, count = rank_within_user(data.user[idx], key)
        n_valid = ratio_sizes(count, self.valid_ratio, count >= self.min_user_interactions)
        assign[idx[rank < n_valid]] = VALID
        return assign
