"""UserKNN and RP3beta against brute-force loops on a tiny matrix, and against MostPop on ml-100k."""

from __future__ import annotations

from functools import partial
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbench.config import build, check_buildable, compose
from recbench.models.mostpop import MostPop
from recbench.models.rp3beta import RP3beta
from recbench.models.userknn import UserKNN
from tests.conftest import ndcg_on_test


@pytest.fixture
def tiny():
    """7 x 9 binary: user 3 and item 4 are empty; users 0/1 are identical (ties), so are
    items 0/1 (tied RP3beta weights)."""
    rng = np.random.default_rng(3)
    x = (rng.random((7, 9)) < 0.45).astype(np.float32)
    x[3, :] = 0
    x[:, 4] = 0
    x[1] = x[0]
    x[:, 1] = x[:, 0]
    x[0, [0, 1, 2]] = 1
    x[1] = x[0]
    assert not x[3].any() and not x[:, 4].any() and (x[:, 0] == x[:, 1]).all()
    return sp.csr_matrix(x)


def all_scores(model, n_users):
    return model.score(torch.arange(n_users)).numpy()


def top_k_positive(candidates, k):
    """``[(value, id)]`` -> the k best positive ones, highest first, ties by lower id."""
    candidates = sorted(candidates, key=lambda t: (-t[0], t[1]))
    return [(v, j) for v, j in candidates[:k] if v > 0]


def userknn_brute_force(x, history, k, shrink):
    n_users, n_items = x.shape
    scores = np.zeros((n_users, n_items))
    for u in range(n_users):
        h = history[u]
        sims = [(h @ x[v] / (np.linalg.norm(h) * np.linalg.norm(x[v]) + shrink + 1e-12), v)
                for v in range(n_users) if v != u]
        for s, v in top_k_positive(sims, k):
            for i in range(n_items):
                scores[u, i] += s * x[v, i]
    return scores


def rp3beta_brute_force(x, k, alpha, beta):
    n_users, n_items = x.shape
    user_deg, item_deg = x.sum(1), (x > 0).sum(0)
    w = np.zeros((n_items, n_items))
    for i in range(n_items):
        for j in range(n_items):
            if i == j or item_deg[j] == 0:
                continue
            walk = 0.0
            for u in range(n_users):
                if x[u, i] > 0 and x[u, j] > 0:
                    walk += (1 / item_deg[i]) ** alpha * (x[u, j] / user_deg[u]) ** alpha
            w[i, j] = walk / item_deg[j] ** beta
    kept = np.zeros_like(w)
    for i in range(n_items):  # source item: its k best targets
        for value, j in top_k_positive([(w[i, j], j) for j in range(n_items) if j != i], k):
            kept[i, j] = value
    return x @ kept


@pytest.mark.parametrize("k,shrink,block", [(1, 0.0, 2), (2, 0.0, 1024), (3, 1.5, 3), (100, 0.0, 1)])
def test_userknn_matches_brute_force(tiny, k, shrink, block):
    x = tiny.toarray().astype(np.float64)
    model = UserKNN(k=k, shrink=shrink, block_size=block).fit(tiny)
    np.testing.assert_allclose(all_scores(model, 7), userknn_brute_force(x, x, k, shrink), atol=1e-5)
    assert model.n_parameters() == tiny.nnz
    # any order and subset of users gives the same rows
    users = torch.tensor([5, 0, 3, 1])
    np.testing.assert_allclose(model.score(users).numpy(), all_scores(model, 7)[users.numpy()],
                               atol=1e-6)


def test_userknn_scores_folded_in_history_against_train_users(tiny):
    """Cold-user protocol: scored rows come from set_history, neighbours from train."""
    x = tiny.toarray().astype(np.float64)
    fold_in = np.zeros_like(x)
    fold_in[3, [0, 5, 7]] = 1  # the empty user gets a history
    fold_in[6, 2] = 1
    model = UserKNN(k=2, shrink=0.5, block_size=4).fit(tiny)
    model.set_history(sp.csr_matrix(x + fold_in))
    expected = userknn_brute_force(x, x + fold_in, 2, 0.5)
    np.testing.assert_allclose(all_scores(model, 7), expected, atol=1e-5)
    assert np.abs(expected[3]).sum() > 0


@pytest.mark.parametrize("k,alpha,beta,block", [(1, 1.0, 0.5, 2), (2, 1.0, 0.0, 1024),
                                                (3, 0.7, 1.2, 4), (100, 1.5, 0.3, 1)])
def test_rp3beta_matches_brute_force(tiny, k, alpha, beta, block):
    x = tiny.toarray().astype(np.float64)
    model = RP3beta(k=k, alpha=alpha, beta=beta, block_size=block).fit(tiny)
    np.testing.assert_allclose(all_scores(model, 7), rp3beta_brute_force(x, k, alpha, beta),
                               atol=1e-5)
    assert model.similarity.diagonal().sum() == 0
    assert model.n_parameters() == model.similarity.nnz <= 9 * min(k, 8)


@pytest.mark.parametrize("make,message", [
    (lambda: UserKNN(k=0), "UserKNN k must be >= 1"),
    (lambda: UserKNN(shrink=-1), "shrink must be >= 0"),
    (lambda: UserKNN(block_size=0), "block_size must be >= 1"),
    (lambda: RP3beta(k=0), "RP3beta k must be >= 1"),
    (lambda: RP3beta(alpha=-0.1), "alpha must be >= 0"),
    (lambda: RP3beta(beta=-1), "beta must be >= 0"),
    (lambda: RP3beta(beta=float("nan")), "beta must be >= 0"),
    (lambda: RP3beta(block_size=0), "block_size must be >= 1"),
])
def test_bad_hyper_parameters_are_refused(make, message):
    with pytest.raises(ValueError, match=message) as info:
        make()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("model", [UserKNN(), RP3beta()])
def test_bad_inputs_are_refused(tiny, model):
    with pytest.raises(TypeError, match="scipy.sparse"):
        model.fit(tiny.toarray())
    with pytest.raises(ValueError, match="non-negative"):
        model.fit(-tiny)


def test_both_beat_mostpop_on_ml100k(ml100k_split):
    s = ml100k_split

    ndcg = partial(ndcg_on_test, s=s)

    base = ndcg(MostPop().fit(s.train))
    results = {"userknn": ndcg(UserKNN().fit(s.train)), "rp3beta": ndcg(RP3beta().fit(s.train))}
    assert all(v > base + 0.1 for v in results.values()), (base, results)


@pytest.mark.parametrize("name,cls", [("userknn", UserKNN), ("rp3beta", RP3beta)])
def test_configs_compose_and_build(name, cls):
    cfg = compose([f"model={name}"])
    check_buildable(cfg)
    assert cfg.model.name == name
    assert isinstance(build(cfg, "model"), cls)
