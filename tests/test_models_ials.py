"""iALS: CG half-steps against numpy.linalg.solve, training behaviour, config, and ml-100k."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbench.cli import main
from recbench.config import check_buildable, compose
from recbench.models.base import FitContext
from recbench.models.ials import IALS, SideInteractions, cg_solve
from tests.test_cli_run import runs_of


@pytest.fixture
def tiny():
    rng = np.random.default_rng(1)
    return sp.csr_matrix(rng.random((6, 8)) < 0.4, dtype=np.float32)


def exact_rows(x: np.ndarray, fixed: np.ndarray, alpha: float, reg: float) -> np.ndarray:
    """Row r solves (F^T C_r F + reg I) w = F^T C_r p(r), C_r = diag(1 + alpha x_r): one
    explicit dense solve per row (Hu, Koren & Volinsky 2008, eq. 4)."""
    out = np.zeros((x.shape[0], fixed.shape[1]))
    for r in range(x.shape[0]):
        c = 1 + alpha * x[r]
        a = fixed.T @ (c[:, None] * fixed) + reg * np.eye(fixed.shape[1])
        out[r] = np.linalg.solve(a, fixed.T @ (c * (x[r] > 0)))
    return out


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_cg_half_steps_match_the_normal_equations(tiny, dtype, tol):
    rng = np.random.default_rng(0)
    x, alpha, reg = tiny.toarray().astype(np.float64), 10.0, 0.3
    users, items = rng.normal(size=(6, 3)), rng.normal(size=(8, 3))
    to = lambda a: torch.from_numpy(a).to(dtype)  # noqa: E731
    start_users = to(users)
    solved = cg_solve(SideInteractions.from_csr(tiny, alpha, dtype), to(items), start_users,
                      reg, 50)
    np.testing.assert_allclose(solved.numpy(), exact_rows(x, items, alpha, reg), atol=tol)
    assert torch.equal(start_users, to(users))  # the warm start is not modified
    solved = cg_solve(SideInteractions.from_csr(tiny.T.tocsr(), alpha, dtype), to(users),
                      to(items), reg, 50)
    np.testing.assert_allclose(solved.numpy(), exact_rows(x.T, users, alpha, reg), atol=tol)


def test_fit_ends_with_an_exact_item_solve_and_scores_are_dot_products(tiny):
    model = IALS(factors=3, regularization=0.5, alpha=4.0, iterations=2, cg_steps=50,
                 dtype="float64").fit(tiny)
    x = tiny.toarray().astype(np.float64)
    users, items = model.user_factors.numpy(), model.item_factors.numpy()
    np.testing.assert_allclose(items, exact_rows(x.T, users.astype(np.float64), 4.0, 0.5),
                               atol=1e-5)
    np.testing.assert_allclose(model.score(torch.arange(6)).numpy(), users @ items.T, atol=1e-6)
    assert model.score(torch.tensor([4, 1])).dtype == torch.float32
    assert model.n_parameters() == (6 + 8) * 3


def test_training_lowers_the_loss_and_is_deterministic(low_rank):
    curve = []
    ctx = FitContext(seed=7, log=lambda values, step: curve.append((step, values["train_loss"])))
    model = IALS(factors=8, regularization=1.0, alpha=5.0, iterations=8).fit(low_rank, None, ctx)
    assert [step for step, _ in curve] == list(range(8))
    losses = [loss for _, loss in curve]
    assert losses == model.loss_history
    # every CG step lowers its half-step's quadratic, so the objective never rises
    assert all(b <= a * (1 + 1e-6) for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.5 * losses[0]
    users = torch.arange(120)
    again = IALS(factors=8, regularization=1.0, alpha=5.0, iterations=8).fit(
        low_rank, None, FitContext(seed=7))
    assert torch.equal(model.score(users), again.score(users))
    other = IALS(factors=8, regularization=1.0, alpha=5.0, iterations=8).fit(
        low_rank, None, FitContext(seed=8))
    assert not torch.equal(model.user_factors, other.user_factors)
    assert not torch.equal(model.item_factors, other.item_factors)
    # the low-rank structure is found: held-in positives outrank the rest
    scores, x = model.score(users).numpy(), low_rank.toarray() > 0
    assert scores[x].mean() > scores[~x].mean() + 0.3


def test_set_history_folds_in_only_the_changed_users(low_rank):
    train = low_rank.tolil()
    cold = [3, 50]
    fold_in = sp.lil_matrix(train.shape, dtype=np.float32)
    for u in cold:
        fold_in[u] = train[u]
        train[u] = 0
    train, fold_in = train.tocsr(), fold_in.tocsr()
    model = IALS(factors=6, regularization=2.0, alpha=3.0, iterations=4).fit(
        train, None, FitContext(seed=0))
    before = model.user_factors.clone()
    model.set_history(train + fold_in)
    after = model.user_factors
    warm = np.setdiff1d(np.arange(train.shape[0]), cold)
    assert torch.equal(after[warm], before[warm])
    items = model.item_factors.numpy().astype(np.float64)
    expected = exact_rows(fold_in.toarray()[cold].astype(np.float64), items, 3.0, 2.0)
    np.testing.assert_allclose(after[cold].numpy(), expected, atol=1e-4)
    model.set_history(train)  # back to train: the trained factors again
    assert torch.equal(model.user_factors, before)


@pytest.mark.parametrize("kwargs,match", [
    ({"factors": 0}, "factors must be >= 1"), ({"regularization": -1.0}, "regularization must be >= 0"),
    ({"alpha": -0.5}, "alpha must be >= 0"), ({"iterations": 0}, "iterations must be >= 1"),
    ({"cg_steps": 0}, "cg_steps must be >= 1"), ({"init_std": 0.0}, "init_std must be > 0"),
    ({"dtype": "float16"}, "dtype must be one of"),
])
def test_bad_hyper_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        IALS(**kwargs)


def test_config_composes_and_builds():
    cfg = compose(["model=ials"])
    check_buildable(cfg)
    assert cfg.model.name == "ials" and cfg.model._target_ == "recbench.models.ials.IALS"


def test_ials_beats_mostpop_on_ml100k(store):
    assert main(["run", "-m", "model=mostpop,ials", *store["overrides"]]) == 0
    client, runs = runs_of(store["uri"])
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    mostpop, ials = (r.data for r in runs)
    assert ials.tags["model"] == "ials"
    assert ials.metrics["test_ndcg_10"] > mostpop.metrics["test_ndcg_10"] + 0.1
    assert ials.metrics["n_parameters"] == (943 + 1682) * 64
    curve = client.get_metric_history(runs[1].info.run_id, "train_loss")
    assert [m.step for m in curve] == list(range(15))
    assert curve[-1].value < curve[0].value
