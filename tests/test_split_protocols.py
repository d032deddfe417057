"""Every split protocol: partitions, determinism by seed, leakage, cache, cold entities."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.data.synthetic import make_synthetic
from recbench.errors import RecbenchError
from recbench.splits import (FOLD_IN, TEST, TRAIN, VALID, ColdItemSplit, ColdUserSplit,
                             GlobalTemporalSplit, LeaveKOutSplit, PredefinedSplit,
                             RandomRatioSplit, build_split)
from recbench.splits.make import make_split
from tests.conftest import make_interactions

SEEDED = {
    "random_ratio": lambda s: RandomRatioSplit(seed=s),
    "random_global": lambda s: RandomRatioSplit(seed=s, scope="global"),
    "temporal_ratio": lambda s: RandomRatioSplit(seed=s, order="time"),
    "leave_one_out": lambda s: LeaveKOutSplit(seed=s),
    "leave_2_out_random": lambda s: LeaveKOutSplit(k=2, order="random", seed=s),
    "cold_user": lambda s: ColdUserSplit(seed=s),
    "cold_item": lambda s: ColdItemSplit(seed=s),
}


@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic(n_users=300, n_items=200, density=0.05, seed=3)


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_protocol_partitions_and_is_seeded(name, ml100k):
    a = SEEDED[name](1).assign(ml100k)
    assert set(np.unique(a)) <= {TRAIN, VALID, TEST, FOLD_IN} and (a == TEST).sum() > 0
    split = build_split(ml100k, a, {})
    parts = split.train + split.valid + split.test + split.fold_in
    assert parts.nnz == len(ml100k) and parts.max() == 1  # disjoint, nothing lost
    assert split.leakage["pairs_in_train_and_test"] == 0
    np.testing.assert_array_equal(a, SEEDED[name](1).assign(ml100k))
    if name != "leave_one_out":  # ml-100k has few timestamp ties: LOO barely depends on seed
        assert (a != SEEDED[name](2).assign(ml100k)).any()


def test_temporal_protocols_have_zero_time_leakage(ml100k, synthetic):
    for data in (ml100k, synthetic):
        for protocol in (GlobalTemporalSplit(), RandomRatioSplit(order="time"), LeaveKOutSplit()):
            report = build_split(data, protocol.assign(data), {}).leakage
            assert report["test_older_than_user_newest_train"] == 0, (data.name, protocol)
        report = build_split(data, GlobalTemporalSplit().assign(data), {}).leakage
        assert report["test_older_than_newest_train"] == 0


def test_random_ratio_reports_its_temporal_leakage(ml100k):
    report = build_split(ml100k, RandomRatioSplit().assign(ml100k), {}).leakage
    assert report["test_older_than_newest_train"] > 0.5 * report["n_test"]
    assert report["test_older_than_user_newest_train"] > 0
    assert 0 < report["frac_test_older_than_user_newest_train"] <= 1


def test_global_temporal_cutoffs(ml100k):
    a = GlobalTemporalSplit(test=0.1, valid=0.1).assign(ml100k)
    ts = ml100k.timestamp
    assert ts[a == TRAIN].max() <= ts[a == VALID].min() <= ts[a == VALID].max() <= ts[a == TEST].min()
    assert (a == TEST).mean() == pytest.approx(0.1, abs=0.01)
    by_date = GlobalTemporalSplit(test="1998-03-01", valid=0.05).assign(ml100k)
    assert ts[by_date == TEST].min() >= 888710400 > ts[by_date != TEST].max()
    with pytest.raises(RecbenchError, match="not a date"):
        GlobalTemporalSplit(test="someday").assign(ml100k)
    ordinal = make_interactions(user=[0, 0, 0], item=[0, 1, 2], timestamp=[0, 1, 2])
    object.__setattr__(ordinal, "timestamp_kind", "ordinal")
    with pytest.raises(RecbenchError, match="needs real timestamps"):
        GlobalTemporalSplit().assign(ordinal)


def test_leave_k_out_sizes(ml100k):
    a = LeaveKOutSplit(k=2).assign(ml100k)
    assert (np.bincount(ml100k.user[a == TEST]) == 2).all()
    assert (np.bincount(ml100k.user[a == VALID]) == 2).all()


def test_predefined_keeps_the_test_file(synthetic):
    part = np.where(LeaveKOutSplit(k=2, order="random").assign(synthetic) == TEST, TEST, TRAIN)
    object.__setattr__(synthetic, "part", part.astype(np.int8))
    try:
        a = PredefinedSplit(valid_ratio=0.1).assign(synthetic)
        np.testing.assert_array_equal(a == TEST, part == TEST)
        assert ((a == VALID) <= (part == TRAIN)).all() and (a == VALID).sum() > 0
        np.testing.assert_array_equal(a, PredefinedSplit(valid_ratio=0.1).assign(synthetic))
    finally:
        object.__setattr__(synthetic, "part", None)
    with pytest.raises(RecbenchError, match="no predefined split"):
        PredefinedSplit().assign(synthetic)


def test_predefined_refuses_test_users_without_train():
    data = make_interactions(user=[0, 0, 1], item=[0, 1, 2])
    object.__setattr__(data, "part", np.array([TRAIN, TEST, TEST], dtype=np.int8))
    with pytest.raises(RecbenchError, match="1 test users .* have no train interactions"):
        PredefinedSplit().assign(data)


def test_cold_users_and_items_are_unseen_in_training(ml100k):
    a = ColdUserSplit(ratios=[0.8, 0.1, 0.1], fold_in=0.8).assign(ml100k)
    test_users = np.unique(ml100k.user[a == TEST])
    assert len(test_users) == pytest.approx(94, abs=1)
    assert not np.isin(ml100k.user[a == TRAIN], test_users).any()
    assert np.isin(ml100k.user[a == FOLD_IN], test_users).any()
    report = build_split(ml100k, a, {}).leakage
    assert report["test_users_without_train"] == 0  # fold-in counts as readable history
    b = ColdItemSplit().assign(ml100k)
    test_items = np.unique(ml100k.item[b == TEST])
    assert not np.isin(ml100k.item[b == TRAIN], test_items).any()
    assert build_split(ml100k, b, {}).leakage["test_items_without_train"] == len(test_items)


def test_split_cache_hits_and_never_goes_stale(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path))
    dataset = {"name": "synthetic", "_target_": "recbench.data.synthetic.make_synthetic",
               "n_users": 200, "seed": 1}
    calls = []

    def load(**kw):
        calls.append(1)
        return make_synthetic(n_users=200, seed=1)

    split_cfg = {"name": "random_ratio", "seed": 5}
    first = make_split(dataset, split_cfg, load, RandomRatioSplit(seed=5))
    second = make_split(dataset, split_cfg, load, RandomRatioSplit(seed=5))
    assert len(calls) == 1 and first.fingerprint["cache"] == "miss" == "miss"
    assert second.fingerprint["cache"] == "hit"
    np.testing.assert_array_equal(first.assign, second.assign)
    assert (first.test != second.test).nnz == 0
    assert first.fingerprint["sha256"] == second.fingerprint["sha256"]
    other = make_split(dataset, {**split_cfg, "seed": 6}, load, RandomRatioSplit(seed=6))
    assert len(calls) == 2 and other.fingerprint["cache"] == "miss"
    assert not list(tmp_path.rglob("*.part-*"))
    for entry in (tmp_path / "splits").iterdir():  # a corrupt entry is a miss, not a crash
        entry.write_bytes(b"garbage")
    make_split(dataset, split_cfg, load, RandomRatioSplit(seed=5))
    assert len(calls) == 3


def test_broken_promise_is_printed(ml100k, capsys):
    class Liar(RandomRatioSplit):
        promises = frozenset({"time_global"})

    make_split({"name": "ml-100k"}, {"name": "liar"}, lambda: ml100k, Liar(), use_cache=False)
    err = capsys.readouterr().err
    assert "warning: split 'liar' promises no such leakage" in err
    assert "older than the newest training interaction" in err
