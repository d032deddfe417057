"""What every Lightning-trained (non-sequential) model promises: the same seed gives the
same scores on CPU, another seed different ones, and a run stopped and resumed from its
checkpoint ends exactly like an uninterrupted one (checkpoints load with weights_only=True).
Sequential models: tests/test_models_sequential.py."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbench.models.base import FitContext
from recbench.models.bpr import BPR
from recbench.models.lightgcn import LightGCN
from recbench.models.multivae import MultiVAE
from recbench.models.neumf import NeuMF
from recbench.models.simplex import SimpleX

MODELS = {
    "bpr": lambda: BPR(dim=8, batch_size=256, optimizer={"lr": 0.01}),
    "lightgcn": lambda: LightGCN(dim=8, n_layers=2, optimizer={"lr": 0.01}, batch_size=256),
    "simplex": lambda: SimpleX(dim=8, negatives=5, batch_size=256),
    "neumf": lambda: NeuMF(dim=4, layers=[8, 4], batch_size=64, optimizer={"lr": 0.01}),
    "multivae": lambda: MultiVAE(hidden=16, latent=8, batch_size=32, total_anneal_steps=20),
}


@pytest.fixture(scope="module")
def low_rank_split():
    """Binary matrix thresholded from a rank-4 score matrix, 120 users x 80 items, split
    into train / valid."""
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(120, 4)) @ rng.normal(size=(4, 80))
    full = (scores > np.quantile(scores, 0.85)) & (rng.random(scores.shape) < 0.9)
    held = full & (rng.random(scores.shape) < 0.2)
    return sp.csr_matrix(full & ~held, dtype=np.float32), sp.csr_matrix(held, dtype=np.float32)


#: parameter counts by hand (120 users x 80 items): weights + biases of each layer
N_PARAMETERS = {
    "multivae": (80 * 16 + 16) + (16 * 16 + 16) + (8 * 16 + 16) + (16 * 80 + 80),
    "neumf": (120 + 80) * (4 + 4) + (8 * 4 + 4) + (4 + 4 + 1),
}


def fit(name, data, seed, epochs=3, checkpoints=None, epochs_run=None):
    train, valid = data
    ctx = FitContext(seed=seed, trainer={"max_epochs": epochs, "progress_bar": False},
                     checkpoint_dir=checkpoints,
                     log=None if epochs_run is None else lambda v, step: epochs_run.append(step))
    return MODELS[name]().fit(train, valid, ctx)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_same_seed_gives_identical_scores(name, low_rank_split):
    users = torch.arange(120)
    first, second, other = (fit(name, low_rank_split, seed) for seed in (5, 5, 6))
    assert first.best_epoch == second.best_epoch
    assert torch.equal(first.score(users), second.score(users))
    assert not torch.equal(other.score(users), first.score(users))
    if name in N_PARAMETERS:
        assert first.n_parameters() == N_PARAMETERS[name]


@pytest.mark.parametrize("name", ["bpr", "multivae"])
def test_steps_per_lightning_call_do_not_change_training(name, low_rank_split, monkeypatch):
    """Several optimizer steps per training_step (StepGroups) run the same updates in the
    same order as one per call: identical weights, however the epoch's batches group."""
    from recbench.models import lightning

    users = torch.arange(120)
    scores = []
    for size in (1, 2, 16):
        monkeypatch.setattr(lightning, "STEPS_PER_CALL", size)
        scores.append(fit(name, low_rank_split, 4, epochs=2).score(users))
    assert torch.equal(scores[0], scores[1]) and torch.equal(scores[0], scores[2])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_resumed_training_ends_exactly_like_an_uninterrupted_one(name, low_rank_split, tmp_path):
    straight = fit(name, low_rank_split, 2, epochs=4)
    folder = str(tmp_path / "ckpt")
    fit(name, low_rank_split, 2, epochs=2, checkpoints=folder)  # "killed" after epoch 2
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)  # no pickles
    assert ckpt["epoch"] == 1 and "recbench" in ckpt
    assert not any("adjacency" in key for key in ckpt["state_dict"])  # rebuilt in fit
    epochs_run = []
    resumed = fit(name, low_rank_split, 2, epochs=4, checkpoints=folder, epochs_run=epochs_run)
    assert epochs_run == [2, 3]  # really resumed: only the missing epochs were trained
    assert resumed.best_epoch == straight.best_epoch
    assert torch.equal(resumed.score(torch.arange(120)), straight.score(torch.arange(120)))


def test_truncated_checkpoint_is_discarded_and_training_restarts(low_rank_split, tmp_path, caplog,
                                                                 monkeypatch):
    folder = tmp_path / "ckpt"
    fit("bpr", low_rank_split, 2, epochs=1, checkpoints=str(folder))
    last = folder / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # killed mid-write
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(k) or real_load(*a, **k))
    with caplog.at_level("WARNING"):
        restarted = fit("bpr", low_rank_split, 2, epochs=2, checkpoints=str(folder))
    assert loads and all(k.get("weights_only") is True for k in loads)  # never unpickled freely
    [record] = [r for r in caplog.records if "corrupt" in r.getMessage()]
    assert str(last) in record.getMessage() and "\n" not in record.getMessage()
    monkeypatch.undo()
    straight = fit("bpr", low_rank_split, 2, epochs=2)  # restarted from scratch: the same result
    assert restarted.epochs_trained == straight.epochs_trained == 2
    assert torch.equal(restarted.score(torch.arange(120)), straight.score(torch.arange(120)))
