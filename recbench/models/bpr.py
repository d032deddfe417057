"""MF-BPR (Rendle et al., UAI 2009): matrix factorisation trained with the BPR pairwise loss."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch.utils.data import IterableDataset

from recbench.models.constraints import AT_LEAST_ONE, NON_NEGATIVE
from recbench.models.lightning import NeuralRecommender, RecModule
from recbench.models.optim import optimizer_spec
from recbench.models.sampling import SAMPLED_TRAINING, NegativeSampler


#: positives whose negatives are drawn at once (memory: 8 x negatives bytes each)
DRAW_BLOCK = 1 << 21


class PairBatches(IterableDataset):
    """One epoch of shuffled (user, positive, negatives) batches.

    Yields ``(users, positives, negatives)``: ``(B,)``, ``(B,)`` and ``(B, n_negatives)``
    ``int64`` with ``B = batch_size`` (the last batch may be shorter), negatives drawn by a
    :class:`NegativeSampler` (``distribution``). Deterministic given the generator's seed.

    The shuffle and the negatives are drawn for :data:`DRAW_BLOCK` positives at a time (the
    whole epoch of most data sets) in a few vectorised calls, not batch by batch: per-batch
    draws cost more than the batch's forward pass on small embeddings.
    """

    def __init__(self, train: sp.csr_matrix, batch_size: int, generator: torch.Generator,
                 n_negatives: int = 1, distribution: str = "uniform"):
        coo = train.tocoo()
        self.users = torch.from_numpy(coo.row.astype(np.int64))
        self.items = torch.from_numpy(coo.col.astype(np.int64))
        self.batch_size, self.generator, self.n_negatives = batch_size, generator, n_negatives
        self.sampler = NegativeSampler(train, generator, distribution)

    def __len__(self) -> int:
        return -(-len(self.users) // self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.users), generator=self.generator)
        step = max(1, DRAW_BLOCK // self.batch_size) * self.batch_size  # whole batches
        for block in order.split(step):
            users, items = self.users[block], self.items[block]
            negatives = self.sampler.sample(users, self.n_negatives)
            yield from zip(users.split(self.batch_size), items.split(self.batch_size),
                           negatives.split(self.batch_size))


class MFModule(RecModule):
    """User and item embeddings ``(n, dim)``; score = dot product."""

    def __init__(self, n_users: int, n_items: int, dim: int, reg: float):
        super().__init__()
        self.user_emb = torch.nn.Embedding(n_users, dim)
        self.item_emb = torch.nn.Embedding(n_items, dim)
        torch.nn.init.normal_(self.user_emb.weight, std=0.1)
        torch.nn.init.normal_(self.item_emb.weight, std=0.1)
        self.reg = reg

    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        return torch.mm(self.user_emb(users.to(self.device)), self.item_emb.weight.T, out=out)

    def batch_loss(self, batch):
        users, pos, neg = batch  # (B,), (B,), (B, n)
        u, i, j = self.user_emb(users), self.item_emb(pos), self.item_emb(neg)
        diff = (u * i).sum(1, keepdim=True) - (u[:, None, :] * j).sum(2)  # (B, n)
        reg = (u.pow(2).sum(1) + i.pow(2).sum(1) + j.pow(2).sum(2).mean(1)).mean()
        return self.record_loss(-F.logsigmoid(diff).mean() + self.reg * reg)


class BPR(NeuralRecommender):
    """MF-BPR with sampled negatives and Adam; the loss averages ``-log sigmoid(s_ui - s_uj)``
    over the ``negatives`` items j drawn per positive.

    Args:
        dim: embedding size.
        reg: L2 weight on the batch's user / positive / (mean) negative embeddings.
        batch_size: positives per step.
        negatives: negatives drawn per positive.
        sampler: negative sampling distribution, ``"uniform"`` or ``"popularity"``.
        optimizer: shared optimizer settings ``{name, lr, weight_decay, momentum}``
            (:mod:`recbench.models.optim`; default Adam, lr 1e-3).
    """

    parameter_constraints = {"dim": AT_LEAST_ONE, "reg": NON_NEGATIVE, **SAMPLED_TRAINING}

    def __init__(self, dim: int = 64, reg: float = 1e-4, batch_size: int = 2048,
                 negatives: int = 1, sampler: str = "uniform", optimizer: dict | None = None):
        self.check_params(locals())
        self.dim, self.reg, self.batch_size = int(dim), float(reg), int(batch_size)
        self.optimizer = optimizer_spec(optimizer, lr=1e-3)
        self.negatives, self.sampler = int(negatives), sampler

    def build_module(self, n_users: int, n_items: int) -> MFModule:
        return MFModule(n_users, n_items, self.dim, self.reg)

    def train_loader(self, train: sp.csr_matrix, generator: torch.Generator):
        batches = PairBatches(train, self.batch_size, generator, self.negatives, self.sampler)
        return torch.utils.data.DataLoader(batches, batch_size=None)
