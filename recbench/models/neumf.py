"""NeuMF (He, Liao, Zhang, Nie, Hu & Chua, WWW 2017): GMF and MLP branches fused by a linear
output layer, trained with binary cross-entropy on positives and sampled negatives."""

from __future__ import annotations

import scipy.sparse as sp
import torch
import torch.nn.functional as F

from recbench.models.bpr import PairBatches
from recbench.models.constraints import AT_LEAST_ONE, NON_NEGATIVE
from recbench.models.lightning import NeuralRecommender, RecModule
from recbench.models.optim import optimizer_spec
from recbench.models.sampling import SAMPLED_TRAINING

#: Scoring processes blocks of items so that a block's MLP activations hold at most this many
#: values (``users x items x width``): 2**24 float32 values = 64 MiB.
SCORE_BUDGET = 1 << 24


class NeuMFModule(RecModule):
    """GMF: ``p_u * q_i`` (``dim``); MLP: ``[p'_u, q'_i]`` (``layers[0]``, each embedding
    ``layers[0] / 2``) through ``Linear + ReLU`` layers ``layers[1:]``; logit =
    ``h^T [gmf, mlp] + b``."""

    def __init__(self, n_users: int, n_items: int, dim: int, layers: list[int],
                 reg: float):
        super().__init__()
        half = layers[0] // 2
        self.gmf_user = torch.nn.Embedding(n_users, dim)
        self.gmf_item = torch.nn.Embedding(n_items, dim)
        self.mlp_user = torch.nn.Embedding(n_users, half)
        self.mlp_item = torch.nn.Embedding(n_items, half)
        for emb in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
            torch.nn.init.normal_(emb.weight, std=0.01)  # as the authors' code
        self.mlp = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(layers, layers[1:]))
        self.out = torch.nn.Linear(dim + layers[-1], 1)
        self.dim, self.half, self.reg = dim, half, reg

    def mlp_tail(self, h: torch.Tensor) -> torch.Tensor:
        """ReLU after every layer after the first (whose pre-activation is given)."""
        h = F.relu(h)
        for layer in self.mlp[1:]:
            h = F.relu(layer(h))
        return h

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits of the pairs ``(users[k], items[k])``; broadcastable index tensors."""
        users, items = torch.broadcast_tensors(users, items)
        gmf = self.gmf_user(users) * self.gmf_item(items)
        mlp_in = torch.cat([self.mlp_user(users), self.mlp_item(items)], dim=-1)
        if len(self.mlp):
            mlp = self.mlp_tail(self.mlp[0](mlp_in))
        else:
            mlp = mlp_in
        return self.out(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        """``(B, n_items)`` logits, every item, vectorised over users x items.

        The GMF part is one matrix product; the first MLP layer splits into a user and an
        item term (``W [p, q] = W_p p + W_q q``) computed once each, and the rest of the MLP
        runs on ``(B, block, width)`` for item blocks bounded by :data:`SCORE_BUDGET`.
        """
        users = users.to(self.device)
        w_gmf, w_mlp = self.out.weight[0, :self.dim], self.out.weight[0, self.dim:]
        gmf = (self.gmf_user(users) * w_gmf) @ self.gmf_item.weight.T + self.out.bias
        if not len(self.mlp):
            return gmf + (self.mlp_user(users) @ w_mlp[:self.half])[:, None] \
                + (self.mlp_item.weight @ w_mlp[self.half:])[None, :]
        first = self.mlp[0]
        user_part = self.mlp_user(users) @ first.weight[:, :self.half].T + first.bias  # (B, h)
        item_part = self.mlp_item.weight @ first.weight[:, self.half:].T  # (I, h)
        width = max(layer.out_features for layer in self.mlp)
        n_items = item_part.shape[0]
        block = max(1, SCORE_BUDGET // max(1, len(users) * width))
        parts = []
        for start in range(0, n_items, block):
            h = self.mlp_tail(user_part[:, None, :] + item_part[None, start:start + block, :])
            parts.append(h @ w_mlp)
        return gmf + torch.cat(parts, dim=1)

    def batch_loss(self, batch):
        users, pos, neg = batch  # (B,), (B,), (B, n)
        items = torch.cat([pos[:, None], neg], dim=1)  # (B, 1 + n)
        logits = self(users[:, None], items)
        labels = torch.zeros_like(logits)
        labels[:, 0] = 1
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        if self.reg:
            u = users[:, None].expand_as(items)
            reg = (self.gmf_user(u).pow(2).sum(-1) + self.gmf_item(items).pow(2).sum(-1)
                   + self.mlp_user(u).pow(2).sum(-1) + self.mlp_item(items).pow(2).sum(-1))
            loss = loss + self.reg * reg.mean()
        return self.record_loss(loss)


class NeuMF(NeuralRecommender):
    """NeuMF trained from scratch (no GMF / MLP pre-training) with Adam and the pointwise
    log loss: each positive (label 1) comes with ``negatives`` sampled items (label 0).

    Args:
        dim: GMF embedding size (its predictive factors).
        layers: MLP widths as in the authors' code: ``layers[0]`` is the concatenated
            user + item embedding (``layers[0] / 2`` each, so even), then one ``Linear +
            ReLU`` per further entry; ``layers[-1]`` is the MLP's predictive factors.
        reg: L2 weight on the batch's embeddings (0: none, as the paper).
        batch_size: positives per step (each with its negatives).
        negatives: negatives drawn per positive (paper: 4).
        sampler: negative sampling distribution, ``"uniform"`` or ``"popularity"``.
        optimizer: shared optimizer settings ``{name, lr, weight_decay, momentum}``
            (:mod:`recbench.models.optim`; default Adam, lr 1e-3).
    """

    parameter_constraints = {"dim": AT_LEAST_ONE, "reg": NON_NEGATIVE, **SAMPLED_TRAINING}

    def __init__(self, dim: int = 16, layers: list[int] = (64, 32, 16),
                 reg: float = 0.0, batch_size: int = 1024, negatives: int = 4,
                 sampler: str = "uniform", optimizer: dict | None = None):
        layers = [int(w) for w in layers]
        self.check_params(locals())
        if not layers or any(w < 1 for w in layers) or layers[0] % 2:
            raise ValueError(f"NeuMF layers must be positive widths, the first even (user and "
                             f"item MLP embeddings of layers[0] / 2 each); got {layers}")
        self.dim, self.layers, self.reg = int(dim), layers, float(reg)
        self.optimizer = optimizer_spec(optimizer, lr=1e-3)
        self.batch_size, self.negatives, self.sampler = int(batch_size), int(negatives), sampler

    def build_module(self, n_users: int, n_items: int) -> NeuMFModule:
        return NeuMFModule(n_users, n_items, self.dim, self.layers, self.reg)

    def train_loader(self, train: sp.csr_matrix, generator: torch.Generator):
        batches = PairBatches(train, self.batch_size, generator, self.negatives, self.sampler)
        return torch.utils.data.DataLoader(batches, batch_size=None)
