"""The :class:`Split` every protocol produces, and its fingerprint."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recbench.data.interactions import Interactions

TRAIN, VALID, TEST = 0, 1, 2


@dataclass(frozen=True)
class Split:
    """Train / valid / test interactions of one data set under one protocol.

    Attributes:
        train, valid, test: binary ``(n_users, n_items) float32`` CSR matrices; disjoint.
        data: the interactions the split was made from (ids map back to raw ids).
        fingerprint: ``{"sha256": ..., "data_sha256": ..., "config": {...}, "stats": {...}}``.
    """

    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    data: Interactions
    fingerprint: dict

    @property
    def n_users(self) -> int:
        return self.data.n_users

    @property
    def n_items(self) -> int:
        return self.data.n_items


def fingerprint(data: Interactions, config: dict) -> str:
    """sha256 over the raw data bytes' hash and the resolved data + split config (sorted JSON)."""
    payload = json.dumps({"data_sha256": data.source_sha256, "config": config}, sort_keys=True,
                         default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def build_split(data: Interactions, assign: np.ndarray, config: dict) -> Split:
    """Turn a per-interaction assignment (0 train, 1 valid, 2 test) into a :class:`Split`.

    Args:
        data: the interactions.
        assign: ``(len(data),) int8`` part of each interaction.
        config: the resolved data + split config; hashed into the fingerprint.
    """
    train, valid, test = (data.to_csr(assign == part) for part in (TRAIN, VALID, TEST))
    stats = {
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_train": int(train.nnz),
        "n_valid": int(valid.nnz),
        "n_test": int(test.nnz),
        "n_valid_users": int((np.diff(valid.indptr) > 0).sum()),
        "n_test_users": int((np.diff(test.indptr) > 0).sum()),
    }
    fp = {"sha256": fingerprint(data, config), "data_sha256": data.source_sha256,
          "config": config, "stats": stats}
    return Split(train=train, valid=valid, test=test, data=data, fingerprint=fp)


def rank_within_user(user: np.ndarray, *sort_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each interaction within its user, ordered by ``sort_keys`` (last key primary).

    Returns:
        ``(rank, count)``: ``rank[j]`` is interaction j's 0-based position among its user's
        interactions; ``count[j]`` is how many interactions that user has.
    """
    order = np.lexsort((*sort_keys, user))
    counts = np.bincount(user)
    starts = np.cumsum(counts) - counts
    rank = np.empty(len(user), dtype=np.int64)
    rank[order] = np.arange(len(user)) - starts[user[order]]
    return rank, counts[user]
