"""Leakage report of a split: what the test part reveals about, or shares with, training.

Counted (all integers, plus fractions of the test interactions):
- ``test_older_than_newest_train``: test interactions older than the newest training
  interaction of anyone (the model was trained on the future of these test events);
- ``test_older_than_user_newest_train``: the same within each user's own history;
- ``test_users_without_train`` / ``test_items_without_train``: cold entities in test;
- ``pairs_in_train_and_test``: (user, item) pairs in both parts (repeat consumption or
  duplicates left in by the preprocessing).
Time counts are present only when the data set has timestamps (ordinal ones included).
"""

from __future__ import annotations

import numpy as np

from recbench.data.interactions import Interactions
from recbench.splits.base import FOLD_IN, TEST, TRAIN

#: Promise a protocol may make -> the count that must then be zero.
PROMISE_COUNTS = {
    "time_global": "test_older_than_newest_train",
    "time_user": "test_older_than_user_newest_train",
}


def leakage_report(data: Interactions, assign: np.ndarray) -> dict:
    train, test = assign == TRAIN, assign == TEST
    seen = train | (assign == FOLD_IN)
    n_test = int(test.sum())
    report: dict = {"n_test": n_test}
    if data.timestamp is not None and train.any() and n_test:
        ts = data.timestamp
        report["test_older_than_newest_train"] = int((test & (ts < ts[train].max())).sum())
        newest = np.full(data.n_users, -np.inf)
        np.maximum.at(newest, data.user[train], ts[train])
        report["test_older_than_user_newest_train"] = int((test & (ts < newest[data.user])).sum())
    users_seen = np.zeros(data.n_users, dtype=bool)
    users_seen[data.user[seen]] = True
    items_seen = np.zeros(data.n_items, dtype=bool)
    items_seen[data.item[train]] = True
    report["test_users_without_train"] = int(np.unique(data.user[test & ~users_seen[data.user]]).size)
    report["test_items_without_train"] = int(np.unique(data.item[test & ~items_seen[data.item]]).size)
    keys = data.user * data.n_items + data.item
    report["pairs_in_train_and_test"] = int(np.intersect1d(keys[train], keys[test]).size)
    for key in ("test_older_than_newest_train", "test_older_than_user_newest_train"):
        if key in report:
            report[key.replace("test_", "frac_test_", 1)] = report[key] / max(n_test, 1)
    return report


_PROMISE_TEXT = {"time_global": "the newest training interaction",
                 "time_user": "their user's newest training interaction"}


def broken_promises(promises: frozenset[str], report: dict) -> list[str]:
    """One line for each leakage a protocol promised not to have but has."""
    return [f"{report[key]} of {report['n_test']} test interactions are older than "
            f"{_PROMISE_TEXT[promise]}"
            for promise, key in sorted(PROMISE_COUNTS.items())
            if promise in promises and report.get(key, 0) > 0]
