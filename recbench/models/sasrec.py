"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention over the user's latest items."""

from __future__ import annotations

import torch

from recbench.models.sequential import (SequenceModule, SequentialRecommender, TransformerStack,
                                         check_heads)
from recbench.models.constraints import AT_LEAST_ONE


class SASRecModule(SequenceModule):
    """Item embeddings -> causal :class:`TransformerStack`; position t sees items <= t."""

    def __init__(self, n_items: int, dim: int, max_len: int, n_layers: int, n_heads: int,
                 dropout: float, loss: str):
        super().__init__(n_items, dim, max_len, loss)
        self.stack = TransformerStack(dim, max_len, n_layers, n_heads, dropout, causal=True)

    def encode(self, seq: torch.Tensor) -> torch.Tensor:
        return self.stack(self.item_emb(seq), seq, self.pad)


class SASRec(SequentialRecommender):
    """SASRec trained on next-item prediction at every position of each window.

    Args:
        n_layers: Transformer blocks (paper: 2).
        n_heads: attention heads (paper: 1); must divide ``dim``.
        dim, max_len, dropout, batch_size, loss, negatives, sampler, optimizer: see
            :class:`~recbench.models.sequential.SequentialRecommender` (paper: dim 50,
            max_len 50 on Amazon, dropout 0.5 on sparse data, loss bce with 1 negative,
            Adam lr 1e-3).
    """

    parameter_constraints = {**SequentialRecommender.parameter_constraints,
                             "n_layers": AT_LEAST_ONE, "n_heads": AT_LEAST_ONE}

    def __init__(self, dim: int = 64, max_len: int = 50, n_layers: int = 2, n_heads: int = 1,
                 dropout: float = 0.5, batch_size: int = 128, loss: str = "ce",
                 negatives: int = 1, sampler: str = "uniform", optimizer: dict | None = None):
        self.check_params(locals())
        check_heads("SASRec", dim, n_heads)
        super().__init__(dim, max_len, dropout, batch_size, loss, negatives, sampler,
                         optimizer, lr=1e-3)
        self.n_layers, self.n_heads = int(n_layers), int(n_heads)

    def make_module(self, n_items: int) -> SASRecModule:
        return SASRecModule(n_items, self.dim, self.max_len, self.n_layers, self.n_heads,
                            self.dropout, self.loss)
