"""The GPU path (issue 18): a model trained on a GPU is evaluated there, and only the
``(chunk, K)`` item ids leave the device. Needs CUDA: ``make test-gpu`` runs this file on a
GPU machine; everywhere else the ``gpu`` marker deselects it (pyproject's addopts), and asked
for explicitly without a GPU it fails rather than skips."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbench.config import build, compose
from recbench.evaluation.ranker import evaluate, ranked_chunks, seen_matrix
from recbench.evaluation.sampled import FreeItems, SampledRanking, draw_candidates
from recbench.models.base import FitContext
from tests.test_ranker import Transfers

pytestmark = pytest.mark.gpu

N_USERS, N_ITEMS = 400, 700
METRICS = ["ndcg@10", "recall@20", "mrr@10"]


@pytest.fixture(scope="module")
def data():
    if not torch.cuda.is_available():
        pytest.fail("the gpu tests need a CUDA GPU (torch.cuda.is_available() is False)")
    rng = np.random.default_rng(0)
    dense = rng.random((N_USERS, N_ITEMS)) < 0.05
    test = dense & (rng.random(dense.shape) < 0.2)
    train = sp.csr_matrix(dense & ~test, dtype=np.float32)
    return train, sp.csr_matrix(test, dtype=np.float32)


def fit(name: str, train: sp.csr_matrix, accelerator: str):
    model = build(compose([f"model={name}"]), "model")
    model.fit(train, None, FitContext(seed=0, trainer={
        "max_epochs": 2, "progress_bar": False, "accelerator": accelerator}))
    return model


@pytest.mark.parametrize("name", ["bpr", "lightgcn"])
def test_a_model_trained_on_the_gpu_is_evaluated_there(data, name):
    train, test = data
    model = fit(name, train, "gpu")
    assert next(model.module.parameters()).device.type == "cuda"
    assert model.score(torch.arange(4)).device.type == "cuda"
    with Transfers() as transfers:
        users, on_gpu = evaluate(model.score, test, [train], METRICS, chunk_size=64)
    # only (B, K) lists (K = 20, the largest) leave the device; nothing n_items wide moves
    assert transfers.moved and all(shape[-1] != N_ITEMS for shape in transfers.moved)
    model.module.cpu()  # the same weights, ranked on the CPU
    users_cpu, on_cpu = evaluate(model.score, test, [train], METRICS, chunk_size=64)
    assert np.array_equal(users, users_cpu)
    for metric in METRICS:  # GEMMs differ in the last bits: a near-tie may swap
        assert np.mean(on_gpu[metric] == on_cpu[metric]) > 0.97
        assert abs(on_gpu[metric].mean() - on_cpu[metric].mean()) < 5e-3


def test_sampled_ranks_on_the_gpu_equal_the_cpu_ones(data):
    train, test = data
    rng = np.random.default_rng(1)
    table = torch.from_numpy(rng.integers(0, 6, (N_USERS, N_ITEMS)).astype(np.float32))
    interacted = sp.csr_matrix(((train + test) > 0).astype(np.float32))
    candidates = [draw_candidates(interacted, SampledRanking(50, "uniform"), 0, "0" * 64),
                  FreeItems.of(interacted)]
    seen = seen_matrix(train.shape, [train])

    def ranks(device: str):
        scores = table.to(device)  # integer scores: ties everywhere, exact paths on both
        chunks = list(ranked_chunks(lambda users: scores[users.to(device)], test, seen, 10,
                                    chunk_size=64, candidates=candidates))
        return ([c.items for c in chunks],
                [[s.ranks for s in c.sampled] for c in chunks])

    with Transfers() as transfers:
        gpu_items, gpu_ranks = ranks("cuda")
    assert all(shape[-1] != N_ITEMS for shape in transfers.moved[1:])  # [0]: the table
    cpu_items, cpu_ranks = ranks("cpu")
    assert all(torch.equal(a, b) for a, b in zip(gpu_items, cpu_items))
    assert all(torch.equal(a, b) for ga, ca in zip(gpu_ranks, cpu_ranks)
               for a, b in zip(ga, ca))
