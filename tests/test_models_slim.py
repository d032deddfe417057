"""SLIM against scikit-learn ElasticNet fitted column by column, and against MostPop on ml-100k."""

from __future__ import annotations

from functools import partial
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet

from recbench.config import build, check_buildable, compose
from recbench.errors import RecbenchError
from recbench.models.base import FitContext
from recbench.models.mostpop import MostPop
from recbench.models.slim import SLIM
from tests.conftest import ndcg_on_test


@pytest.fixture
def tiny():
    """40 x 12 binary: item 4 is empty, items 0/1 are identical (tied coefficients)."""
    rng = np.random.default_rng(5)
    x = (rng.random((40, 12)) < 0.35).astype(np.float32)
    x[:, 4] = 0
    x[:, 1] = x[:, 0]
    return sp.csr_matrix(x)


def oracle_weights(x: np.ndarray, alpha, l1_ratio, seed, max_iter=100, tol=1e-4):
    """Column j: ElasticNet of x[:, j] on x with column j zeroed, fitted on its own."""
    n = x.shape[1]
    w = np.zeros((n, n))
    for j in range(n):
        features = x.copy()
        features[:, j] = 0
        model = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, positive=True, fit_intercept=False,
                           precompute=True, selection="random", max_iter=max_iter, tol=tol,
                           random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(sp.csc_matrix(features), x[:, j])
        w[:, j] = model.coef_
    return w


@pytest.mark.parametrize("alpha,l1_ratio,seed", [(1e-3, 0.1, 0), (1e-2, 0.5, 3), (3e-2, 0.02, 7)])
def test_weights_match_elasticnet_per_column(tiny, alpha, l1_ratio, seed):
    x = tiny.toarray()
    model = SLIM(alpha=alpha, l1_ratio=l1_ratio, topk=1000).fit(tiny, None, FitContext(seed=seed))
    expected = oracle_weights(x, alpha, l1_ratio, seed)
    assert np.count_nonzero(expected) > 12  # a real test: several coefficients per item
    w = model.weights.toarray()
    np.testing.assert_allclose(w, expected, atol=1e-6)
    assert (w >= 0).all() and np.diagonal(w).sum() == 0
    assert not w[4].any() and not w[:, 4].any()  # the empty item
    assert model.n_parameters() == model.weights.nnz == np.count_nonzero(expected)
    assert model.weights.dtype == np.float32
    np.testing.assert_allclose(model.score(torch.arange(40)).numpy(), x @ w, atol=1e-5)
    users = torch.tensor([7, 0, 39, 3])  # any order and subset of users gives the same rows
    np.testing.assert_allclose(model.score(users).numpy(), (x @ w)[users.numpy()], atol=1e-5)


@pytest.mark.parametrize("topk", [1, 2, 3])
def test_topk_keeps_the_largest_coefficients(tiny, topk):
    full = SLIM(alpha=1e-3, topk=1000).fit(tiny).weights.toarray()
    kept = SLIM(alpha=1e-3, topk=topk).fit(tiny).weights.toarray()
    assert ((kept > 0).sum(axis=0) <= topk).all() and ((full > 0).sum(axis=0) > topk).any()
    for j in range(12):
        candidates = sorted(((full[i, j], i) for i in range(12) if full[i, j] > 0),
                            key=lambda t: (-t[0], t[1]))[:topk]
        expected = np.zeros(12)
        for value, i in candidates:
            expected[i] = value
        np.testing.assert_array_equal(kept[:, j], expected.astype(np.float32))


def test_results_do_not_depend_on_n_jobs(tiny):
    one = SLIM(alpha=1e-3, topk=3, n_jobs=1).fit(tiny, None, FitContext(seed=2)).weights
    two = SLIM(alpha=1e-3, topk=3, n_jobs=2).fit(tiny, None, FitContext(seed=2)).weights
    assert one.nnz and (one.indices == two.indices).all() and (one.indptr == two.indptr).all()
    assert (one.data == two.data).all()
    np.testing.assert_array_equal(SLIM(alpha=1e-3, topk=3).fit(tiny, None, FitContext(seed=2))
                                  .weights.toarray(), one.toarray())  # and repeatable


def test_fit_leaves_the_train_matrix_alone(tiny):
    before = tiny.copy()
    SLIM(alpha=1e-3).fit(tiny)
    assert (tiny != before).nnz == 0 and (tiny.data == before.data).all()


@pytest.mark.parametrize("make,message", [
    (lambda: SLIM(alpha=0), "SLIM alpha must be > 0"),
    (lambda: SLIM(alpha=float("nan")), "alpha must be > 0"),
    (lambda: SLIM(l1_ratio=-0.1), r"l1_ratio must be in \[0, 1\]"),
    (lambda: SLIM(l1_ratio=1.5), r"l1_ratio must be in \[0, 1\]"),
    (lambda: SLIM(topk=0), "topk must be >= 1"),
    (lambda: SLIM(max_iter=0), "max_iter must be >= 1"),
    (lambda: SLIM(tol=-1e-4), "tol must be >= 0"),
    (lambda: SLIM(n_jobs=0), "n_jobs must be >= 1 or one of -1"),
    (lambda: SLIM(n_jobs=-2), "n_jobs must be >= 1 or one of -1"),
])
def test_bad_hyper_parameters_are_refused(make, message):
    with pytest.raises(ValueError, match=message) as info:
        make()
    assert "\n" not in str(info.value)


def test_bad_inputs_are_refused(tiny):
    with pytest.raises(TypeError, match="scipy.sparse"):
        SLIM().fit(tiny.toarray())
    with pytest.raises(ValueError, match="non-negative"):
        SLIM().fit(-tiny)


def test_config_composes_and_builds():
    cfg = compose(["model=slim"])
    check_buildable(cfg)
    assert cfg.model.name == "slim"
    model = build(cfg, "model")
    assert isinstance(model, SLIM) and model.n_jobs == 1
    with pytest.raises(RecbenchError, match="model 'slim': SLIM alpha must be > 0"):
        check_buildable(compose(["model=slim", "model.alpha=0"]))
    assert compose(["hparams_search=slim"]).model.name == "slim"


def test_beats_mostpop_on_ml100k(ml100k_split):
    s = ml100k_split

    ndcg = partial(ndcg_on_test, s=s)

    base = ndcg(MostPop().fit(s.train))
    slim = ndcg(SLIM(topk=20, max_iter=10).fit(s.train))
    assert slim > base + 0.1, (base, slim)
