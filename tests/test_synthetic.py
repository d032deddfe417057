"""The seeded synthetic data generator."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.data.synthetic import make_synthetic


def _top_decile_share(data) -> float:
    counts = np.sort(np.bincount(data.item, minlength=data.n_items))[::-1]
    return counts[: data.n_items // 10].sum() / counts.sum()


def test_deterministic_by_seed():
    a, b = make_synthetic(300, 200, seed=3), make_synthetic(300, 200, seed=3)
    for field in ("user", "item", "timestamp"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.source_sha256 == b.source_sha256
    c = make_synthetic(300, 200, seed=4)
    assert len(a) != len(c) or not np.array_equal(a.item, c.item)
    assert c.source_sha256 != a.source_sha256
    assert make_synthetic(300, 200, seed=3, zipf=0.5).source_sha256 != a.source_sha256


def test_shape_ids_and_fields():
    n_users, n_items = 400, 150
    data = make_synthetic(n_users, n_items, density=0.05, seed=1)
    assert data.name == "synthetic" and data.rating is None
    assert data.user.dtype == np.int64 and data.item.dtype == np.int64
    assert data.timestamp.dtype == np.float64
    assert len(data.user) == len(data.item) == len(data.timestamp) == len(data)
    assert data.n_users == n_users and data.n_items == n_items
    assert list(data.user_ids[:3]) == ["0", "1", "2"] and data.item_ids[-1] == str(n_items - 1)
    assert data.user.min() == 0 and data.user.max() == n_users - 1
    assert data.item.min() >= 0 and data.item.max() < n_items
    assert np.bincount(data.user, minlength=n_users).min() >= 1
    assert len(data.source_sha256) == 64
    assert data.meta["n_users"] == n_users and data.meta["density"] == 0.05
    # timestamps: within 2020 onwards, strictly increasing within each user
    assert np.isfinite(data.timestamp).all() and data.timestamp.min() >= 1577836800.0
    same_user = np.diff(data.user) == 0
    assert (np.diff(data.timestamp)[same_user] > 0).all()
    assert data.to_csr().nnz == len(data)


def test_no_duplicate_pairs():
    data = make_synthetic(1000, 100, density=0.3, zipf=1.5, seed=2)
    pairs = data.user * data.n_items + data.item
    assert len(np.unique(pairs)) == len(pairs)


def test_mean_interactions_per_user():
    data = make_synthetic(2000, 1000, density=0.02, seed=0)
    assert abs(len(data) / 2000 - 20.0) < 2.0


def test_count_extremes():
    full = make_synthetic(5, 7, density=1.0)
    assert len(full) == 35
    sparse = make_synthetic(50, 100, density=0.001)
    np.testing.assert_array_equal(np.bincount(sparse.user), np.ones(50))


def test_zipf_popularity_skew():
    flat = _top_decile_share(make_synthetic(2000, 1000, zipf=0.0, seed=0))
    skewed = _top_decile_share(make_synthetic(2000, 1000, zipf=1.2, seed=0))
    assert flat < 0.25
    assert skewed > 0.45
    assert skewed > 2 * flat


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_users": 0}, "n_users"),
        ({"n_items": 0}, "n_items"),
        ({"n_items": 2.5}, "n_items"),
        ({"density": 0.0}, "density"),
        ({"density": 1.5}, "density"),
        ({"zipf": -0.1}, "zipf"),
        ({"zipf": float("nan")}, "zipf"),
        ({"rank": 0}, "rank"),
        ({"seed": -1}, "seed"),
    ],
)
def test_argument_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic(**kwargs)


def test_medium_scale_runs():
    data = make_synthetic(20_000, 5_000, density=0.02, seed=0)
    assert data.n_users == 20_000 and len(data) > 0


def test_min_user_interactions():
    data = make_synthetic(2000, 1000, density=0.005, seed=0, min_user_interactions=3)
    counts = np.bincount(data.user, minlength=2000)
    assert counts.min() >= 3 and abs(counts.mean() - 5.0) < 0.5
    assert data.meta["min_user_interactions"] == 3
    default = make_synthetic(300, 200, seed=3)
    explicit = make_synthetic(300, 200, seed=3, min_user_interactions=1)
    np.testing.assert_array_equal(default.item, explicit.item)
    assert default.source_sha256 == explicit.source_sha256  # absent from the hash at 1
    assert "min_user_interactions" not in default.meta
    assert make_synthetic(300, 200, seed=3, min_user_interactions=2).source_sha256 \
        != default.source_sha256
    # every user at the minimum when the density asks for less
    np.testing.assert_array_equal(np.bincount(make_synthetic(
        50, 100, density=0.001, min_user_interactions=4).user), np.full(50, 4))
    for bad in (0, 101, 2.5):
        with pytest.raises(ValueError, match="min_user_interactions"):
            make_synthetic(50, 100, min_user_interactions=bad)
