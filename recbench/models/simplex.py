"""SimpleX (Mao et al., CIKM 2021): a two-tower model trained with the cosine contrastive loss.

The user tower mixes the user's own embedding with an aggregate of the user's history items
(behaviour aggregation, the paper's "mean pooling" variant with a learned linear map ``V``):

    h_u = g * p_u + (1 - g) * V mean_{i in H_u} q_i

with ``p`` the user embeddings, ``q`` the item embeddings and ``g`` = ``gamma``; the item
tower is ``q_i``. A score is the cosine similarity ``cos(h_u, q_i)``. Training minimises the
cosine contrastive loss (CCL) over each positive (u, i) and its sampled negatives N:

    (1 - cos(h_u, q_i)) + w / |N| * sum_{j in N} max(0, cos(h_u, q_j) - margin)

The history ``H_u`` is a row of a history matrix: train during fit (validation included), and
:attr:`Recommender.history` at scoring time, so ``set_history(train + fold_in)`` gives a cold
user a user vector through the history path (their own ``p_u`` was never trained) with no
refit. Every stored interaction counts once (binarised); the mean runs over the whole row (the
paper caps the history length only to pad fixed-size sequences, which a CSR row does not need),
and a positive's own item is part of its user's history in training, as at scoring time.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch.utils.data import IterableDataset

from recbench.models.bpr import PairBatches
from recbench.models.constraints import AT_LEAST_ONE, DROPOUT, FRACTION, NON_NEGATIVE, Interval
from recbench.models.lightning import NeuralRecommender, RecModule
from recbench.models.optim import optimizer_spec
from recbench.models.sampling import SAMPLED_TRAINING


def history_bags(history: sp.csr_matrix, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The users' history rows as ``embedding_bag`` input: ``(indices (nnz,), offsets (B,))``,
    both ``int64``; bag b holds the items of ``users[b]`` (explicit zeros dropped, duplicates
    merged, so each interacted item counts once). A user without history is an empty bag."""
    rows = history[users.cpu().numpy()]
    rows.sum_duplicates()
    rows.eliminate_zeros()
    return (torch.from_numpy(rows.indices.astype(np.int64)),
            torch.from_numpy(rows.indptr[:-1].astype(np.int64)))


def ccl_loss(pos_cos: torch.Tensor, neg_cos: torch.Tensor, margin: float,
             negative_weight: float) -> torch.Tensor:
    """Cosine contrastive loss averaged over the positives.

    Args:
        pos_cos: ``(B,)`` cosine of each user with its positive item.
        neg_cos: ``(B, n)`` cosine of each user with its n sampled negatives.
        margin: negatives below this cosine cost nothing.
        negative_weight: w, the weight of the mean negative term.

    Returns:
        ``mean_b [(1 - pos_cos_b) + w * mean_j relu(neg_cos_bj - margin)]``, a scalar.
    """
    return ((1 - pos_cos) + negative_weight * F.relu(neg_cos - margin).mean(1)).mean()


class HistoryPairBatches(IterableDataset):
    """:class:`~recbench.models.bpr.PairBatches` plus the history bags of the batch's users.

    Yields ``(users (B,), positives (B,), negatives (B, n), unique (U,), inverse (B,),
    bag_indices (nnz,), bag_offsets (U,))``, all ``int64``: ``unique`` are the batch's distinct
    users (``unique[inverse] == users``) and the bags their rows of ``history``
    (:func:`history_bags`), so each user's tower is computed once per batch.
    """

    def __init__(self, pairs: PairBatches, history: sp.csr_matrix):
        self.pairs, self.history = pairs, history

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self):
        for users, pos, neg in self.pairs:
            unique, inverse = torch.unique(users, return_inverse=True)
            yield (users, pos, neg, unique, inverse, *history_bags(self.history, unique))


class SimpleXModule(RecModule):
    """User and item embeddings ``(n_users, dim)`` / ``(n_items, dim)`` (normal init, std 0.1,
    as MFModule) and the aggregation map ``V`` (``dim x dim``, no bias).

    ``history`` is the matrix :meth:`score` reads (the train matrix during fit).
    """

    def __init__(self, n_users: int, n_items: int, dim: int, gamma: float, margin: float,
                 negative_weight: float, dropout: float, reg: float,
                 history: sp.csr_matrix | None = None):
        super().__init__()
        self.user_emb = torch.nn.Embedding(n_users, dim)
        self.item_emb = torch.nn.Embedding(n_items, dim)
        torch.nn.init.normal_(self.user_emb.weight, std=0.1)
        torch.nn.init.normal_(self.item_emb.weight, std=0.1)
        self.aggregate = torch.nn.Linear(dim, dim, bias=False)  # V
        self.drop = torch.nn.Dropout(dropout)
        self.gamma, self.margin, self.negative_weight = gamma, margin, negative_weight
        self.reg = reg
        self.history = history

    def user_tower(self, users: torch.Tensor, bag_indices: torch.Tensor,
                   bag_offsets: torch.Tensor) -> torch.Tensor:
        """``(B, dim)`` user vectors ``g * p_u + (1 - g) * V mean_{i in H_u} q_i`` (an empty
        history contributes 0), before dropout and normalisation; the bags are
        :func:`history_bags` of ``users``."""
        pooled = F.embedding_bag(bag_indices, self.item_emb.weight, bag_offsets, mode="mean")
        return self.gamma * self.user_emb(users) + (1 - self.gamma) * self.aggregate(pooled)

    def score_with(self, users: torch.Tensor, history: sp.csr_matrix) -> torch.Tensor:
        """``(B, n_items)`` cosine similarities of ``users`` (towers read ``history``) with
        every item."""
        indices, offsets = history_bags(history, users)
        device = self.device
        u = self.user_tower(users.to(device), indices.to(device), offsets.to(device))
        return F.normalize(u, dim=1) @ F.normalize(self.item_emb.weight, dim=1).T

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.score_with(users, self.history)

    def batch_loss(self, batch):
        users, pos, neg, unique, inverse, bag_indices, bag_offsets = batch
        # (B,), (B,), (B, n), (U,), (B,), (nnz,), (U,)
        towers = self.user_tower(unique, bag_indices, bag_offsets)  # (U, dim)
        u = F.normalize(self.drop(towers), dim=1)[inverse]  # (B, dim)
        items = F.normalize(self.item_emb.weight, dim=1)
        pos_cos = (u * items[pos]).sum(1)  # (B,)
        neg_cos = torch.bmm(items[neg], u[:, :, None]).squeeze(2)  # (B, n)
        loss = ccl_loss(pos_cos, neg_cos, self.margin, self.negative_weight)
        if self.reg:
            p, i, j = self.user_emb(users), self.item_emb(pos), self.item_emb(neg)
            loss = loss + self.reg * (p.pow(2).sum(1) + i.pow(2).sum(1)
                                      + j.pow(2).sum(2).mean(1)).mean()
        return self.record_loss(loss)


class SimpleX(NeuralRecommender):
    """SimpleX with sampled negatives and Adam: a user tower of the user's embedding mixed with
    the linearly mapped mean of its history items, cosine scores, the CCL loss.

    Scores read the *current* history rows (``set_history``'s fold-in included).

    Args:
        dim: embedding size.
        gamma: g, the weight of the user's own embedding in the user tower (paper: 0.5);
            1 gives matrix factorisation with cosine scores, 0 a pure item-based tower.
        margin: CCL margin; negatives with cosine below it are ignored (paper: tuned,
            e.g. 0.9).
        negative_weight: w, the weight of the mean hinge over the negatives.
        negatives: negatives drawn per positive (paper: hundreds to a thousand).
        dropout: dropout rate on the user vector in training (paper: 0.1).
        reg: L2 weight on the batch's user / positive / (mean) negative embeddings (cosine
            scores ignore norms; it only keeps them from growing).
        batch_size: positives per step.
        sampler: negative sampling distribution, ``"uniform"`` or ``"popularity"``.
        optimizer: shared optimizer settings ``{name, lr, weight_decay, momentum}``
            (:mod:`recbench.models.optim`; default Adam, lr 1e-2).

    Defaults (margin, negative_weight, negatives, batch_size, lr) were chosen on ml-100k's
    validation split; see ``configs/model/simplex.yaml``.
    """

    module: SimpleXModule

    parameter_constraints = {"dim": AT_LEAST_ONE, **SAMPLED_TRAINING, "reg": NON_NEGATIVE,
                             "negative_weight": NON_NEGATIVE, "gamma": FRACTION,
                             "margin": Interval(-1, 1, "left"),  # a cosine
                             "dropout": DROPOUT}

    def __init__(self, dim: int = 64, gamma: float = 0.5, margin: float = 0.2,
                 negative_weight: float = 10.0, negatives: int = 50, dropout: float = 0.1,
                 reg: float = 0.0, batch_size: int = 512, sampler: str = "uniform",
                 optimizer: dict | None = None):
        self.check_params(locals())
        self.dim, self.gamma, self.margin = int(dim), float(gamma), float(margin)
        self.negative_weight, self.negatives = float(negative_weight), int(negatives)
        self.dropout, self.reg, self.batch_size = float(dropout), float(reg), int(batch_size)
        self.sampler = sampler
        self.optimizer = optimizer_spec(optimizer, lr=1e-2)

    def build_module(self, n_users: int, n_items: int) -> SimpleXModule:
        # fit() has set self.history = train: validation during fit reads the train rows
        return SimpleXModule(n_users, n_items, self.dim, self.gamma, self.margin,
                             self.negative_weight, self.dropout, self.reg, history=self.history)

    def train_loader(self, train: sp.csr_matrix, generator: torch.Generator):
        pairs = PairBatches(train, self.batch_size, generator, self.negatives, self.sampler)
        return torch.utils.data.DataLoader(HistoryPairBatches(pairs, train), batch_size=None)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        """Scores from the *current* history rows (set_history's fold-in included)."""
        with torch.no_grad():
            return self.module.score_with(users, self.history)
