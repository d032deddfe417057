"""Split protocols: disjointness, sizes, determinism, temporal order, fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.errors import RecbenchError
from recbench.splits import LeaveKOutSplit as LeaveOneOutSplit, RandomRatioSplit, build_split
from tests.conftest import make_interactions


def test_random_ratio_partitions_every_user(ml100k, ml100k_split):
    s = ml100k_split
    total = s.train + s.valid + s.test
    assert total.nnz == len(ml100k) and total.max() == 1  # disjoint and complete
    counts = np.diff(ml100k.to_csr().indptr)
    n_test = np.diff(s.test.indptr)
    np.testing.assert_array_equal(n_test, np.maximum(np.floor(0.1 * counts + 1e-9), 1))
    np.testing.assert_array_equal(np.diff(s.valid.indptr), n_test)
    assert s.fingerprint["stats"]["n_train"] == s.train.nnz


def test_random_ratio_small_users_stay_train_only():
    data = make_interactions(user=[0, 0, 1, 1, 1, 2], item=[0, 1, 0, 1, 2, 3])
    s = build_split(data, RandomRatioSplit().assign(data), {})
    assert s.train[0].nnz == 2 and s.train[2].nnz == 1  # < 3 interactions: train only
    assert (s.train[1].nnz, s.valid[1].nnz, s.test[1].nnz) == (1, 1, 1)


def test_random_ratio_always_leaves_train_data():
    data = make_interactions(user=[0, 1, 1, 2, 2, 2], item=[0, 0, 1, 0, 1, 2])
    a = RandomRatioSplit(min_user_interactions=1).assign(data)
    assert a.tolist()[:3] == [0, 0, 0]  # 1 and 2 interactions: too few to hold any out
    assert sorted(a[3:].tolist()) == [0, 1, 2]


def test_random_ratio_is_seeded(ml100k):
    a = RandomRatioSplit(seed=1).assign(ml100k)
    np.testing.assert_array_equal(a, RandomRatioSplit(seed=1).assign(ml100k))
    assert (a != RandomRatioSplit(seed=2).assign(ml100k)).any()


def test_bad_ratios_are_refused():
    with pytest.raises(RecbenchError, match="summing to 1"):
        RandomRatioSplit(ratios=[0.8, 0.1, 0.2])


def test_leave_one_out_takes_the_latest_interactions(ml100k):
    assign = LeaveOneOutSplit().assign(ml100k)
    s = build_split(ml100k, assign, {})
    assert s.test.nnz == s.valid.nnz == ml100k.n_users
    ts = ml100k.timestamp
    latest = np.full(ml100k.n_users, -np.inf)
    np.maximum.at(latest, ml100k.user, ts)
    test_ts = np.full(ml100k.n_users, np.nan)
    test_ts[ml100k.user[assign == 2]] = ts[assign == 2]
    np.testing.assert_array_equal(test_ts, latest)  # test item is (one of) the newest
    newest_train = np.full(ml100k.n_users, -np.inf)
    np.maximum.at(newest_train, ml100k.user[assign == 0], ts[assign == 0])
    valid_ts = np.full(ml100k.n_users, np.nan)
    valid_ts[ml100k.user[assign == 1]] = ts[assign == 1]
    assert np.all(newest_train <= valid_ts) and np.all(valid_ts <= test_ts)


def test_leave_one_out_breaks_timestamp_ties_by_seed():
    data = make_interactions(user=[0] * 6, item=range(6), timestamp=[1, 1, 1, 1, 1, 1])
    picks = {tuple(LeaveOneOutSplit(seed=s).assign(data)) for s in range(10)}
    assert len(picks) > 1
    assert LeaveOneOutSplit(seed=3).assign(data).tolist() == LeaveOneOutSplit(seed=3).assign(
        data).tolist()


def test_leave_one_out_needs_timestamps():
    data = make_interactions(user=[0, 0, 0], item=[0, 1, 2])
    with pytest.raises(RecbenchError, match="no timestamps"):
        LeaveOneOutSplit().assign(data)


def test_fingerprint_tracks_data_and_config(ml100k):
    assign = RandomRatioSplit().assign(ml100k)
    base = build_split(ml100k, assign, {"split": {"seed": 1}}).fingerprint["sha256"]
    assert build_split(ml100k, assign, {"split": {"seed": 1}}).fingerprint["sha256"] == base
    assert build_split(ml100k, assign, {"split": {"seed": 2}}).fingerprint["sha256"] != base
    other = make_interactions(user=[0, 0, 0], item=[0, 1, 2])
    fp_other = build_split(other, np.zeros(3, np.int8), {"split": {"seed": 1}}).fingerprint
    assert fp_other["sha256"] != base
