"""LightGCN: propagation against dense matrix powers, the normalised graph, determinism,
the evaluation cache, config, and ml-100k against MostPop."""

from __future__ import annotations

from functools import partial
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbench.config import check_buildable, compose
from recbench.evaluation import evaluate
from recbench.models.base import FitContext
from recbench.models.lightgcn import LightGCN, normalized_adjacency
from recbench.models.mostpop import MostPop
from tests.conftest import QUIET
from tests.conftest import ndcg_on_test



@pytest.fixture
def tiny():
    """5 users x 6 items; user 4 and item 5 have no interactions (isolated nodes)."""
    dense = np.array([[1, 1, 0, 0, 0, 0],
                      [0, 1, 1, 0, 0, 0],
                      [1, 0, 0, 1, 1, 0],
                      [0, 0, 1, 0, 1, 0],
                      [0, 0, 0, 0, 0, 0]], dtype=np.float32)
    return sp.csr_matrix(dense)


def dense_adjacency(r: np.ndarray) -> np.ndarray:
    """D^-1/2 A D^-1/2 of A = [[0, R], [R^T, 0]] in float64, 0 rows/cols for isolated nodes."""
    n_users, n_items = r.shape
    a = np.zeros((n_users + n_items,) * 2)
    a[:n_users, n_users:] = r
    a[n_users:, :n_users] = r.T
    deg = a.sum(1)
    inv = np.where(deg > 0, 1 / np.sqrt(np.where(deg > 0, deg, 1)), 0.0)
    return inv[:, None] * a * inv[None, :]


@pytest.mark.parametrize("n_layers", [0, 1, 3])
def test_propagation_is_the_mean_of_adjacency_powers(tiny, n_layers):
    model = LightGCN(dim=4, n_layers=n_layers).fit(
        tiny, None, FitContext(seed=0, trainer={"max_epochs": 1, **QUIET}))
    e0 = model.module.embedding.weight.detach().numpy().astype(np.float64)
    a_hat = dense_adjacency(tiny.toarray())
    expected = np.mean([np.linalg.matrix_power(a_hat, k) @ e0 for k in range(n_layers + 1)],
                       axis=0)
    with torch.no_grad():
        final = model.module.propagate().numpy()
        module = model.module  # the torch.sparse.mm path (used off CPU) agrees
        layers = [module.embedding.weight]
        for _ in range(n_layers):
            layers.append(torch.sparse.mm(module.adjacency, layers[-1]))
        np.testing.assert_allclose(torch.stack(layers).mean(0).numpy(), expected, atol=1e-5)
    assert np.isfinite(final).all()
    np.testing.assert_allclose(final, expected, atol=1e-5)
    if n_layers:  # isolated nodes only keep their own layer-0 share
        np.testing.assert_allclose(final[[4, 5 + 5]], e0[[4, 10]] / (n_layers + 1), atol=1e-6)
    scores = model.score(torch.arange(5)).numpy()
    np.testing.assert_allclose(scores, expected[:5] @ expected[5:].T, atol=1e-5)
    assert model.n_parameters() == (5 + 6) * 4


def test_normalized_adjacency_is_symmetric_with_spectral_radius_at_most_one(tiny):
    adj = normalized_adjacency(tiny)
    assert adj.layout == torch.sparse_csr and adj.shape == (11, 11)
    for row in np.split(adj.col_indices().numpy(), adj.crow_indices().numpy()[1:-1]):
        assert (np.diff(row) > 0).all()  # sorted, no duplicate entries
    dense = adj.to_dense().numpy().astype(np.float64)
    assert np.isfinite(dense).all()
    np.testing.assert_array_equal(dense, dense.T)
    np.testing.assert_allclose(dense, dense_adjacency(tiny.toarray()), atol=1e-7)
    assert np.abs(np.linalg.eigvalsh(dense)).max() <= 1 + 1e-6
    assert not dense[4].any() and not dense[:, 10].any()  # isolated user / item
    # counts are binarised: the graph is that of R > 0
    weighted = tiny.copy()
    weighted.data *= 3
    assert torch.equal(normalized_adjacency(weighted).to_dense(), adj.to_dense())


def test_evaluation_cache_follows_the_weights(tiny):
    """Scores are propagated once per weight version: a restore via load_state_dict (as the
    best-weights restore and checkpoint resume do) must not serve stale embeddings."""
    model = LightGCN(dim=4, n_layers=2).fit(
        tiny, None, FitContext(seed=0, trainer={"max_epochs": 1, **QUIET}))
    users = torch.arange(5)
    before = model.score(users)
    cached = model.module.final_embeddings()
    assert model.module.final_embeddings() is cached  # no recomputation between calls
    state = {k: v * 2 for k, v in model.module.state_dict().items()}
    model.module.load_state_dict(state)
    assert model.module.final_embeddings() is not cached
    torch.testing.assert_close(model.score(users), 4 * before)


def test_lightgcn_beats_mostpop_on_ml100k(ml100k_split):
    s, history = ml100k_split, []

    ndcg = partial(ndcg_on_test, s=s)

    ctx = FitContext(seed=0, trainer={"max_epochs": 6, **QUIET},
                     log=lambda values, step: history.append(values))
    model = LightGCN(optimizer={"lr": 1e-2}).fit(s.train, s.valid, ctx)
    base, value = ndcg(MostPop().fit(s.train)), ndcg(model)
    assert value > base + 0.05, (base, value)
    # the best epoch's weights were restored, and scoring sees them (not a stale cache)
    valid_curve = [v["epoch_valid_ndcg@10"] for v in history]
    assert model.best_epoch == int(np.argmax(valid_curve))
    _, restored = evaluate(model.score, s.valid, [s.train], ["ndcg@10"])
    assert restored["ndcg@10"].mean() == pytest.approx(max(valid_curve), abs=1e-9)


@pytest.mark.parametrize("kwargs,match", [
    ({"dim": 0}, "dim must be >= 1"), ({"n_layers": -1}, "n_layers must be >= 0"), ({"optimizer": {"lr": 0}}, "lr > 0"),
    ({"reg": -1e-3}, "reg must be >= 0"), ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"negatives": 0}, "negatives must be >= 1"), ({"sampler": "zipf"}, "must be one of uniform"),
])
def test_bad_arguments_are_refused_in_one_line(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        LightGCN(**kwargs)
    assert "\n" not in str(err.value)


def test_config_composes_and_builds():
    cfg = compose(["model=lightgcn"])
    assert cfg.model.name == "lightgcn" and cfg.model.n_layers == 3
    check_buildable(cfg)
    tuned = compose(["hparams_search=lightgcn"], hydra_config=True)
    assert tuned.model.name == "lightgcn"
    params = tuned.hydra.sweeper.params
    assert set(params) == {"model.optimizer.lr", "model.reg", "model.n_layers"}
    assert list(params["model.n_layers"].choices) == [1, 2, 3]
