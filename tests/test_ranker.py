"""Chunked full ranking: masking, tie-breaking, chunk-size invariance, bad scores."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbench.evaluation import evaluate, topk_items


def test_topk_breaks_ties_by_lower_item_and_skips_masked():
    scores = torch.tensor([[1.0, 3.0, 3.0, -0.0, 0.0, 3.0]])
    masked = torch.tensor([[False, False, True, False, False, False]])
    items, valid = topk_items(scores, masked, 10)
    # 3.0 ties: items 1, 5 (2 masked); then 1.0; then -0.0 == 0.0 tie: items 3, 4
    assert items[0, :5].tolist() == [1, 5, 0, 3, 4]
    assert valid[0].tolist() == [True] * 5 + [False]
    assert items.shape == (1, 6)  # K capped at n_items


def test_negative_and_infinite_scores_keep_float_order():
    scores = torch.tensor([[-2.5, float("inf"), -1e30, 7.0, float("-inf"), -2.5]])
    items, valid = topk_items(scores, torch.zeros_like(scores, dtype=torch.bool), 6)
    assert items[0].tolist() == [1, 3, 0, 5, 2, 4]
    assert valid.all()


def test_masked_items_rank_below_real_minus_infinity():
    scores = torch.tensor([[5.0, float("-inf"), 1.0]])
    masked = torch.tensor([[True, False, False]])
    items, valid = topk_items(scores, masked, 3)
    assert items[0].tolist() == [2, 1, 0] and valid[0].tolist() == [True, True, False]


def _random_problem(seed=0, n_users=80, n_items=25):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n_users, n_items)).astype(np.float32)
    train = sp.csr_matrix(rng.random((n_users, n_items)) < 0.4, dtype=np.float32)
    test = sp.csr_matrix((rng.random((n_users, n_items)) < 0.2) & (train.toarray() == 0),
                         dtype=np.float32)
    return scores, train, test


def test_chunk_size_does_not_change_results():
    scores, train, test = _random_problem()
    fn = lambda u: torch.from_numpy(scores[u.numpy()])  # noqa: E731
    names = ["ndcg@5", "recall@10", "map@30"]
    base_users, base = evaluate(fn, test, [train], names, chunk_size=1000)
    for chunk in (1, 3, 17):
        users, values = evaluate(fn, test, [train], names, chunk_size=chunk)
        np.testing.assert_array_equal(users, base_users)
        for n in names:
            np.testing.assert_array_equal(values[n], base[n])


def test_masked_items_never_count_as_hits():
    """A model that scores the train items highest must not be rewarded for them."""
    _, train, test = _random_problem(1)
    cheat = lambda u: torch.from_numpy(train[u.numpy()].toarray() * 100)  # noqa: E731
    oracle = lambda u: torch.from_numpy(test[u.numpy()].toarray())  # noqa: E731
    _, cheated = evaluate(cheat, test, [train], ["recall@50"], chunk_size=8)
    _, perfect = evaluate(oracle, test, [train], ["recall@50", "ndcg@3"], chunk_size=8)
    assert np.all(perfect["recall@50"] == 1.0) and np.all(perfect["ndcg@3"] == 1.0)
    # with train masked the cheat ranks the rest by item id; it cannot be perfect
    assert cheated["recall@50"].mean() == pytest.approx(1.0)  # K > candidates: all retrieved
    _, cheated5 = evaluate(cheat, test, [train], ["ndcg@3"], chunk_size=8)
    assert cheated5["ndcg@3"].mean() < 0.9


def test_only_users_with_truth_are_evaluated_and_nan_is_refused():
    scores, train, test = _random_problem(2)
    test = test.tolil()
    test[0, :] = 0
    test = test.tocsr()
    test.eliminate_zeros()
    users, _ = evaluate(lambda u: torch.from_numpy(scores[u.numpy()]), test, [train], ["hit@1"])
    assert 0 not in users and len(users) == int((np.diff(test.indptr) > 0).sum())
    with pytest.raises(FloatingPointError, match="NaN"):
        evaluate(lambda u: torch.full((len(u), 25), float("nan")), test, [train], ["hit@1"])
    with pytest.raises(ValueError, match="expected"):
        evaluate(lambda u: torch.zeros(len(u), 3), test, [train], ["hit@1"])


@pytest.mark.parametrize("seed", range(6))
def test_the_float_topk_path_equals_the_exact_int64_key_ranking(seed):
    """The fast path (one float32 topk, exact fallback for rows with a tie at the cut or
    -inf in the list) must give the very lists of the one-key-per-item ranking."""
    from recbench.evaluation.ranker import _exact_topk

    rng = np.random.default_rng(seed)
    n_items = int(rng.integers(3, 40))
    # few distinct values: ties everywhere, also across the K-th place; some -inf and -0.0
    scores = torch.from_numpy(rng.integers(-3, 4, size=(200, n_items)).astype(np.float32))
    scores[torch.from_numpy(rng.random(scores.shape) < 0.1)] = float("-inf")
    scores[scores == 0] = -0.0 if seed % 2 else 0.0
    masked = torch.from_numpy(rng.random(scores.shape) < 0.5)
    for k in (1, 3, 10, n_items):
        items, valid = topk_items(scores, masked, k)
        expected = _exact_topk(scores, masked, min(k, n_items))
        assert torch.equal(items, expected)
        assert torch.equal(valid, ~masked.gather(1, expected))


def test_evaluate_equals_dense_masking_with_ties_everywhere():
    """evaluate masks in place and finds hits by key lookup; a dense reference built with
    topk_items and boolean matrices must give the same per-user values."""
    from recbench.evaluation.metrics import per_user_metrics

    rng = np.random.default_rng(7)
    scores = rng.integers(0, 3, size=(60, 30)).astype(np.float32)  # heavy ties
    train = sp.csr_matrix(rng.random((60, 30)) < 0.5, dtype=np.float32)
    valid = sp.csr_matrix((rng.random((60, 30)) < 0.2) & (train.toarray() == 0), dtype=np.float32)
    test = sp.csr_matrix((rng.random((60, 30)) < 0.2) & ((train + valid).toarray() == 0),
                         dtype=np.float32)
    names = ["ndcg@10", "recall@5", "mrr@20", "precision@30"]
    users, got = evaluate(lambda u: torch.from_numpy(scores[u.numpy()]), test, [train, valid],
                          names, chunk_size=7)
    masked = torch.from_numpy((train + valid).toarray()[users] > 0)
    items, ok = topk_items(torch.from_numpy(scores[users]), masked, 30)
    hits = torch.from_numpy(test.toarray()[users] > 0).gather(1, items) & ok
    expected = per_user_metrics(hits, torch.from_numpy(np.diff(test.indptr)[users]), names)
    for name in names:
        np.testing.assert_allclose(got[name], expected[name].numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_items,distinct", [(23011, 1000), (22600, 5), (22560, 10**6)])
def test_the_grouped_top_values_equal_a_plain_topk_and_lists_stay_exact(n_items, distinct):
    """Wide rows take the grouped filter of _top_values (groups of GROUP strided items,
    a tail of n_items % GROUP): its top values equal torch.topk's, and topk_items' lists
    equal the exact int64-key ranking, with ties across the cut, masked items and -inf."""
    from recbench.evaluation.ranker import GROUP, _exact_topk, _top_values

    rng = np.random.default_rng(n_items)
    scores = torch.from_numpy(rng.integers(0, distinct, (60, n_items)).astype(np.float32))
    scores[torch.from_numpy(rng.random(scores.shape) < 0.05)] = float("-inf")
    scores[:3, : n_items - 5] = float("-inf")  # rows with fewer than K finite items
    masked = torch.from_numpy(rng.random(scores.shape) < 0.3)
    for k in (1, 10, 21):
        assert n_items // GROUP >= 64 * (k + 1)  # the filter runs
        values, items = _top_values(scores, k + 1)
        assert torch.equal(values, scores.topk(k + 1, dim=1).values)
        assert torch.equal(scores.gather(1, items), values)
        got, valid = topk_items(scores, masked, k)
        expected = _exact_topk(scores, masked, k)
        assert torch.equal(got, expected)
        assert torch.equal(valid, ~masked.gather(1, expected))


def test_lists_end_at_minus_inf_only_when_asked():
    """A model whose unlisted items score -inf (a submitted short ranking) asks for its
    lists to end there; other models' -inf scores are ranked last like any score."""
    from recbench.evaluation.ranker import ranked_chunks, seen_matrix

    scores = torch.tensor([[3.0, float("-inf"), 1.0, float("-inf")],
                           [float("-inf")] * 3 + [2.0]])
    truth = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 1, 0]], dtype=np.float32))
    seen = seen_matrix(truth.shape, [sp.csr_matrix((2, 4), dtype=np.float32)])
    for ends, valid in ((False, [[True] * 3, [True] * 3]),
                        (True, [[True, True, False], [True, False, False]])):
        chunk, = ranked_chunks(lambda u: scores[u], truth, seen, 3,
                               lists_end_at_minus_inf=ends)
        assert chunk.items.tolist() == [[0, 2, 1], [3, 0, 1]]
        assert chunk.valid.tolist() == valid
        # the relevant -inf item 1 of user 0 (third place) is a hit only in a full list
        assert chunk.hits.tolist() == [[False, False, not ends], [False, False, False]]


class Transfers(torch.overrides.TorchFunctionMode):
    """Records the shape of every tensor moved to another device (``.to(device)``,
    ``.cpu()``, ``.cuda()``), whether or not it already was there: on a CPU-only machine
    this shows what the ranker would copy off a GPU."""

    def __init__(self):
        super().__init__()
        self.moved: list[tuple[int, ...]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.Tensor.cpu, torch.Tensor.cuda) or (
                func is torch.Tensor.to and (kwargs.get("device") is not None or any(
                    isinstance(a, (str, torch.device, torch.Tensor)) for a in args[1:]))):
            self.moved.append(tuple(args[0].shape))
        return func(*args, **kwargs)


@pytest.mark.parametrize("kernel", [False, True])
def test_scores_stay_on_their_device_and_only_top_k_ids_leave_it(kernel, monkeypatch):
    """Scoring, masking and top-K run where the model's scores are; a chunk's B x n_items
    scores are never copied (issue: evaluating a GPU model moved every chunk to the CPU).
    Both ways of ranking: the torch ops a GPU runs, and the CPU's compiled kernel."""
    from recbench.evaluation import ranker
    from recbench.evaluation.ranker import ranked_chunks, seen_matrix

    monkeypatch.setattr(ranker, "CPU_KERNEL", kernel)
    from recbench.evaluation.sampled import FreeItems, SampledRanking, draw_candidates

    rng = np.random.default_rng(0)
    n_users, n_items, k = 50, 300, 10
    truth = sp.random(n_users, n_items, density=0.05, random_state=1, format="csr")
    train = sp.random(n_users, n_items, density=0.2, random_state=2, format="csr")
    truth.data[:], train.data[:] = 1, 1
    truth = sp.csr_matrix(truth - truth.multiply(train))
    table = torch.from_numpy(rng.integers(0, 5, (n_users, n_items)).astype(np.float32))
    seen = seen_matrix(truth.shape, [train])
    interacted = sp.csr_matrix(((train + truth) > 0).astype(np.float32))
    # sampled protocols too: drawn candidates and every free item (full ranking per item)
    drawn = draw_candidates(interacted, SampledRanking(20, "uniform"), 0, "0" * 64)
    assert n_items not in (k, 20)
    with Transfers() as transfers:  # integer scores: ties, so the exact path runs too
        chunks = list(ranked_chunks(lambda users: table[users], truth, seen, k, chunk_size=16,
                                    candidates=[drawn, FreeItems.of(interacted)]))
    assert sum(len(c.users) for c in chunks) == int((np.diff(truth.indptr) > 0).sum())
    assert all(len(c.sampled) == 2 for c in chunks)
    assert transfers.moved, "the top-K lists are expected to be moved"
    # 2-D moves: (B, K) lists out, (B, 20) candidate ids in; never B x n_items scores
    assert {shape[-1] for shape in transfers.moved if len(shape) == 2} <= {k, 20}, \
        transfers.moved
