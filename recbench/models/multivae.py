"""Mult-VAE (Liang, Krishnan, Hoffman & Jebara, WWW 2018): a variational autoencoder over a
user's item history with a multinomial likelihood and a linearly annealed KL weight.

The model encodes a whole interaction row, so it scores any user from that user's *history*
row (:attr:`Recommender.history`): under the cold-user protocol the runner's
``set_history(train + fold_in)`` is all a cold user needs, with no refit.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch.utils.data import IterableDataset

from recbench.models.constraints import AT_LEAST_ONE, DROPOUT, NON_NEGATIVE
from recbench.models.lightning import NeuralRecommender, RecModule
from recbench.models.optim import optimizer_spec
from recbench.models.sampling import shuffled_batches


def anneal_beta(step: int, total_anneal_steps: int, anneal_cap: float) -> float:
    """KL weight after ``step`` updates: ``min(anneal_cap, step / total_anneal_steps)``
    (``anneal_cap`` from the first update when ``total_anneal_steps`` is 0)."""
    if total_anneal_steps <= 0:
        return float(anneal_cap)
    return float(min(anneal_cap, step / total_anneal_steps))


def dense_rows(matrix: sp.csr_matrix, users: torch.Tensor) -> torch.Tensor:
    """``matrix[users]`` as a dense ``(B, n_items) float32`` tensor."""
    return torch.from_numpy(matrix[users.numpy()].toarray().astype(np.float32, copy=False))


class UserBatches(IterableDataset):
    """One epoch of shuffled user batches: yields ``(users (B,) int64, rows (B, n_items))``,
    the users' dense train rows. Users without train interactions are skipped (they carry no
    likelihood term). Deterministic given the generator's seed."""

    def __init__(self, train: sp.csr_matrix, batch_size: int, generator: torch.Generator):
        self.train, self.batch_size, self.generator = train, batch_size, generator
        self.users = torch.from_numpy(np.flatnonzero(np.diff(train.indptr) > 0).astype(np.int64))

    def __len__(self) -> int:
        return -(-len(self.users) // self.batch_size)

    def __iter__(self):
        for idx in shuffled_batches(len(self.users), self.batch_size, self.generator):
            users = self.users[idx]
            yield users, dense_rows(self.train, users)


class MultiVAEModule(RecModule):
    """Encoder ``n_items -> hidden -> 2 latent`` (mu, logvar), decoder
    ``latent -> hidden -> n_items``, tanh activations; dropout on the L2-normalised input.

    ``history`` is the matrix :meth:`score` reads (the train matrix during fit).
    """

    def __init__(self, n_items: int, hidden: int, latent: int, dropout: float,
                 anneal_cap: float, total_anneal_steps: int, history: sp.csr_matrix | None = None):
        super().__init__()
        self.latent = latent
        self.encoder = torch.nn.ModuleList([torch.nn.Linear(n_items, hidden),
                                            torch.nn.Linear(hidden, 2 * latent)])
        self.decoder = torch.nn.ModuleList([torch.nn.Linear(latent, hidden),
                                            torch.nn.Linear(hidden, n_items)])
        for layer in [*self.encoder, *self.decoder]:  # as the authors' code: Xavier, small bias
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.normal_(layer.bias, std=0.001)
        self.drop = torch.nn.Dropout(dropout)
        self.anneal_cap, self.total_anneal_steps = anneal_cap, total_anneal_steps
        self.history = history

    def encode(self, rows: torch.Tensor, dropout: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, n_items)`` rows -> ``(mu, logvar)``, each ``(B, latent)``; input dropout in
        training mode only, and only when ``dropout``."""
        h = F.normalize(rows, dim=1)
        if dropout:
            h = self.drop(h)
        h = torch.tanh(self.encoder[0](h))
        out = self.encoder[1](h)
        return out[:, :self.latent], out[:, self.latent:]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, latent) -> (B, n_items)`` logits."""
        return self.decoder[1](torch.tanh(self.decoder[0](z)))

    def forward(self, rows: torch.Tensor, eps: torch.Tensor | None = None):
        """``(logits, mu, logvar)``. In training mode ``z = mu + eps * std`` (``eps`` drawn
        from N(0, I) unless given); in eval mode ``z = mu``."""
        mu, logvar = self.encode(rows)
        z = mu
        if self.training:
            if eps is None:
                eps = torch.randn_like(mu)
            z = mu + eps * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar

    @staticmethod
    def loss(rows: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             beta: float) -> torch.Tensor:
        """Negative annealed ELBO, averaged over the batch:
        ``-mean_u sum_i x_ui log softmax(logits_u)_i + beta * mean_u KL(q(z|x_u) || N(0, I))``."""
        neg_ll = -(F.log_softmax(logits, dim=1) * rows).sum(1).mean()
        kl = (0.5 * (-logvar + logvar.exp() + mu.pow(2) - 1)).sum(1).mean()
        return neg_ll + beta * kl

    def beta(self) -> float:
        return anneal_beta(self.global_step, self.total_anneal_steps, self.anneal_cap)

    def score_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Decoder logits of ``z = mu(rows)`` (no dropout, no noise)."""
        mu, _ = self.encode(rows.to(self.device), dropout=False)
        return self.decode(mu)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.score_rows(dense_rows(self.history, users.cpu()))

    def batch_loss(self, batch):
        _, rows = batch
        logits, mu, logvar = self(rows)
        return self.record_loss(self.loss(rows, logits, mu, logvar, self.beta()))


class MultiVAE(NeuralRecommender):
    """Mult-VAE^PR with Adam. The score of user u is the decoder's logits for ``z = mu(x_u)``
    where ``x_u`` is u's history row (train, or train + fold-in for cold users).

    Args:
        hidden: width of the encoder / decoder hidden layer (paper: 600).
        latent: latent dimension (paper: 200).
        dropout: dropout rate on the normalised input (paper: 0.5).
        batch_size: users per update (paper: 500, for ML-20M; default 100 so that small data
            sets get more than a couple of updates per epoch).
        anneal_cap: largest KL weight beta (paper: 0.2).
        total_anneal_steps: number of *updates* (batches) over which beta grows linearly from
            0; beta = min(anneal_cap, updates / total_anneal_steps). The paper's 200000 suits
            ML-20M (~270 updates per epoch at batch 500); on ml-100k 100 epochs make 200-1000
            updates, so beta would stay ~0. Default 200 (cap reached after 40 updates), chosen
            on ml-100k's validation split (see ``configs/model/multivae.yaml``). 0: beta is
            ``anneal_cap`` from the start.
        optimizer: shared optimizer settings ``{name, lr, weight_decay, momentum}``
            (:mod:`recbench.models.optim`; default Adam, lr 1e-3 as the paper).
    """

    parameter_constraints = {"hidden": AT_LEAST_ONE, "latent": AT_LEAST_ONE,
                             "batch_size": AT_LEAST_ONE, "total_anneal_steps": NON_NEGATIVE,
                             "dropout": DROPOUT, "anneal_cap": NON_NEGATIVE}

    def __init__(self, hidden: int = 600, latent: int = 200, dropout: float = 0.5,
                 batch_size: int = 100, anneal_cap: float = 0.2,
                 total_anneal_steps: int = 200, optimizer: dict | None = None):
        self.check_params(locals())
        self.hidden, self.latent, self.dropout = int(hidden), int(latent), float(dropout)
        self.batch_size = int(batch_size)
        self.optimizer = optimizer_spec(optimizer, lr=1e-3)
        self.anneal_cap, self.total_anneal_steps = float(anneal_cap), int(total_anneal_steps)

    def build_module(self, n_users: int, n_items: int) -> MultiVAEModule:
        # fit() has set self.history = train: validation during fit encodes the train rows
        return MultiVAEModule(n_items, self.hidden, self.latent, self.dropout,
                              self.anneal_cap, self.total_anneal_steps, history=self.history)

    def train_loader(self, train: sp.csr_matrix, generator: torch.Generator):
        return torch.utils.data.DataLoader(UserBatches(train, self.batch_size, generator),
                                           batch_size=None)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        """Scores from the *current* history rows (set_history's fold-in included)."""
        with torch.no_grad():
            return self.module.score_rows(dense_rows(self.history, users.cpu()))
