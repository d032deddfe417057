"""The loaded data set: implicit-feedback interactions with contiguous integer ids."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

#: Parts of a split, as stored per interaction (``Interactions.part``, split assignments).
TRAIN, VALID, TEST = 0, 1, 2


@dataclass(frozen=True)
class Interactions:
    """User-item interactions after preprocessing.

    Attributes:
        name: data set name, e.g. ``"ml-100k"``.
        user: ``(n,) int64`` contiguous user index in ``[0, n_users)``.
        item: ``(n,) int64`` contiguous item index in ``[0, n_items)``.
        timestamp: ``(n,) float64`` seconds since epoch, or None when unknown.
        rating: ``(n,) float32`` explicit rating, or None when the data is implicit.
        user_ids: ``(n_users,)`` raw user id of each index (maps results back to raw ids).
        item_ids: ``(n_items,)`` raw item id of each index.
        source_sha256: sha256 of the raw bytes the data was read from.
        part: ``(n,) int8`` predefined part of each interaction (0 train, 2 test) when the
            data set ships its own split files, else None.
        timestamp_kind: ``"seconds"`` (real times), ``"ordinal"`` (positions in a sequence:
            order is known, durations are not) or None (no time information).
        user_features, item_features: side information indexed by contiguous id, or None.
    """

    name: str
    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray | None
    rating: np.ndarray | None
    user_ids: np.ndarray
    item_ids: np.ndarray
    source_sha256: str
    meta: dict = field(default_factory=dict)
    part: np.ndarray | None = None
    timestamp_kind: str | None = None
    user_features: pd.DataFrame | None = None
    item_features: pd.DataFrame | None = None

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.user)

    def to_csr(self, mask: np.ndarray | None = None) -> sp.csr_matrix:
        """Binary ``(n_users, n_items) float32`` CSR matrix of the (masked) interactions."""
        u, i = (self.user, self.item) if mask is None else (self.user[mask], self.item[mask])
        m = sp.csr_matrix(
            (np.ones(len(u), dtype=np.float32), (u, i)), shape=(self.n_users, self.n_items)
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        return m


def _sorted_unique(raw: pd.Series) -> np.ndarray:
    """Unique raw ids in a deterministic order: numeric order if all ids are integers, else lexical."""
    uniq = pd.unique(raw.astype(str))
    keys = _integer_keys(uniq)
    return uniq[np.argsort(uniq if keys is None else keys, kind="stable")]


def _integer_keys(uniq: np.ndarray) -> np.ndarray | None:
    """The ids as integers, or None when one is not an integer. Ids beyond int64 (20+
    digits) are valid ids too: they become Python ints, which never overflow."""
    try:
        return uniq.astype(np.int64)
    except OverflowError:
        try:
            return np.array([int(u) for u in uniq], dtype=object)
        except ValueError:
            return None
    except ValueError:
        return None


def from_frame(frame: pd.DataFrame, *, name: str, source_sha256: str,
               timestamp_kind: str | None = None, meta: dict | None = None) -> Interactions:
    """Build :class:`Interactions` from a frame with columns user, item[, rating, timestamp, part].

    Each row is one positive interaction (preprocessing has already run). Raw ids are
    remapped to contiguous ints in sorted raw-id order, so the same input always gives the
    same mapping.
    """
    if frame.empty:
        from recbench.errors import RecbenchError
        raise RecbenchError(f"dataset '{name}' has no interactions.")
    users_raw, items_raw = frame["user"].astype(str), frame["item"].astype(str)
    user_ids, item_ids = _sorted_unique(users_raw), _sorted_unique(items_raw)
    user = pd.Index(user_ids).get_indexer(users_raw).astype(np.int64)
    item = pd.Index(item_ids).get_indexer(items_raw).astype(np.int64)
    has_ts = "timestamp" in frame
    return Interactions(
        name=name,
        user=user,
        item=item,
        timestamp=frame["timestamp"].to_numpy(np.float64) if has_ts else None,
        rating=frame["rating"].to_numpy(np.float32) if "rating" in frame else None,
        user_ids=user_ids,
        item_ids=item_ids,
        source_sha256=source_sha256,
        meta=dict(meta or {}),
        part=frame["part"].to_numpy(np.int8) if "part" in frame else None,
        timestamp_kind=(timestamp_kind or "seconds") if has_ts else None,
    )
