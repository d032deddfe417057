"""The :class:`Split` every protocol produces, and its fingerprint."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recbench.data.interactions import TEST, TRAIN, VALID, Interactions
from recbench.data.sequences import Sequences

#: Fold-in: interactions of held-out (cold) users that models may read at scoring time but
#: never train on; they are masked from the ranking like train items.
FOLD_IN = 3

__all__ = ["TRAIN", "VALID", "TEST", "FOLD_IN", "Split", "build_split", "fingerprint",
           "rank_within_user", "ratio_sizes", "order_keys", "check_ratios", "check_parts"]


@dataclass(frozen=True)
class Split:
    """Train / valid / test interactions of one data set under one protocol.

    Attributes:
        train, valid, test: binary ``(n_users, n_items) float32`` CSR matrices; disjoint.
        fold_in: interactions of cold users readable at scoring time, never trained on
            (empty except under the cold-user protocol).
        data: the interactions the split was made from (ids map back to raw ids).
        assign: ``(len(data),) int8`` part of each interaction (TRAIN/VALID/TEST/FOLD_IN).
        fingerprint: ``{"sha256": ..., "data_sha256": ..., "config": {...}, "stats": {...}}``.
        leakage: the leakage report (:func:`recbench.splits.leakage.leakage_report`).
    """

    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    fold_in: sp.csr_matrix
    data: Interactions
    assign: np.ndarray
    fingerprint: dict
    leakage: dict

    @functools.cached_property  # read by fit, both evaluations and the sampler: built once
    def hidden(self) -> sp.csr_matrix:
        """Train interactions left out by ``split.train_fraction``: never trained on or
        read at scoring time, masked in rankings like train (empty at the full fraction)."""
        from recbench.splits.fraction import HIDDEN

        return self.data.to_csr(self.assign == HIDDEN)

    @functools.cached_property
    def observed_train(self) -> sp.csr_matrix:
        """Every train interaction, those hidden by ``split.train_fraction`` included: what
        item popularity, the long tail and user activity groups are measured on, so they
        are the same at every fraction (models learn from :attr:`train` only)."""
        return self.train + self.hidden if self.hidden.nnz else self.train

    @property
    def n_users(self) -> int:
        return self.data.n_users

    @property
    def n_items(self) -> int:
        return self.data.n_items

    def sequences(self, *parts: int) -> "Sequences":
        """Per-user time-ordered item sequences of the interactions in ``parts``, e.g.
        ``split.sequences(TRAIN, VALID)`` (sequential models' input at test time). Items
        with equal timestamps are ordered train, valid, test, as the split saw them."""
        from recbench.data.sequences import user_sequences
        # TRAIN, VALID, TEST, FOLD_IN, HIDDEN (recbench.splits.fraction) -> rank
        order = np.array([0, 2, 3, 1, 4])[self.assign]
        return user_sequences(self.data, np.isin(self.assign, parts), tiebreak=order)


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
    from recbench.splits.leakage import leakage_report

    train, valid, test, fold_in = (data.to_csr(assign == part)
                                   for part in (TRAIN, VALID, TEST, FOLD_IN))
    stats = {
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_train": int(train.nnz),
        "n_valid": int(valid.nnz),
        "n_test": int(test.nnz),
        "n_fold_in": int(fold_in.nnz),
        "n_valid_users": int((np.diff(valid.indptr) > 0).sum()),
        "n_test_users": int((np.diff(test.indptr) > 0).sum()),
    }
    fp = {"sha256": fingerprint(data, config), "data_sha256": data.source_sha256,
          "config": config, "stats": stats}
    return Split(train=train, valid=valid, test=test, fold_in=fold_in, data=data,
                 assign=assign, fingerprint=fp, leakage=leakage_report(data, assign))


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


def order_keys(data: Interactions, order: str, seed: int) -> tuple[np.ndarray, ...]:
    """Sort keys (last primary) ordering each user's interactions by ``order``.

    ``"time"``: by timestamp, equal times by a seeded random tie-break; ``"random"``: seeded
    shuffle.
    """
    from recbench.errors import RecbenchError, unknown_choice

    tiebreak = np.random.default_rng(seed).random(len(data))
    if order == "random":
        return (tiebreak,)
    if order != "time":
        raise unknown_choice("split order", order, ("time", "random"))
    if data.timestamp is None:
        raise RecbenchError(f"dataset '{data.name}' has no timestamps or order; use a random "
                            f"protocol (split=random_ratio) or order=random.")
    return tiebreak, data.timestamp


def ratio_sizes(count: np.ndarray, ratio: float, eligible: np.ndarray) -> np.ndarray:
    """Per-user size of a held-out part: ``floor(ratio * n)`` but at least 1 (eligible users)."""
    if ratio == 0:
        return np.zeros_like(count)
    return np.where(eligible, np.maximum(np.floor(ratio * count + 1e-9), 1), 0).astype(np.int64)


def check_ratios(ratios, what: str = "split.ratios") -> list[float]:
    """Validate ``[train, valid, test]`` fractions."""
    from recbench.errors import RecbenchError

    ratios = [float(r) for r in ratios]
    if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1) > 1e-9 or ratios[0] <= 0:
        raise RecbenchError(f"{what} must be three non-negative fractions [train, valid, test] "
                            f"summing to 1 with train > 0, got {ratios}.")
    for part, share in (("valid", ratios[1]), ("test", ratios[2])):
        if share == 0:  # an empty part has no metrics: every valid_/test_ value would be NaN
            raise RecbenchError(f"{what} gives the {part} part no share, got {ratios}; give "
                                f"valid and test a share > 0, e.g. [0.8, 0.1, 0.1].")
    return ratios


def check_parts(assign: np.ndarray, protocol, split_name: str, data_name: str) -> None:
    """Refuse an assignment whose test part (or valid part, unless the protocol was told to
    keep none: ``protocol.valid_optional``) is empty: its metrics would all be NaN."""
    from recbench.errors import RecbenchError

    counts = np.bincount(assign, minlength=FOLD_IN + 1)
    empty = [name for name, part in (("valid", VALID), ("test", TEST)) if counts[part] == 0
             and not (part == VALID and getattr(protocol, "valid_optional", False))]
    if empty:
        fewer = (" or lower split.min_user_interactions"
                 if hasattr(protocol, "min_user_interactions") else "")
        raise RecbenchError(f"split '{split_name}' leaves the {empty[0]} part of dataset "
                            f"'{data_name}' empty ({counts[TRAIN]} train interactions); give "
                            f"{empty[0]} a larger share in split.*{fewer}.")
