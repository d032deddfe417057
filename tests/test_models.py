"""Models against independent references on tiny matrices, and against MostPop on ml-100k."""

from __future__ import annotations

from functools import partial
import numpy as np
import pytest

from recbench.errors import RecbenchError
import scipy.sparse as sp
import torch

from recbench.evaluation import evaluate
from recbench.models.base import FitContext
from recbench.models.bpr import BPR
from recbench.models.ease import EASE
from recbench.models.itemknn import ItemKNN
from recbench.models.mostpop import MostPop
from recbench.models.sampling import NegativeSampler
from tests.conftest import ndcg_on_test


@pytest.fixture
def tiny():
    rng = np.random.default_rng(0)
    return sp.csr_matrix(rng.random((30, 12)) < 0.35, dtype=np.float32)


def all_scores(model, n_users):
    return model.score(torch.arange(n_users)).numpy()


def test_mostpop_scores_popularity(tiny):
    scores = all_scores(MostPop().fit(tiny), 30)
    np.testing.assert_array_equal(scores, np.tile(tiny.toarray().sum(0), (30, 1)))


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-5), ("float32", 1e-3)])
def test_ease_matches_linear_solve(tiny, dtype, tol):
    """EASE's B minimises ||X - XB||^2 + l2 ||B||^2 s.t. diag(B) = 0 (Steck 2019, eq. 8):
    column j solves (G_{-j,-j} + l2 I) b = G_{-j,j} with G = X^T X."""
    x, l2 = tiny.toarray().astype(np.float64), 3.0
    g = x.T @ x
    n = g.shape[0]
    expected = np.zeros((n, n))
    for j in range(n):
        rest = [i for i in range(n) if i != j]
        expected[rest, j] = np.linalg.solve(g[np.ix_(rest, rest)] + l2 * np.eye(n - 1), g[rest, j])
    model = EASE(l2=l2, dtype=dtype).fit(tiny)
    np.testing.assert_allclose(model.weights, expected, atol=tol)
    assert model.weights.flags["C_CONTIGUOUS"]  # scoring must not copy the n x n matrix
    np.testing.assert_allclose(all_scores(model, 30), x @ expected, atol=tol * 10)


@pytest.mark.parametrize("k,shrink,block", [(3, 0.0, 5), (100, 2.0, 1), (5, 0.5, 64)])
def test_itemknn_matches_brute_force(tiny, k, shrink, block):
    x = tiny.toarray().astype(np.float64)
    n = x.shape[1]
    norms = np.linalg.norm(x, axis=0)
    expected = np.zeros((n, n))
    for i in range(n):  # target item
        sims = [(x[:, j] @ x[:, i] / (norms[j] * norms[i] + shrink + 1e-12), j)
                for j in range(n) if j != i]
        sims.sort(key=lambda t: (-t[0], t[1]))
        for s, j in sims[:k]:
            if s > 0:
                expected[j, i] = s
    model = ItemKNN(k=k, shrink=shrink, block_size=block).fit(tiny)
    np.testing.assert_allclose(model.similarity.toarray(), expected, atol=1e-6)
    np.testing.assert_allclose(all_scores(model, 30), x @ expected, atol=1e-5)


@pytest.mark.parametrize("distribution", ["uniform", "popularity"])
def test_sampler_never_returns_positives(tiny, distribution):
    sampler = NegativeSampler(tiny, torch.Generator().manual_seed(0), distribution)
    users = torch.arange(30).repeat(50)
    negatives = sampler.sample(users, n=3)
    assert negatives.shape == (1500, 3) and negatives.dtype == torch.int64
    dense = torch.from_numpy(tiny.toarray() > 0)
    assert not dense[users[:, None].expand(-1, 3), negatives].any()
    assert negatives.unique().numel() > 6  # spread over items
    again = NegativeSampler(tiny, torch.Generator().manual_seed(0), distribution)
    assert torch.equal(again.sample(users, n=3), negatives)  # deterministic by seed


def test_sampler_redraws_exactly_as_checking_every_draw_each_round(tiny):
    """sample() re-checks only the draws it just redrew; the draws equal the plain rule's
    (check all B x n every round, redraw the positives in row-major order)."""
    def plain(sampler, users, n):
        users = users[:, None].expand(-1, n)
        items = sampler._draw(users.numel()).view(users.shape)
        for _ in range(sampler.max_rounds):
            redo = sampler.is_positive(users, items)
            if not redo.any():
                break
            items[redo] = sampler._draw(int(redo.sum()))
        return items

    users = torch.arange(30).repeat(40)
    for distribution in ("uniform", "popularity"):
        fast = NegativeSampler(tiny, torch.Generator().manual_seed(3), distribution)
        slow = NegativeSampler(tiny, torch.Generator().manual_seed(3), distribution)
        assert torch.equal(fast.sample(users, 4), plain(slow, users, 4))


@pytest.mark.parametrize("block", [5, 1 << 21])
def test_pair_batches_cover_every_train_pair_once_per_epoch(tiny, monkeypatch, block):
    """Shuffle and negatives are drawn a block of positives at a time (DRAW_BLOCK, here
    smaller and larger than a batch): every train pair once, full batches but the last,
    no positive among the negatives, the same epoch again from the same seed."""
    import recbench.models.bpr as bpr

    monkeypatch.setattr(bpr, "DRAW_BLOCK", block)
    epoch = list(bpr.PairBatches(tiny, 16, torch.Generator().manual_seed(0), 2))
    users, pos, neg = (torch.cat(parts) for parts in zip(*epoch))
    assert [len(b[0]) for b in epoch[:-1]] == [16] * (len(epoch) - 1) and len(epoch[-1][0]) <= 16
    coo = tiny.tocoo()
    assert sorted(zip(users.tolist(), pos.tolist())) == sorted(zip(coo.row.tolist(), coo.col.tolist()))
    dense = torch.from_numpy(tiny.toarray() > 0)
    assert neg.shape == (tiny.nnz, 2) and not dense[users[:, None].expand(-1, 2), neg].any()
    again = list(bpr.PairBatches(tiny, 16, torch.Generator().manual_seed(0), 2))
    assert all(torch.equal(a, b) for x, y in zip(epoch, again) for a, b in zip(x, y))


def test_popularity_sampler_draws_in_proportion_to_train_counts():
    """A user with no positives: no rejection, so draws follow counts / total exactly in
    expectation (item 3 never occurs in train: never drawn)."""
    counts = np.array([1, 2, 5, 0, 12])
    rows = np.concatenate([np.arange(c) + 1 for c in counts])  # users 1.. hold the items
    cols = np.repeat(np.arange(5), counts)
    train = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(13, 5))
    sampler = NegativeSampler(train, torch.Generator().manual_seed(1), "popularity")
    draws = sampler.sample(torch.zeros(200_000, dtype=torch.int64), n=1).ravel()
    freq = np.bincount(draws.numpy(), minlength=5) / draws.numel()
    np.testing.assert_allclose(freq, counts / counts.sum(), atol=0.005)
    assert freq[3] == 0
    with pytest.raises(ValueError, match="must be one of uniform, popularity"):
        NegativeSampler(train, torch.Generator(), "zipf")


def test_bpr_with_several_popularity_negatives_learns(ml100k_split):
    s = ml100k_split
    model = BPR(dim=32, optimizer={"lr": 0.005}, negatives=4, sampler="popularity").fit(
        s.train, s.valid, FitContext(seed=0, trainer={"max_epochs": 5, "progress_bar": False}))
    _, values = evaluate(model.score, s.test, [s.train, s.valid], ["ndcg@10"])
    assert values["ndcg@10"].mean() > 0.16  # above MostPop (0.153) after 5 epochs


def test_bad_hyper_parameters_and_inputs_are_refused(tiny):
    with pytest.raises(ValueError, match="l2 must be > 0"):
        EASE(l2=0)
    with pytest.raises(ValueError, match="k must be >= 1"):
        ItemKNN(k=0)
    with pytest.raises(TypeError, match="scipy.sparse"):
        MostPop().fit(tiny.toarray())
    with pytest.raises(ValueError, match="shape"):
        MostPop().fit(tiny, sp.csr_matrix((3, 3), dtype=np.float32))


def test_every_model_beats_mostpop_on_ml100k(ml100k_split):
    s = ml100k_split

    ndcg = partial(ndcg_on_test, s=s)

    history = []
    ctx = FitContext(seed=0, trainer={"max_epochs": 25, "progress_bar": False},
                     log=lambda values, step: history.append((step, values)))
    base = ndcg(MostPop().fit(s.train))
    bpr = BPR().fit(s.train, s.valid, ctx)
    results = {"itemknn": ndcg(ItemKNN().fit(s.train)), "ease": ndcg(EASE().fit(s.train)),
               "bpr": ndcg(bpr)}
    assert all(v > base + 0.05 for v in results.values()), (base, results)
    # per-epoch curves were reported, and the best epoch's weights were restored
    assert [step for step, _ in history] == list(range(25))
    valid_curve = [v["epoch_valid_ndcg@10"] for _, v in history]
    assert bpr.best_epoch == int(np.argmax(valid_curve))
    _, restored = evaluate(bpr.score, s.valid, [s.train], ["ndcg@10"])
    assert restored["ndcg@10"].mean() == pytest.approx(max(valid_curve), abs=1e-9)


def test_valid_every_validates_on_those_epochs_and_the_last_and_patience_counts_validations(
        ml100k_split):
    s = ml100k_split
    history = []
    ctx = FitContext(seed=0, trainer={"max_epochs": 7, "valid_every": 3, "progress_bar": False},
                     log=lambda values, step: history.append((step, values)))
    bpr = BPR(dim=8).fit(s.train, s.valid, ctx)
    validated = [step for step, v in history if "epoch_valid_ndcg@10" in v]
    assert validated == [2, 5, 6]
    assert bpr.best_epoch in validated
    # patience 1 with a diverging lr: stops after one validation without improvement
    history.clear()
    ctx = FitContext(seed=0, trainer={"max_epochs": 30, "valid_every": 2, "patience": 1,
                                      "progress_bar": False},
                     log=lambda values, step: history.append((step, values)))
    BPR(dim=8, optimizer={"lr": 0.5}).fit(s.train, s.valid, ctx)
    validated = [step for step, v in history if "epoch_valid_ndcg@10" in v]
    assert history[-1][0] == validated[-1] < 29 and all(step % 2 == 1 for step in validated)
    with pytest.raises(RecbenchError, match="valid_every must be an integer >= 1"):
        BPR().fit(s.train, s.valid, FitContext(trainer={"valid_every": 0}))


def test_diverging_training_fails_loudly_and_keeps_its_curve(ml100k_split):
    s, history = ml100k_split, []
    ctx = FitContext(seed=0, trainer={"max_epochs": 5, "progress_bar": False},
                     log=lambda values, step: history.append(values["train_loss"]))
    with pytest.raises(FloatingPointError, match="training loss became nan"):
        BPR(optimizer={"lr": 1e20}, reg=1.0).fit(s.train, s.valid, ctx)
    assert history and np.isnan(history[-1])
