"""Per-user item sequences in time order: the input of sequential recommenders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recbench.data.interactions import Interactions
from recbench.errors import RecbenchError


@dataclass(frozen=True)
class Sequences:
    """Ragged per-user sequences, stored like a CSR matrix.

    Attributes:
        indptr: ``(n_users + 1,) int64``; user u's items are ``items[indptr[u]:indptr[u+1]]``.
        items: ``(n,) int64`` item indices in ``[0, n_items)``, oldest first. Repeats are kept
            (a user may come back to an item).
        n_items: number of items; ``n_items`` itself is the padding index.
    """

    indptr: np.ndarray
    items: np.ndarray
    n_items: int

    @property
    def n_users(self) -> int:
        return len(self.indptr) - 1

    @property
    def pad(self) -> int:
        """Index used for padding (one past the last item)."""
        return self.n_items

    def lengths(self) -> np.ndarray:
        """``(n_users,) int64`` sequence length of each user."""
        return np.diff(self.indptr)

    def last(self, users: np.ndarray, length: int) -> np.ndarray:
        """The ``length`` most recent items of each user, left-padded with :attr:`pad`.

        Returns:
            ``(len(users), length) int64``; row r ends with user ``users[r]``'s latest item.
        """
        users = np.asarray(users, dtype=np.int64)
        ends = self.indptr[users + 1]
        return self._gather(ends, self.indptr[users], length)

    def windows(self, length: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
        """Cut every sequence into windows of ``length`` items, the last ending at the
        sequence's end and each earlier one ``stride`` items before, until the sequence's
        first ``length - stride`` items are reached; short windows are left-padded.

        ``length = max_len + 1, stride = max_len`` gives next-item windows (input = the first
        ``max_len`` items, target = the last ``max_len``) in which every item but the first
        is a target exactly once; ``length = stride`` gives non-overlapping windows.

        Returns:
            ``(windows, users)``: ``(n_windows, length) int64`` and ``(n_windows,) int64``.
        """
        if not 1 <= stride <= length:
            raise ValueError(f"windows need 1 <= stride <= length, got {stride}, {length}")
        lengths = self.lengths()
        count = np.maximum(-(-(lengths - (length - stride)) // stride), 0)
        users = np.repeat(np.arange(self.n_users, dtype=np.int64), count)
        # k-th window of a user (k = 0: the latest) ends k * stride items before its end
        k = np.arange(len(users)) - np.repeat(np.cumsum(count) - count, count)
        ends = self.indptr[users + 1] - k * stride
        return self._gather(ends, self.indptr[users], length), users

    def _gather(self, ends: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
        positions = ends[:, None] - length + np.arange(length)[None, :]
        inside = positions >= starts[:, None]
        out = np.full(positions.shape, self.pad, dtype=np.int64)
        out[inside] = self.items[positions[inside]]
        return out


def user_sequences(data: Interactions, mask: np.ndarray | None = None,
                   tiebreak: np.ndarray | None = None) -> Sequences:
    """The (masked) interactions as per-user sequences, ordered by timestamp; equal
    timestamps are ordered by ``tiebreak`` (``(len(data),)``, e.g. the split part, so that a
    held-out item sharing a timestamp with train items comes after them), then by row.

    Raises:
        RecbenchError: the data set has no timestamps or order.
    """
    if data.timestamp is None:
        raise RecbenchError(f"dataset '{data.name}' has no timestamps or order, so it has no "
                            f"sequences; sequential models need an ordered data set (e.g. "
                            f"dataset=amazon_beauty_s3rec or ml-100k).")
    rows = np.arange(len(data)) if mask is None else np.flatnonzero(mask)
    ties = np.zeros(len(rows)) if tiebreak is None else tiebreak[rows]
    order = rows[np.lexsort((rows, ties, data.timestamp[rows], data.user[rows]))]
    counts = np.bincount(data.user[order], minlength=data.n_users)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return Sequences(indptr=indptr, items=data.item[order].astype(np.int64),
                     n_items=data.n_items)
