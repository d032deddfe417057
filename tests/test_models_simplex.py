"""SimpleX: the CCL loss by hand, the user tower and cosine scores against dense numpy,
history fold-in, determinism, config, and ml-100k against MostPop."""

from __future__ import annotations

from functools import partial
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbench.config import build, check_buildable, compose
from recbench.evaluation import evaluate
from recbench.models.base import FitContext
from recbench.models.mostpop import MostPop
from recbench.models.simplex import SimpleX, ccl_loss, history_bags
from tests.conftest import QUIET
from tests.conftest import ndcg_on_test



@pytest.fixture
def tiny():
    """4 users x 5 items; user 3 has no history; one count of 3 (counts once, binarised)."""
    dense = np.array([[1, 1, 0, 0, 0],
                      [0, 3, 1, 1, 0],
                      [1, 0, 0, 0, 1],
                      [0, 0, 0, 0, 0]], dtype=np.float32)
    return sp.csr_matrix(dense)


def dense_towers(model: SimpleX, history: np.ndarray) -> np.ndarray:
    """g * p_u + (1 - g) * V mean_{i: history[u, i] > 0} q_i in float64 (0 for no history)."""
    p = model.module.user_emb.weight.detach().numpy().astype(np.float64)
    q = model.module.item_emb.weight.detach().numpy().astype(np.float64)
    v = model.module.aggregate.weight.detach().numpy().astype(np.float64)  # (out, in)
    binary = (history > 0).astype(np.float64)
    counts = binary.sum(1, keepdims=True)
    mean = binary @ q / np.where(counts > 0, counts, 1)
    return model.gamma * p + (1 - model.gamma) * mean @ v.T


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=1, keepdims=True)) @ (
        b / np.linalg.norm(b, axis=1, keepdims=True)).T


def test_ccl_loss_matches_the_hand_computed_value():
    pos = torch.tensor([0.8, 0.5])
    neg = torch.tensor([[0.95, 0.1], [0.6, 0.92]])
    # row 0: (1 - 0.8) + 2 * (0.05 + 0) / 2 = 0.25; row 1: (1 - 0.5) + 2 * (0 + 0.02) / 2 = 0.52
    value = ccl_loss(pos, neg, margin=0.9, negative_weight=2.0)
    assert value.item() == pytest.approx((0.25 + 0.52) / 2, abs=1e-6)
    assert ccl_loss(pos, neg, margin=0.9, negative_weight=0.0).item() == pytest.approx(0.35)


def test_batch_loss_is_the_ccl_of_the_towers_cosines(tiny):
    model = SimpleX(dim=3, gamma=0.3, margin=0.1, negative_weight=4.0, dropout=0.5).fit(
        tiny, None, FitContext(seed=0, trainer={"max_epochs": 1, **QUIET}))
    module = model.module.train()
    module.drop.eval()  # dropout off, so the loss is a function of the weights alone
    users, pos = torch.tensor([0, 1, 1]), torch.tensor([1, 2, 3])
    neg = torch.tensor([[2, 3], [0, 4], [4, 0]])
    unique, inverse = torch.unique(users, return_inverse=True)
    loss = module.batch_loss((users, pos, neg, unique, inverse,
                              *history_bags(tiny, unique))).item()
    cos = cosine(dense_towers(model, tiny.toarray()), module.item_emb.weight.detach().numpy())
    u = users.numpy()
    hinge = np.maximum(cos[u[:, None], neg.numpy()] - 0.1, 0).mean(1)
    assert loss == pytest.approx(np.mean(1 - cos[u, pos.numpy()] + 4.0 * hinge), abs=1e-5)


def test_user_tower_and_scores_match_dense_numpy(tiny):
    model = SimpleX(dim=4, gamma=0.3).fit(
        tiny, None, FitContext(seed=0, trainer={"max_epochs": 2, **QUIET}))
    users = torch.arange(4)
    towers = dense_towers(model, tiny.toarray())
    with torch.no_grad():
        got = model.module.user_tower(users, *history_bags(tiny, users)).numpy()
    np.testing.assert_allclose(got, towers, atol=1e-5)
    p = model.module.user_emb.weight.detach().numpy()
    np.testing.assert_allclose(got[3], 0.3 * p[3], atol=1e-6)  # no history: own part only
    q = model.module.item_emb.weight.detach().numpy()
    scores = model.score(users).numpy()
    np.testing.assert_allclose(scores, cosine(towers, q), atol=1e-5)
    assert model.n_parameters() == (4 + 5) * 4 + 4 * 4
    # scores read the current history: a fold-in changes user 3's tower, and only its own
    folded = tiny.toarray()
    folded[3, [2, 4]] = 1
    model.set_history(sp.csr_matrix(folded))
    new = model.score(users).numpy()
    np.testing.assert_allclose(new, cosine(dense_towers(model, folded), q), atol=1e-5)
    np.testing.assert_array_equal(new[:3], scores[:3])
    assert not np.allclose(new[3], scores[3])
    # a stored 0 is no interaction: it does not enter the mean
    coo = sp.coo_matrix(folded)
    with_zero = sp.csr_matrix((np.r_[coo.data, 0], (np.r_[coo.row, 3], np.r_[coo.col, 0])),
                              shape=folded.shape)
    assert with_zero.nnz == coo.nnz + 1
    model.set_history(with_zero)
    np.testing.assert_array_equal(model.score(users).numpy(), new)


def test_simplex_beats_mostpop_on_ml100k(ml100k_split):
    s, history = ml100k_split, []

    ndcg = partial(ndcg_on_test, s=s)

    ctx = FitContext(seed=0, trainer={"max_epochs": 4, **QUIET},
                     log=lambda values, step: history.append(values))
    model = SimpleX(negatives=20).fit(s.train, s.valid, ctx)
    base, value = ndcg(MostPop().fit(s.train)), ndcg(model)
    assert value > base + 0.05, (base, value)
    # the best epoch's weights were restored, and scoring sees them
    valid_curve = [v["epoch_valid_ndcg@10"] for v in history]
    assert model.best_epoch == int(np.argmax(valid_curve))
    _, restored = evaluate(model.score, s.valid, [s.train], ["ndcg@10"])
    assert restored["ndcg@10"].mean() == pytest.approx(max(valid_curve), abs=1e-9)


@pytest.mark.parametrize("kwargs,match", [
    ({"dim": 0}, "dim must be >= 1"), ({"negatives": 0}, "negatives must be >= 1"),
    ({"batch_size": 0}, "batch_size must be >= 1"), ({"reg": -1e-3}, "reg must be >= 0"),
    ({"negative_weight": -1}, "negative_weight must be >= 0"), ({"gamma": 1.5}, r"gamma must be in \[0, 1\]"),
    ({"margin": 1.0}, r"margin must be in \[-1, 1\)"), ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"sampler": "zipf"}, "must be one of uniform"), ({"optimizer": {"lr": 0}}, "lr > 0"),
])
def test_bad_arguments_are_refused_in_one_line(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        SimpleX(**kwargs)
    assert "\n" not in str(err.value)


def test_config_composes_and_builds():
    cfg = compose(["model=simplex"])
    assert cfg.model.name == "simplex"
    check_buildable(cfg)
    model = build(cfg, "model")
    assert isinstance(model, SimpleX)
    assert (model.margin, model.negative_weight, model.negatives) == (0.2, 10.0, 50)
    assert (model.optimizer.name, model.optimizer.lr) == ("adam", 0.01)
    assert build(compose(["model=simplex", "model.optimizer.name=adamw"]),
                 "model").optimizer.name == "adamw"
    tuned = compose(["hparams_search=simplex"], hydra_config=True)
    assert tuned.model.name == "simplex"
    assert set(tuned.hydra.sweeper.params) == {"model.optimizer.lr", "model.margin",
                                               "model.negative_weight", "model.reg"}
