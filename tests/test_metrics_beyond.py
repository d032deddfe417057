"""Beyond-accuracy metrics: values computed by hand on lists small enough to check on
paper, RecBole's own metric classes on the same lists (with the documented conversions),
and the remaining differences pinned with their reason."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbench.evaluation.beyond import list_metrics
from recbench.evaluation.catalog import CatalogAccumulator
from recbench.evaluation.catalog_cpu import by_item, catalogue_stats, resample_weights
from recbench.evaluation.popularity import ItemStats, long_tail
from recbench.evaluation.slices import slice_metrics, user_groups
from recbench.evaluation.suite import evaluate_suite

# 4 train users x 6 items. pop = [3, 2, 2, 1, 0, 0]: items 1 and 2 tie, items 4, 5 unseen.
TRAIN = sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0],
                                [1, 0, 1, 0, 0, 0],
                                [1, 1, 1, 0, 0, 0],
                                [0, 0, 0, 1, 0, 0]], dtype=np.float32))


def _stats(**kw) -> ItemStats:
    return ItemStats.from_train(TRAIN, item_vectors="interactions", **kw)


def test_popularity_and_long_tail_by_hand():
    s = _stats()
    assert s.popularity.tolist() == [3, 2, 2, 1, 0, 0] and s.n_train_users == 4
    # total 8, 0.8 x 8 = 6.4: item 0 (3) + one of the tied items 1/2 (5) is short; both tied
    # items join (7 >= 6.4) -> head {0, 1, 2}; tail {3} plus the unseen 4, 5
    assert s.tail.tolist() == [False, False, False, True, True, True]
    # share 0.3 -> 2.4: item 0 alone holds 3 -> head {0}
    assert long_tail(s.popularity, "head_share", 0.3).tolist() == [False] + [True] * 5
    # RecBole's bottom rule over the 4 trained items, fraction 0.5 -> 2 items: (1, 3), (2, 1)
    # sorted by (pop, index): item 3 then item 1 (tie 1/2 broken by the lower index)
    assert long_tail(s.popularity, "bottom_fraction", tail_fraction=0.5).tolist() == \
        [False, True, False, True, True, True]


def _lists(rows, k=None):
    k = k or max(len(r) for r in rows)
    items = torch.zeros(len(rows), k, dtype=torch.int64)
    valid = torch.zeros(len(rows), k, dtype=torch.bool)
    for u, r in enumerate(rows):
        items[u, :len(r)] = torch.tensor(r)
        valid[u, :len(r)] = True
    return items, valid


def test_list_metrics_by_hand():
    s = _stats()
    # user 0: [0, 3, 4]; user 1: [5] (one item, a K larger than its list); hits: item 3, 5
    items, valid = _lists([[0, 3, 4], [5]])
    hits = torch.tensor([[False, True, False], [True, False, False]])
    names = [f"{m}@{k}" for m in ("arp", "aplt", "aclt", "epc", "novelty", "ild") for k in (2, 5)]
    v = {n: x.tolist() for n, x in list_metrics(items, valid, hits, s, names).items()}
    assert v["arp@2"] == pytest.approx([(3 + 1) / 2, 0.0])
    assert v["arp@5"] == pytest.approx([(3 + 1 + 0) / 3, 0.0])  # mean over the 3 listed
    assert v["aplt@2"] == pytest.approx([1 / 2, 1.0]) and v["aclt@5"] == [2.0, 1.0]
    d = [1 / math.log2(r + 2) for r in range(3)]
    # EPC: relevant item 3 at rank 2 with novelty 1 - 1/4; normalised by the listed discounts
    assert v["epc@2"] == pytest.approx([d[1] * 0.75 / (d[0] + d[1]), 1.0])
    assert v["epc@5"] == pytest.approx([d[1] * 0.75 / sum(d), 1.0])
    info = [-math.log2(3 / 4), -math.log2(1 / 4), -math.log2(1 / 4)]  # unseen counts as 1
    assert v["novelty@5"] == pytest.approx([sum(info) / 3, -math.log2(1 / 4)])
    # ILD over train columns: cos(0, 3) = 0 (no common user); item 4 has a zero vector
    assert v["ild@2"] == pytest.approx([1.0, 0.0]) and v["ild@5"] == pytest.approx([1.0, 0.0])


def test_ild_of_overlapping_vectors_by_hand():
    s = _stats()
    items, valid = _lists([[0, 1, 2]])
    # item columns: 0 = {u0,u1,u2}, 1 = {u0,u2}, 2 = {u1,u2}
    c01, c02, c12 = 2 / math.sqrt(6), 2 / math.sqrt(6), 1 / 2
    got = list_metrics(items, valid, torch.zeros(1, 3, dtype=torch.bool), s,
                       ["ild@2", "ild@3"])
    assert got["ild@2"].item() == pytest.approx(1 - c01)
    assert got["ild@3"].item() == pytest.approx(1 - (c01 + c02 + c12) / 3)


def test_ild_from_item_categories():
    s = ItemStats.from_train(TRAIN, categories=[["a", "b"], ["a"], ["c"], [], ["a"], ["b"]])
    assert s.vectors_source == "features"
    items, valid = _lists([[0, 1, 3]])
    got = list_metrics(items, valid, torch.zeros(1, 3, dtype=torch.bool), s, ["ild@3"])
    # cos(0,1) = 1/sqrt2, item 3 has no category (cos 0): mean of (1 - 1/sqrt2, 1, 1)
    assert got["ild@3"].item() == pytest.approx((3 - 1 / math.sqrt(2)) / 3)


def test_catalog_metrics_by_hand():
    s = _stats()
    acc = CatalogAccumulator(["coverage@2", "gini@2", "entropy@2", "poprsp@2", "popreo@2"], s)
    items, valid = _lists([[0, 3], [0, 1], [0, 4]])
    hits = torch.tensor([[False, False], [False, False], [False, True]])  # u2: item 4
    acc.add(items, valid, hits)
    users = np.array([0, 1, 2])
    seen = TRAIN[:3]
    truth = sp.csr_matrix(np.array([[0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0],
                                    [0, 0, 0, 0, 1, 0]], dtype=np.float32))
    values, _ = acc.compute(users, seen, truth)
    counts = np.array([3, 1, 0, 1, 1, 0])  # over the 6 catalogue items
    assert values["coverage@2"] == pytest.approx(4 / 6) and values["coverage_count@2"] == 4
    srt = np.sort(counts)
    assert values["gini@2"] == pytest.approx(
        sum((2 * j - 6 - 1) * srt[j - 1] for j in range(1, 7)) / (6 * counts.sum()))
    p = counts[counts > 0] / counts.sum()
    assert values["entropy@2"] == pytest.approx(-(p * np.log2(p)).sum())
    # head {0,1,2}, tail {3,4,5}. Candidates: head items not in train (u0: 1 -> 2 of head
    # gone: {2}; u1: {1}; u2: none) -> 2; tail: 3 per user -> 9. Listed head 4, tail 2.
    ph, pt = 4 / 2, 2 / 9
    assert values["poprsp@2"] == pytest.approx(abs(ph - pt) / (ph + pt))
    # test items: u0 {2 (head, missed), 5 (tail, missed)}, u2 {4 (tail, found)}:
    # P_head = 0 / 1, P_tail = 1 / 2
    assert values["popreo@2"] == pytest.approx(1.0)
    # no relevant head item at all: the head's opportunity is undefined
    acc_empty = CatalogAccumulator(["popreo@2"], s)
    acc_empty.add(items, valid, hits)
    truth_tail = sp.csr_matrix(truth.toarray() * s.tail)
    assert math.isnan(acc_empty.compute(users, seen, truth_tail)[0]["popreo@2"])


def _gini_sorted(counts: np.ndarray, n_items: int) -> float:
    """The N-convention Gini index over the ascending counts (zeros for unlisted items)."""
    c = np.sort(np.concatenate([np.zeros(n_items - len(counts)), counts]))
    j = np.arange(1, n_items + 1)
    return float(((2 * j - n_items - 1) * c).sum() / (n_items * c.sum())) if c.sum() else 0.0


def _entropy_direct(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum() if counts.sum() else np.zeros(0)
    return float(-(p * np.log2(p)).sum())


def _pairs(lists: list[list[int]], ks: list[int]):
    """The by-item pairs of catalogue_stats for per-user lists; column ids = item ids of
    the items listed (the distinct ones, ascending) and those ids."""
    user = np.array([u for u, row in enumerate(lists) for _ in row[:ks[-1]]], np.int64)
    position = np.array([p for row in lists for p in range(len(row[:ks[-1]]))], np.int64)
    item = np.array([i for row in lists for i in row[:ks[-1]]], np.int64)
    distinct, column = np.unique(item, return_inverse=True)
    ptr, order = by_item(column, len(distinct))
    segment = np.searchsorted(ks, position[order], side="right")
    return (ptr, user[order], segment), distinct


@pytest.mark.parametrize("threads", [1, 3])
def test_catalogue_stats_equal_the_sorted_formulas_under_any_weights(threads, monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)  # columns split 3 ways
    rng = np.random.default_rng(0)
    n_users, n_items, ks = 50, 30, [2, 5, 8]
    lists = [list(rng.permutation(n_items)[:rng.integers(0, 9)]) for _ in range(n_users)]
    pairs, distinct = _pairs(lists, ks)
    # 70 weightings: more than one pass of 64 lanes; a user weighted 0 in some
    weights = rng.integers(0, 4, size=(n_users, 70)).astype(np.uint8)
    groups = rng.integers(0, 5, size=(n_users, 6))
    covered, gini, entropy, sums = catalogue_stats(*pairs, weights, groups, n_items, len(ks))
    for s, k in enumerate(ks):
        listed = np.zeros((n_users, n_items))
        for u, row in enumerate(lists):
            listed[u, row[:k]] = 1
        counts = weights.T.astype(np.float64) @ listed  # (R, N) item counts
        assert covered[s].tolist() == (counts > 0).sum(1).tolist()
        np.testing.assert_allclose(gini[s], [_gini_sorted(c, n_items) for c in counts],
                                   rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(entropy[s], [_entropy_direct(c) for c in counts],
                                   rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(sums, weights.T.astype(np.int64) @ groups)
    # a weight above 255 is kept as int32, with the same statistics
    heavy = weights.astype(np.int32)
    heavy[3, 5] = 300
    covered, gini, entropy, _ = catalogue_stats(*pairs, heavy, groups, n_items, len(ks))
    listed = np.zeros((n_users, n_items))
    for u, row in enumerate(lists):
        listed[u, row[:ks[-1]]] = 1
    counts = heavy[:, 5] @ listed
    assert gini[-1, 5] == pytest.approx(_gini_sorted(counts, n_items), rel=1e-12)


def _catalogue_of(counts: list[int], n_items: int) -> tuple[int, float, float]:
    """Coverage count, Gini and entropy of catalogue_stats when item i is listed to
    ``counts[i]`` users (one item each)."""
    lists = [[i] for i, c in enumerate(counts) for _ in range(c)]
    pairs, _ = _pairs(lists, [1])
    ones = np.ones((len(lists), 1), np.uint8)
    covered, gini, entropy, _ = catalogue_stats(*pairs, ones, np.zeros((len(lists), 0)),
                                                n_items, 1)
    return covered[0, 0], gini[0, 0], entropy[0, 0]


def test_gini_and_entropy_extremes():
    stats = _catalogue_of
    assert stats([5, 5, 5, 5], 4) == pytest.approx((4, 0, 2), abs=1e-15)
    assert stats([0, 0, 0, 8], 4)[1] == pytest.approx(3 / 4)  # (N - 1) / N
    assert stats([8], 4) == pytest.approx((1, 3 / 4, 0))  # 3 unlisted items count 0
    assert stats([1, 3], 5)[1] == pytest.approx(_gini_sorted(np.array([0, 0, 0, 1, 3]), 5))
    assert stats([], 3) == (0, 0, 0)  # nothing listed


def test_resample_weights_count_the_draws():
    rng = np.random.default_rng(1)
    draws = rng.integers(0, 40, size=(7, 40))
    weights = resample_weights(draws, 40)
    assert weights.dtype == np.uint8
    np.testing.assert_array_equal(weights.T, [np.bincount(d, minlength=40) for d in draws])
    draws[2, :300 % 40] = 5  # (a row of 400 draws below) one user drawn 300+ times
    many = np.concatenate([draws, np.full((7, 360), 5)], axis=1)
    weights = resample_weights(many, 40)
    assert weights.dtype == np.int32 and weights[5, 2] == (many[2] == 5).sum() > 255
    np.testing.assert_array_equal(weights.T, [np.bincount(d, minlength=40) for d in many])


def test_a_bootstrap_replicate_is_the_metrics_of_its_resampled_users(monkeypatch):
    """Each resample's values (one weighted pass) equal the metrics computed afresh on the
    users it drew, each listed as often as drawn."""
    train, test, scores = _random_problem(3, n_users=80, n_items=25)
    names = [f"{m}@{k}" for m in ("coverage", "gini", "entropy", "poprsp", "popreo")
             for k in (3, 10)]
    stats = ItemStats.from_train(train)
    acc = CatalogAccumulator(names, stats)
    users = np.flatnonzero(test.getnnz(axis=1) > 0)
    # lists of 10 by score, the train items last and not valid (lists end early)
    ranked = np.argsort(-scores[users] - 1e9 * train[users].toarray(), axis=1, kind="stable")
    items = torch.from_numpy(ranked[:, :10])
    valid = torch.from_numpy(train[users].toarray()[np.arange(len(users))[:, None],
                                                    ranked[:, :10]] == 0)
    hits = torch.from_numpy(test[users].toarray()[np.arange(len(users))[:, None],
                                                  ranked[:, :10]] > 0) & valid
    acc.add(items, valid, hits)
    captured = []
    original = CatalogAccumulator._replicates
    monkeypatch.setattr(CatalogAccumulator, "_replicates", lambda self, ks, pairs, w, g:
                        captured.append((w.copy(), original(self, ks, pairs, w, g)))
                        or captured[-1][1])
    values, _ = acc.compute(users, train, test, n_boot=5, seed=2)
    weights, replicates = captured[1]  # [0] is the sample itself (a column of ones)
    assert weights.shape == (len(users), 5) and captured[0][0].min() == 1
    for r in range(5):
        drawn = np.repeat(np.arange(len(users)), weights[:, r])
        again = CatalogAccumulator(names, stats)
        again.add(items[drawn], valid[drawn], hits[drawn])
        fresh, _ = again.compute(users[drawn], train, test)
        for name in fresh:
            assert replicates[name][r] == pytest.approx(fresh[name], rel=1e-12, nan_ok=True), name
    assert values.keys() == fresh.keys()


def _random_problem(seed=0, n_users=60, n_items=30):
    rng = np.random.default_rng(seed)
    train = sp.csr_matrix(rng.random((n_users, n_items)) < 0.3, dtype=np.float32)
    test = sp.csr_matrix((rng.random((n_users, n_items)) < 0.15) & (train.toarray() == 0),
                         dtype=np.float32)
    scores = rng.normal(size=(n_users, n_items)).astype(np.float32)
    return train, test, scores


ALL = [f"{m}@{k}" for m in ("ndcg", "arp", "aplt", "aclt", "epc", "novelty", "ild",
                            "coverage", "gini", "entropy", "poprsp", "popreo")
       for k in (3, 10, 40)]  # 40 > 30 items: K larger than the catalogue


def _suite(train, test, scores, chunk_size, **kw):
    stats = ItemStats.from_train(train, item_vectors="interactions")
    return evaluate_suite(lambda u: torch.from_numpy(scores[u.numpy()]), test, [train], ALL,
                          chunk_size, stats, **kw)


def test_chunk_size_changes_nothing():
    train, test, scores = _random_problem()
    a, b = _suite(train, test, scores, 7), _suite(train, test, scores, 1000)
    assert (a.users == b.users).all()
    for m in a.per_user:
        np.testing.assert_allclose(a.per_user[m], b.per_user[m], rtol=1e-12)
    assert a.per_run == pytest.approx(b.per_run)


def test_permuting_item_ids_changes_nothing():
    train, test, scores = _random_problem(1)
    perm = np.random.default_rng(5).permutation(train.shape[1])
    a = _suite(train, test, scores, 16, n_boot=50)
    b = _suite(train[:, perm], test[:, perm], scores[:, perm], 16, n_boot=50)
    for m in a.per_user:
        np.testing.assert_allclose(a.per_user[m], b.per_user[m], rtol=1e-9, atol=1e-12)
    assert a.per_run == pytest.approx(b.per_run, nan_ok=True)
    for m, bounds in a.intervals.items():
        assert bounds == pytest.approx(b.intervals[m], nan_ok=True)


def test_bootstrap_interval_is_seeded_and_narrows_with_more_users():
    train, test, scores = _random_problem(2, n_users=200)
    a = _suite(train, test, scores, 64, n_boot=200, seed=3)
    b = _suite(train, test, scores, 64, n_boot=200, seed=3)
    c = _suite(train, test, scores, 64, n_boot=200, seed=4)
    assert a.intervals == b.intervals and a.intervals != c.intervals
    low, high = a.intervals["poprsp@10"]
    assert low < a.per_run["poprsp@10"] < high  # value +- 1.96 bootstrap standard errors
    assert high - low == pytest.approx(2 * (a.per_run["poprsp@10"] - low))
    # eight times the users: the interval narrows (about sqrt(8) times)
    many = _suite(*_random_problem(2, n_users=1600), 256, n_boot=200, seed=3)
    width = {m: (a.intervals[m][1] - a.intervals[m][0],
                 many.intervals[m][1] - many.intervals[m][0]) for m in ("gini@10", "poprsp@10")}
    assert all(1.5 < few / lots < 6 for few, lots in width.values()), width


def test_random_recommender_covers_the_catalogue_evenly():
    rng = np.random.default_rng(0)
    n_users, n_items = 3000, 200
    train = sp.csr_matrix(rng.random((n_users, n_items)) < 0.05, dtype=np.float32)
    test = sp.csr_matrix((rng.random((n_users, n_items)) < 0.05) & (train.toarray() == 0),
                         dtype=np.float32)
    scores = rng.random((n_users, n_items)).astype(np.float32)
    stats = ItemStats.from_train(train)
    got = evaluate_suite(lambda u: torch.from_numpy(scores[u.numpy()]), test, [train],
                         ["coverage@10", "gini@10"], 512, stats).per_run
    assert got["coverage@10"] == 1.0 and got["gini@10"] < 0.1


# ------------------------------------------------------------------ slices
def test_user_groups_and_slices_by_hand():
    import pandas as pd
    train = sp.csr_matrix(np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1],
                                    [0, 0, 0, 0]], dtype=np.float32))
    fold_in = sp.csr_matrix(np.array([[0] * 4] * 4 + [[1, 0, 0, 0]], dtype=np.float32))
    features = pd.DataFrame({"gender": ["F", "M", "F", None, "M"]})
    groups, missing = user_groups(train, fold_in, features, ["gender", "age"], 2)
    assert missing == ["age"]
    # counts 1, 2, 3, 4 -> median 2.5: q1 = {1, 2}, q2 = {3, 4}; user 4 is cold
    assert groups["activity"].tolist() == ["q1", "q1", "q2", "q2", "cold"]
    assert groups["gender"].tolist() == ["F", "M", "F", "", "M"]
    per_user = {"ndcg@10": np.array([0.2, 0.4, 0.6, 1.0, 0.0])}
    got = slice_metrics(per_user, np.arange(5), groups)
    assert got["ndcg@10.activity_q1"] == pytest.approx(0.3)
    assert got["ndcg@10.activity_q2"] == pytest.approx(0.8)
    assert got["ndcg@10.activity_cold"] == 0 and got["n_users.activity_q2"] == 2
    assert got["ndcg@10.gender_F"] == pytest.approx(0.4) and got["ndcg@10.gender_M"] == 0.2
    assert got["ndcg@10.gender_gap"] == pytest.approx(0.2)
    assert got["ndcg@10.gender_ratio"] == pytest.approx(2.0)
    assert math.isnan(got["ndcg@10.activity_ratio"])  # the cold group scores 0


# ------------------------------------------------------------------ RecBole
def _lists_of(seed, n_users=80, n_items=40, k=10):
    rng = np.random.default_rng(seed)
    dense = rng.random((n_users, n_items)) < rng.random(n_items) * 0.5  # skewed, ties
    dense[:, :3] = False  # items 0-2 never seen in training ...
    train = sp.csr_matrix(dense, dtype=np.float32)
    scores = rng.normal(size=(n_users, n_items)) + np.asarray(train.sum(0)).ravel() * 0.2
    scores[::2, :3] += 10  # ... but recommended to every other user
    items = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return train, items


def _ours(train, items, names, **kw):
    stats = ItemStats.from_train(train, **kw)
    t_items = torch.from_numpy(items)
    valid = torch.ones_like(t_items, dtype=torch.bool)
    hits = torch.zeros_like(valid)
    per_user = [n for n in names if not n.startswith(("coverage", "gini", "entropy"))]
    out = {n: float(v.mean()) for n, v in list_metrics(t_items, valid, hits, stats,
                                                      per_user).items()} if per_user else {}
    catalog = [n for n in names if n not in per_user]
    if catalog:
        acc = CatalogAccumulator(catalog, stats)
        acc.add(t_items, valid, hits)
        users = np.arange(len(items))
        out |= acc.compute(users, train, sp.csr_matrix(train.shape))[0]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recbole_metrics_agree_after_the_documented_conversions(seed):
    from recbench.evaluation.recbole_reference import recbole_values, to_ours

    train, items = _lists_of(seed)
    rb = recbole_values(items, train, tail_ratio=0.2)
    ours = _ours(train, items, ["coverage@10", "gini@10", "entropy@10", "arp@10", "aplt@10"],
                 tail_rule="bottom_fraction", tail_fraction=0.2)
    for metric in ("coverage", "gini", "entropy", "arp", "aplt"):
        assert ours[f"{metric}@10"] == pytest.approx(to_ours(metric, rb[metric], items, train),
                                                     rel=1e-12), metric
    # the conversions are not identities on these lists: each difference is exercised
    for metric in ("coverage", "gini", "entropy", "aplt"):
        assert abs(ours[f"{metric}@10"] - rb[metric]) > 1e-3, metric
    n = train.shape[1]
    assert rb["coverage"] == pytest.approx(len(np.unique(items)) / (n + 1))  # padding counted


def test_elliot_gini_differences_pinned():
    """Elliot reports 1 - G over the recommended items only (its issue #21: values above 1
    on some inputs); ours is the Gini index over the whole catalogue. On counts where every
    item is recommended the two relate by ours = 1 - Elliot's."""
    counts = [1, 2, 3, 10]
    srt = np.sort(counts)
    n = len(srt)
    elliot = 1 - sum((2 * (j + 1) - n - 1) * srt[j] for j in range(n)) / (n * srt.sum())
    assert _catalogue_of(counts, n)[1] == pytest.approx(1 - elliot)


def test_every_ild_path_agrees():
    """The Gram paths (sparse: few listed items; dense: every item pair's cosine kept, small
    catalogues, compiled) and the summed-vector path (many listed items) are exact."""
    from recbench.evaluation.beyond import _pair_sums_gram, _pair_sums_summed, intra_list_diversity
    from recbench.evaluation.ild_cpu import pair_sums
    from recbench.evaluation.popularity import normalise_rows

    rng = np.random.default_rng(3)
    vectors = normalise_rows(sp.random(40, 25, density=0.2, random_state=3))  # zero rows too
    items = torch.from_numpy(rng.permuted(np.tile(np.arange(40), (30, 1)), axis=1)[:, :12])
    valid = torch.from_numpy(np.arange(12)[None, :] < rng.integers(0, 13, size=(30, 1)))
    at, ok = items.numpy(), valid.numpy()
    gram = sp.csr_matrix(vectors @ vectors.T)
    gram.sort_indices()
    a = _pair_sums_gram(gram, at, ok, [3, 7, 12])
    b = _pair_sums_summed(vectors, at, ok, [3, 7, 12])
    dense = vectors.toarray()
    c = pair_sums(dense @ dense.T, at, ok, [3, 7, 12])
    with_cosines = intra_list_diversity(items, valid, vectors, [3, 7, 12], dense @ dense.T)
    without = intra_list_diversity(items, valid, vectors, [3, 7, 12])
    for k in (3, 7, 12):
        np.testing.assert_allclose(a[k], b[k], atol=1e-12)
        np.testing.assert_allclose(c[k], b[k], atol=1e-12)
        torch.testing.assert_close(with_cosines[k], without[k], rtol=0, atol=1e-12)
        for u in range(30):
            listed = at[u, :k][ok[u, :k]]
            g = dense[listed] @ dense[listed].T
            assert a[k][u] == pytest.approx(np.triu(g, 1).sum(), abs=1e-12)


def test_item_cosines_are_kept_for_small_catalogues_only(monkeypatch):
    from recbench.evaluation import popularity
    from recbench.evaluation.popularity import ItemStats

    train = sp.random(30, 12, density=0.3, random_state=1, format="csr")
    train.data[:] = 1
    stats = ItemStats.from_train(train, item_vectors="interactions")
    cosines = stats.cosines()
    dense = stats.vectors.toarray()
    np.testing.assert_allclose(cosines, dense @ dense.T, atol=1e-12)
    assert stats.cosines() is cosines  # computed once
    monkeypatch.setattr(popularity, "GRAM_ITEMS", 11)
    assert ItemStats.from_train(train, item_vectors="interactions").cosines() is None


def test_distinct_items_equals_numpy_unique():
    from recbench.evaluation.popularity import distinct_items

    rng = np.random.default_rng(5)
    for n_items, size in ((1, 3), (7, 0), (50, 200), (1000, 30)):
        items = rng.integers(0, n_items, size)
        distinct, position = distinct_items(items, n_items)
        want, inverse = np.unique(items, return_inverse=True)
        np.testing.assert_array_equal(distinct, want)
        np.testing.assert_array_equal(position, inverse)
