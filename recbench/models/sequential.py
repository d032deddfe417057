"""What GRU4Rec, SASRec and BERT4Rec share: sequence windows, the next-item loss, scoring
from each user's most recent items, and a padding-aware Transformer encoder.

Sequences are left-padded with the padding index ``n_items`` (one past the last item), so
the latest item is always the last position. A model's encoder maps ``(B, L)`` item
indices to ``(B, L, dim)`` hidden states; the hidden state at position t scores the item at
t + 1 by a dot product with the (shared) item embeddings. Training uses the full softmax
over all items (``loss="ce"``, as RecBole and Klenitskiy & Vasilev, RecSys 2023) or binary
cross-entropy against ``negatives`` sampled items (``loss="bce"``, as the SASRec paper),
drawn by the shared :class:`~recbench.models.sampling.NegativeSampler`.
"""

from __future__ import annotations

import math
from abc import abstractmethod

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch.utils.data import IterableDataset

from recbench.data.sequences import Sequences
from recbench.errors import RecbenchError
from recbench.models.constraints import AT_LEAST_ONE, DROPOUT, OneOf, ParameterError
from recbench.models.lightning import NeuralRecommender, RecModule
from recbench.models.optim import optimizer_spec
from recbench.models.sampling import SAMPLED_TRAINING, NegativeSampler, shuffled_batches

LOSSES = ("ce", "bce")


class WindowBatches(IterableDataset):
    """One epoch of shuffled sequence windows: yields ``(users (B,), windows (B, length))``
    ``int64``; deterministic given the generator's seed."""

    def __init__(self, windows: np.ndarray, users: np.ndarray, batch_size: int,
                 generator: torch.Generator):
        self.windows, self.users = torch.from_numpy(windows), torch.from_numpy(users)
        self.batch_size, self.generator = batch_size, generator

    def __len__(self) -> int:
        return -(-len(self.users) // self.batch_size)

    def __iter__(self):
        for idx in shuffled_batches(len(self.users), self.batch_size, self.generator):
            yield self.users[idx], self.windows[idx]


def attention_mask(seq: torch.Tensor, pad: int, causal: bool, n_heads: int) -> torch.Tensor:
    """``(B * n_heads, L, L) bool`` mask, True where query i may *not* attend to key j:
    padding keys (except a padding query's own position, so no row is empty) and, when
    ``causal``, every later position j > i."""
    length = seq.shape[1]
    blocked = (seq == pad)[:, None, :].expand(-1, length, -1)  # (B, L, L): key is padding
    blocked = blocked & ~torch.eye(length, dtype=torch.bool, device=seq.device)
    if causal:
        blocked = blocked | torch.ones(length, length, dtype=torch.bool,
                                       device=seq.device).triu(1)
    return blocked.repeat_interleave(n_heads, dim=0)


class TransformerStack(torch.nn.Module):
    """Item + position embeddings, ``n_layers`` pre-LayerNorm Transformer blocks, final
    LayerNorm. Positions are counted from the end (the latest item is position
    ``max_len - 1``), so left padding never shifts them."""

    def __init__(self, dim: int, max_len: int, n_layers: int, n_heads: int, dropout: float,
                 causal: bool):
        super().__init__()
        self.position = torch.nn.Embedding(max_len, dim)
        layer = torch.nn.TransformerEncoderLayer(dim, n_heads, dim_feedforward=4 * dim,
                                                 dropout=dropout, activation="gelu",
                                                 batch_first=True, norm_first=True)
        self.blocks = torch.nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(dim)
        self.drop = torch.nn.Dropout(dropout)
        self.dim, self.max_len, self.n_heads, self.causal = dim, max_len, n_heads, causal

    def forward(self, embedded: torch.Tensor, seq: torch.Tensor, pad: int) -> torch.Tensor:
        """``(B, L, dim)`` item embeddings of ``seq (B, L)`` -> ``(B, L, dim)`` states."""
        length = seq.shape[1]
        if length > self.max_len:
            raise ValueError(f"sequence length {length} > max_len {self.max_len}")
        x = embedded * math.sqrt(self.dim) + self.position.weight[self.max_len - length:]
        x = self.drop(x) * (seq != pad)[..., None]
        mask = attention_mask(seq, pad, self.causal, self.n_heads)
        return self.norm(self.blocks(x, mask=mask))


class SequenceModule(RecModule):
    """Item embeddings ``(n_items + n_special, dim)`` (row ``n_items`` is padding; BERT4Rec
    adds a mask token) and the shared next-item losses; subclasses define :meth:`encode`.

    ``history`` holds the sequences :meth:`score` reads (train during fit; the runner sets
    train + valid before testing).
    """

    def __init__(self, n_items: int, dim: int, max_len: int, loss: str = "ce",
                 n_special: int = 1):
        super().__init__()
        self.n_items, self.dim, self.max_len, self.loss_name = n_items, dim, max_len, loss
        self.pad = n_items
        self.item_emb = torch.nn.Embedding(n_items + n_special, dim, padding_idx=n_items)
        torch.nn.init.normal_(self.item_emb.weight, std=0.02)
        with torch.no_grad():
            self.item_emb.weight[n_items].zero_()
        self.history: Sequences | None = None
        self.sampler: NegativeSampler | None = None  # loss="bce" only
        self.negatives = 1

    @abstractmethod
    def encode(self, seq: torch.Tensor) -> torch.Tensor:
        """``(B, L) int64`` left-padded items -> ``(B, L, dim)``; position t must depend
        only on what the model is allowed to see (causal models: items up to t)."""

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(..., dim)`` -> ``(..., n_items)`` scores of every item."""
        return hidden @ self.item_emb.weight[:self.n_items].T

    def scoring_input(self, users: np.ndarray) -> np.ndarray:
        """``(B, max_len)``: each user's ``max_len`` latest items, left-padded."""
        return self.history.last(users, self.max_len)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        seq = torch.from_numpy(self.scoring_input(users.cpu().numpy())).to(self.device)
        return self.logits(self.encode(seq)[:, -1])

    def batch_loss(self, batch):
        users, windows = batch  # (B,), (B, max_len + 1)
        inputs, targets = windows[:, :-1], windows[:, 1:]
        keep = (inputs != self.pad) & (targets != self.pad)  # (B, max_len)
        hidden = self.encode(inputs)[keep]  # (n, dim): states that predict a real item
        return self.record_loss(self.target_loss(hidden, targets[keep],
                                                 users[:, None].expand_as(keep)[keep]))

    def target_loss(self, hidden: torch.Tensor, targets: torch.Tensor,
                    users: torch.Tensor) -> torch.Tensor:
        """Mean loss of ``(n, dim)`` states predicting ``(n,)`` items of ``(n,)`` users."""
        if self.loss_name == "ce":
            return F.cross_entropy(self.logits(hidden), targets)
        negatives = self.sampler.sample(users.cpu(), self.negatives).to(hidden.device)
        pos = (hidden * self.item_emb(targets)).sum(-1)  # (n,)
        neg = (hidden[:, None, :] * self.item_emb(negatives)).sum(-1)  # (n, negatives)
        return -(F.logsigmoid(pos).mean() + F.logsigmoid(-neg).mean(1).mean())


def check_heads(model: str, dim: int, n_heads: int) -> None:
    """Attention heads split the embedding: ``n_heads`` must divide ``dim`` (a rule tying two
    arguments, so not a declared range)."""
    if dim % n_heads:
        raise ParameterError(f"{model} n_heads must divide dim, got n_heads={n_heads}, "
                             f"dim={dim}")


class SequentialRecommender(NeuralRecommender):
    """Base of the sequential models: reads ``ctx.sequences`` in fit and the sequences of
    :meth:`set_sequences` when scoring.

    Args:
        dim: item embedding size.
        max_len: most recent items a user is represented by (longer histories are cut
            into windows for training).
        dropout: dropout rate.
        batch_size: windows per step.
        loss: ``"ce"`` (softmax over all items) or ``"bce"`` (sampled negatives).
        negatives, sampler: for ``loss="bce"``: negatives per target and their distribution.
        optimizer: shared optimizer settings (:mod:`recbench.models.optim`).
    """

    uses_sequences = True
    module: SequenceModule
    #: windows of ``max_len + window_extra`` items every ``max_len`` items (1: input+target)
    window_extra = 1

    parameter_constraints = {"dim": AT_LEAST_ONE, "max_len": AT_LEAST_ONE, **SAMPLED_TRAINING,
                             "dropout": DROPOUT, "loss": OneOf(LOSSES)}

    def __init__(self, dim: int, max_len: int, dropout: float, batch_size: int, loss: str,
                 negatives: int, sampler: str, optimizer: dict | None, lr: float):
        self.check_params(locals(), SequentialRecommender.parameter_constraints)
        self.dim, self.max_len, self.dropout = int(dim), int(max_len), float(dropout)
        self.batch_size, self.loss, self.negatives, self.sampler = (int(batch_size), loss,
                                                                    int(negatives), sampler)
        self.optimizer = optimizer_spec(optimizer, lr=lr)
        self.sequences: Sequences | None = None

    @abstractmethod
    def make_module(self, n_items: int) -> SequenceModule:
        """The model's SequenceModule (called inside fit, after seeding)."""

    def _fit(self, train, valid, ctx) -> None:
        if ctx.sequences is None:
            raise RecbenchError(f"{type(self).__name__} is sequential: pass the train "
                                f"sequences as FitContext(sequences=split.sequences(TRAIN)) "
                                f"(recbench run does this).")
        self._check(ctx.sequences)
        self.sequences = ctx.sequences
        super()._fit(train, valid, ctx)

    def build_module(self, n_users: int, n_items: int) -> SequenceModule:
        module = self.make_module(n_items)
        module.history = self.sequences
        module.negatives = self.negatives
        return module

    def train_loader(self, train: sp.csr_matrix, generator: torch.Generator):
        windows, users = self.sequences.windows(self.max_len + self.window_extra, self.max_len)
        if not len(users):
            raise RecbenchError(f"{type(self).__name__}: no user has a train sequence long "
                                f"enough to learn from.")
        if self.loss == "bce":
            self.module.sampler = NegativeSampler(train, generator, self.sampler)
        return torch.utils.data.DataLoader(
            WindowBatches(windows, users, self.batch_size, generator), batch_size=None)

    def set_sequences(self, sequences: Sequences) -> None:
        """Score from these sequences from now on (e.g. train + valid before testing)."""
        self._check(sequences)
        self.sequences = self.module.history = sequences

    def _check(self, sequences: Sequences) -> None:
        if (sequences.n_users, sequences.n_items) != (self.n_users, self.n_items):
            raise ValueError(f"sequences are for {sequences.n_users} users x "
                             f"{sequences.n_items} items, the model for {self.n_users} x "
                             f"{self.n_items}")
