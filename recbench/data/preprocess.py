"""Preprocessing applied to raw interactions before ids are remapped (all recorded in the
fingerprint through the dataset config): rating threshold, duplicates, k-core, minimum counts.

Each step works on the raw frame (columns user, item[, rating, timestamp, part]) and
reports how many rows it kept; a step that empties the data names itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recbench.errors import RecbenchError

DUPLICATE_POLICIES = ("first", "last", "sum", "keep")


def _check_not_empty(frame: pd.DataFrame, name: str, step: str) -> pd.DataFrame:
    if frame.empty:
        raise RecbenchError(f"dataset '{name}' is empty after {step}; relax that setting.")
    return frame


def apply_min_rating(frame: pd.DataFrame, min_rating: float | None, name: str) -> pd.DataFrame:
    """Keep interactions with ``rating >= min_rating`` (explicit -> implicit feedback)."""
    if min_rating is None:
        return frame
    if "rating" not in frame:
        raise RecbenchError(f"dataset '{name}' has no rating column; remove dataset.min_rating.")
    return _check_not_empty(frame[frame["rating"] >= min_rating], name,
                            f"filtering with min_rating={min_rating}")


def apply_duplicates(frame: pd.DataFrame, policy: str, name: str) -> pd.DataFrame:
    """Resolve repeated (user, item) pairs within one part (train/test files are kept apart).

    ``first`` / ``last`` keep the earliest / latest occurrence (by timestamp when known,
    else file order); ``sum`` keeps one row whose rating is the sum (e.g. play counts) and
    whose timestamp is the earliest; ``keep`` leaves duplicates (they count once in the
    interaction matrices).
    """
    if policy not in DUPLICATE_POLICIES:
        from recbench.errors import unknown_choice
        raise unknown_choice("duplicates policy", policy, DUPLICATE_POLICIES)
    if policy == "keep":
        return frame
    keys = ["user", "item"] + (["part"] if "part" in frame else [])
    ordered = frame.sort_values("timestamp", kind="stable") if "timestamp" in frame else frame
    if policy in ("first", "last"):
        return ordered.drop_duplicates(keys, keep=policy).sort_index()
    agg = {c: ("sum" if c == "rating" else "first") for c in frame.columns if c not in keys}
    if "timestamp" in agg:
        agg["timestamp"] = "min"
    return ordered.groupby(keys, sort=False, as_index=False).agg(agg)[frame.columns]


def apply_counts(frame: pd.DataFrame, name: str, user_core: int = 0, item_core: int = 0,
                 min_user_interactions: int = 0, min_item_interactions: int = 0) -> pd.DataFrame:
    """Minimum counts once, then iterative k-core until every user has ``>= user_core`` and
    every item ``>= item_core`` interactions."""
    def counts(col: str) -> pd.Series:
        return frame[col].map(frame[col].value_counts())

    if min_user_interactions > 1:
        frame = _check_not_empty(frame[counts("user") >= min_user_interactions], name,
                                 f"min_user_interactions={min_user_interactions}")
    if min_item_interactions > 1:
        frame = _check_not_empty(frame[counts("item") >= min_item_interactions], name,
                                 f"min_item_interactions={min_item_interactions}")
    while user_core > 1 or item_core > 1:
        keep = np.ones(len(frame), dtype=bool)
        if user_core > 1:
            keep &= (counts("user") >= user_core).to_numpy()
        if item_core > 1:
            keep &= (counts("item") >= item_core).to_numpy()
        if keep.all():
            break
        frame = _check_not_empty(frame[keep], name,
                                 f"k-core filtering (user_core={user_core}, item_core={item_core})")
    return frame
