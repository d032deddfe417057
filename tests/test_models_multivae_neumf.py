"""Mult-VAE and NeuMF: losses / scores against hand-written references, determinism, fold-in,
configs, and a short ml-100k run against MostPop."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import recbench.models.neumf as neumf_mod
from recbench.config import check_buildable, compose
from recbench.models.base import FitContext
from recbench.models.mostpop import MostPop
from recbench.models.multivae import MultiVAE, MultiVAEModule, anneal_beta
from recbench.models.neumf import NeuMF, NeuMFModule
from tests.conftest import QUIET
from tests.conftest import ndcg_on_test



@pytest.fixture(scope="module")
def mostpop_ndcg(ml100k_split):
    return ndcg_on_test(MostPop().fit(ml100k_split.train), ml100k_split)


# --------------------------------------------------------------------------- Mult-VAE
def numpy_vae_loss(module: MultiVAEModule, x: np.ndarray, eps: np.ndarray, beta: float):
    """Mult-VAE negative annealed ELBO written out in numpy (float64), no dropout."""
    w = {k: v.detach().double().numpy() for k, v in module.state_dict().items()}
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    h = np.tanh(xn @ w["encoder.0.weight"].T + w["encoder.0.bias"])
    out = h @ w["encoder.1.weight"].T + w["encoder.1.bias"]
    mu, logvar = out[:, :module.latent], out[:, module.latent:]
    z = mu + eps * np.exp(0.5 * logvar)
    logits = np.tanh(z @ w["decoder.0.weight"].T + w["decoder.0.bias"]) \
        @ w["decoder.1.weight"].T + w["decoder.1.bias"]
    log_softmax = logits - logits.max(1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
    neg_ll = -(log_softmax * x).sum(1).mean()
    kl = np.mean([0.5 * np.sum(np.exp(lv) + m ** 2 - 1 - lv) for m, lv in zip(mu, logvar)])
    return neg_ll + beta * kl, logits, mu


@pytest.mark.parametrize("beta", [0.0, 0.35])
def test_vae_loss_matches_a_hand_written_elbo(beta):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = (rng.random((4, 9)) < 0.4).astype(np.float32)
    x[0, :2] = 1  # no empty rows
    module = MultiVAEModule(n_items=9, hidden=5, latent=3, dropout=0.0, anneal_cap=1.0,
                            total_anneal_steps=10)
    eps = rng.normal(size=(4, 3))
    module.train()
    rows = torch.from_numpy(x)
    logits, mu, logvar = module(rows, eps=torch.from_numpy(eps).float())
    loss = module.loss(rows, logits, mu, logvar, beta).detach()
    expected, expected_logits, expected_mu = numpy_vae_loss(module, x.astype(np.float64), eps, beta)
    np.testing.assert_allclose(logits.detach().numpy(), expected_logits, atol=1e-5)
    np.testing.assert_allclose(mu.detach().numpy(), expected_mu, atol=1e-5)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # the KL term is the closed form of KL(N(mu, sigma^2) || N(0, I))
    with torch.no_grad():
        q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
        kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1).mean()
        kl_term = (module.loss(rows, logits, mu, logvar, 1.0)
                   - module.loss(rows, logits, mu, logvar, 0.0))
        assert float(kl_term) == pytest.approx(float(kl), rel=1e-4)
    # scoring: eval mode, no dropout, z = mu; decoder logits of the row
    module.eval()
    with torch.no_grad():
        scores = module.score_rows(rows).numpy()
    _, mu_logits, _ = numpy_vae_loss(module, x.astype(np.float64), np.zeros((4, 3)), beta)
    np.testing.assert_allclose(scores, mu_logits, atol=1e-5)


def test_dropout_acts_in_training_only():
    torch.manual_seed(0)
    module = MultiVAEModule(n_items=20, hidden=8, latent=4, dropout=0.5, anneal_cap=0.2,
                            total_anneal_steps=10)
    rows = torch.ones(3, 20)
    module.train()
    a, b = module.encode(rows)[0], module.encode(rows)[0]
    assert not torch.equal(a, b)  # a fresh dropout mask each call
    module.eval()
    assert torch.equal(module.encode(rows)[0], module.encode(rows)[0])
    assert torch.equal(module.score_rows(rows), module.score_rows(rows))


def test_annealing_schedule(low_rank, monkeypatch):
    cap, total = 0.2, 40
    assert [anneal_beta(s, total, cap) for s in (0, 1, 4, 8, 9, 1000)] == \
        [0.0, 1 / 40, 4 / 40, 0.2, 0.2, 0.2]
    assert anneal_beta(0, 0, 0.3) == 0.3  # no annealing: the cap from the start
    assert anneal_beta(5, 10, 1.0) == 0.5
    # in training, beta follows the number of updates done so far (global_step)
    seen = []
    original = MultiVAEModule.beta

    def spy(self):
        seen.append((self.global_step, original(self)))
        return seen[-1][1]

    monkeypatch.setattr(MultiVAEModule, "beta", spy)
    MultiVAE(hidden=8, latent=4, batch_size=50, anneal_cap=cap, total_anneal_steps=4).fit(
        low_rank, None, FitContext(seed=0, trainer={**QUIET, "max_epochs": 3}))
    assert [s for s, _ in seen] == list(range(9))  # 120 users / 50 = 3 updates per epoch
    assert [b for _, b in seen] == [min(cap, s / 4) for s in range(9)]


def test_vae_scores_fold_in_histories_without_refitting(low_rank):
    train = low_rank.tolil()
    cold = [3, 50]
    fold_in = sp.lil_matrix(train.shape, dtype=np.float32)
    for u in cold:
        fold_in[u] = train[u]
        train[u] = 0
    train, fold_in = train.tocsr(), fold_in.tocsr()
    model = MultiVAE(hidden=16, latent=8, batch_size=32, total_anneal_steps=20).fit(
        train, None, FitContext(seed=0, trainer={**QUIET, "max_epochs": 3}))
    weights = {k: v.clone() for k, v in model.module.state_dict().items()}
    users = torch.arange(120)
    before = model.score(users)
    model.set_history(train + fold_in)
    after = model.score(users)
    warm = np.setdiff1d(np.arange(120), cold)
    assert torch.equal(after[warm], before[warm])
    assert not torch.isclose(after[cold], before[cold]).all(dim=1).any()
    # the cold users' scores are the decoder logits of their fold-in rows; nothing retrained
    rows = torch.from_numpy(fold_in[cold].toarray())
    with torch.no_grad():
        torch.testing.assert_close(after[cold], model.module.score_rows(rows))
    assert all(torch.equal(v, weights[k]) for k, v in model.module.state_dict().items())
    model.set_history(train)
    assert torch.equal(model.score(users), before)


def test_vae_beats_mostpop_on_ml100k(ml100k_split, mostpop_ndcg):
    s = ml100k_split
    model = MultiVAE().fit(  # defaults: 10 updates per epoch, beta at its cap after 4 epochs
        s.train, s.valid, FitContext(seed=0, trainer={**QUIET, "max_epochs": 5}))
    assert ndcg_on_test(model, s) > mostpop_ndcg + 0.03  # 0.211 vs 0.153


@pytest.mark.parametrize("kwargs,match", [
    ({"hidden": 0}, "hidden must be >= 1"), ({"latent": 0}, "latent must be >= 1"), ({"optimizer": {"lr": 0.0}}, "lr > 0"),
    ({"batch_size": 0}, "batch_size must be >= 1"), ({"total_anneal_steps": -1}, "total_anneal_steps"),
    ({"dropout": 1.0}, "dropout must be in"), ({"dropout": -0.1}, "dropout must be in"),
    ({"anneal_cap": -0.2}, "anneal_cap must be >= 0"),
])
def test_vae_bad_hyper_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiVAE(**kwargs)


# --------------------------------------------------------------------------- NeuMF
def numpy_neumf_logit(module: NeuMFModule, u: int, i: int) -> float:
    w = {k: v.detach().double().numpy() for k, v in module.state_dict().items()}
    gmf = w["gmf_user.weight"][u] * w["gmf_item.weight"][i]
    h = np.concatenate([w["mlp_user.weight"][u], w["mlp_item.weight"][i]])
    for k in range(len(module.mlp)):
        h = np.maximum(w[f"mlp.{k}.weight"] @ h + w[f"mlp.{k}.bias"], 0)
    return float(w["out.weight"][0] @ np.concatenate([gmf, h]) + w["out.bias"][0])


@pytest.mark.parametrize("layers", [[8, 6, 4], [6]])
@pytest.mark.parametrize("budget", [1 << 24, 7])  # one item block / many small blocks
def test_neumf_full_ranking_scores_equal_pairwise_logits(layers, budget, monkeypatch):
    monkeypatch.setattr(neumf_mod, "SCORE_BUDGET", budget)
    torch.manual_seed(0)
    module = NeuMFModule(n_users=7, n_items=11, dim=3, layers=layers, reg=0.0)
    for p in module.parameters():  # larger weights than the init, so ReLUs cut somewhere
        torch.nn.init.normal_(p, std=0.7)
    users = torch.tensor([5, 0, 3])
    with torch.no_grad():
        scores = module.score(users)
        assert scores.shape == (3, 11)
        pairwise = torch.stack([torch.stack([module(torch.tensor(u), torch.tensor(i))
                                             for i in range(11)]) for u in users.tolist()])
    torch.testing.assert_close(scores, pairwise, atol=1e-5, rtol=1e-5)
    for row, u in enumerate(users.tolist()):
        for i in (0, 4, 10):
            assert float(scores[row, i]) == pytest.approx(numpy_neumf_logit(module, u, i), abs=1e-5)


def test_neumf_batch_loss_is_bce_on_positives_and_negatives():
    torch.manual_seed(0)
    module = NeuMFModule(n_users=4, n_items=6, dim=2, layers=[4, 3], reg=0.0)
    users, pos, neg = torch.tensor([0, 2]), torch.tensor([1, 5]), torch.tensor([[0, 3], [2, 4]])
    loss = module.batch_loss((users, pos, neg)).detach()
    with torch.no_grad():
        p = torch.sigmoid(torch.stack([module(users, pos), *module(users[:, None], neg).T]))
    expected = -(torch.log(p[0]).sum() + torch.log(1 - p[1:]).sum()) / 6
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_neumf_beats_mostpop_on_ml100k(ml100k_split, mostpop_ndcg):
    s = ml100k_split
    model = NeuMF(optimizer={"lr": 0.01}, batch_size=2048).fit(
        s.train, s.valid, FitContext(seed=0, trainer={**QUIET, "max_epochs": 2}))
    assert ndcg_on_test(model, s) > mostpop_ndcg + 0.03  # 0.216 vs 0.153


@pytest.mark.parametrize("kwargs,match", [
    ({"dim": 0}, "dim must be >= 1"), ({"optimizer": {"lr": -1.0}}, "lr > 0"), ({"reg": -1.0}, "reg must be >= 0"),
    ({"batch_size": 0}, "batch_size must be >= 1"), ({"negatives": 0}, "negatives must be >= 1"),
    ({"layers": []}, "layers must be"), ({"layers": [7, 4]}, "the first even"),
    ({"layers": [8, 0]}, "layers must be"), ({"sampler": "zipf"}, "must be one of"),
])
def test_neumf_bad_hyper_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NeuMF(**kwargs)


# --------------------------------------------------------------------------- configs
@pytest.mark.parametrize("name,cls", [("multivae", "recbench.models.multivae.MultiVAE"),
                                      ("neumf", "recbench.models.neumf.NeuMF")])
def test_configs_compose_and_build(name, cls):
    cfg = compose([f"model={name}"])
    check_buildable(cfg)
    assert cfg.model.name == name and cfg.model._target_ == cls
    search = compose([f"hparams_search={name}"], hydra_config=True)
    assert search.model.name == name
    assert set(search.hydra.sweeper.params) == {
        "multivae": {"model.optimizer.lr", "model.dropout", "model.anneal_cap"},
        "neumf": {"model.optimizer.lr", "model.dim", "model.negatives"}}[name]
