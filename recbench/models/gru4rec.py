"""GRU4Rec (Hidasi et al., ICLR 2016; session-parallel training replaced by the next-item
loss over user windows, as RecBole and Klenitskiy & Vasilev, RecSys 2023)."""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from recbench.models.constraints import AT_LEAST_ONE
from recbench.models.sequential import SequenceModule, SequentialRecommender


class GRU4RecModule(SequenceModule):
    """Item embeddings -> dropout -> GRU (``n_layers``, ``hidden`` units) -> linear to
    ``dim``. Padding is skipped (packed sequences), so a left-padded sequence gives the
    same states as the unpadded one."""

    def __init__(self, n_items: int, dim: int, max_len: int, hidden: int, n_layers: int,
                 dropout: float, loss: str):
        super().__init__(n_items, dim, max_len, loss)
        self.drop = torch.nn.Dropout(dropout)
        self.gru = torch.nn.GRU(dim, hidden, n_layers, batch_first=True)
        self.out = torch.nn.Linear(hidden, dim)

    def encode(self, seq: torch.Tensor) -> torch.Tensor:
        length = seq.shape[1]
        real = (seq != self.pad).sum(1)  # (B,)
        positions = torch.arange(length, device=seq.device)[None, :]
        shift = (length - real)[:, None]  # left padding -> right padding and back
        right = seq.gather(1, (positions + shift) % length)
        packed = pack_padded_sequence(self.drop(self.item_emb(right)), real.clamp(min=1).cpu(),
                                      batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True,
                                        total_length=length)
        index = ((positions - shift) % length)[..., None].expand(-1, -1, states.shape[2])
        return self.out(states.gather(1, index))


class GRU4Rec(SequentialRecommender):
    """GRU4Rec trained on next-item prediction at every position of each window.

    Args:
        hidden: GRU units (RecBole: 128).
        n_layers: stacked GRU layers (paper: 1).
        dim, max_len, dropout, batch_size, loss, negatives, sampler, optimizer: see
            :class:`~recbench.models.sequential.SequentialRecommender` (dropout on the
            item embeddings).
    """

    parameter_constraints = {**SequentialRecommender.parameter_constraints,
                             "hidden": AT_LEAST_ONE, "n_layers": AT_LEAST_ONE}

    def __init__(self, dim: int = 64, max_len: int = 50, hidden: int = 128, n_layers: int = 1,
                 dropout: float = 0.3, batch_size: int = 128, loss: str = "ce",
                 negatives: int = 1, sampler: str = "uniform", optimizer: dict | None = None):
        self.check_params(locals())
        super().__init__(dim, max_len, dropout, batch_size, loss, negatives, sampler,
                         optimizer, lr=1e-3)
        self.hidden, self.n_layers = int(hidden), int(n_layers)

    def make_module(self, n_items: int) -> GRU4RecModule:
        return GRU4RecModule(n_items, self.dim, self.max_len, self.hidden, self.n_layers,
                             self.dropout, self.loss)
