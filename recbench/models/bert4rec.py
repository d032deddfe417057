"""BERT4Rec (Sun et al., CIKM 2019): bidirectional self-attention trained by masked item
prediction (the Cloze task); a user is scored by appending the mask token to the history."""

from __future__ import annotations

import numpy as np
import torch

from recbench.models.sequential import (SequenceModule, SequentialRecommender, TransformerStack,
                                         check_heads)
from recbench.models.constraints import AT_LEAST_ONE, Interval


class BERT4RecModule(SequenceModule):
    """Item embeddings (+ mask token ``n_items + 1``) -> bidirectional
    :class:`TransformerStack`; output = tied item embeddings + per-item bias."""

    def __init__(self, n_items: int, dim: int, max_len: int, n_layers: int, n_heads: int,
                 dropout: float, loss: str, mask_prob: float):
        super().__init__(n_items, dim, max_len, loss, n_special=2)
        self.mask_token, self.mask_prob = n_items + 1, mask_prob
        self.stack = TransformerStack(dim, max_len, n_layers, n_heads, dropout, causal=False)
        self.bias = torch.nn.Parameter(torch.zeros(n_items))

    def encode(self, seq: torch.Tensor) -> torch.Tensor:
        return self.stack(self.item_emb(seq), seq, self.pad)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return super().logits(hidden) + self.bias

    def scoring_input(self, users: np.ndarray) -> np.ndarray:
        """The ``max_len - 1`` latest items, then the mask token."""
        latest = self.history.last(users, self.max_len - 1)
        return np.concatenate([latest, np.full((len(users), 1), self.mask_token)], axis=1)

    def batch_loss(self, batch):
        users, windows = batch  # (B,), (B, max_len)
        real = windows != self.pad
        masked = (torch.rand(windows.shape, generator=self.generator)
                  .to(windows.device) < self.mask_prob) & real
        # every window predicts at least one item: its latest, if nothing else was drawn
        masked[:, -1] |= ~masked.any(1) & real[:, -1]
        inputs = torch.where(masked, torch.full_like(windows, self.mask_token), windows)
        hidden = self.encode(inputs)[masked]
        return self.record_loss(self.target_loss(hidden, windows[masked],
                                                 users[:, None].expand_as(masked)[masked]))


class BERT4Rec(SequentialRecommender):
    """BERT4Rec trained on masked item prediction over non-overlapping windows.

    Args:
        n_layers, n_heads: Transformer blocks and heads (paper: 2, 2); heads divide ``dim``.
        mask_prob: share of items replaced by the mask token (paper: 0.6 on Beauty, 0.2
            on ML-1M).
        dim, max_len, dropout, batch_size, loss, negatives, sampler, optimizer: see
            :class:`~recbench.models.sequential.SequentialRecommender` (paper: dim 64,
            max_len 50 on Beauty, dropout 0.1, Adam lr 1e-4 for 400k steps).
    """

    window_extra = 0  # windows are max_len items; no input / target shift
    parameter_constraints = {**SequentialRecommender.parameter_constraints,
                             "max_len": Interval(2, None),  # one item masked, one seen
                             "n_layers": AT_LEAST_ONE, "n_heads": AT_LEAST_ONE,
                             "mask_prob": Interval(0, 1, "neither")}

    def __init__(self, dim: int = 64, max_len: int = 50, n_layers: int = 2, n_heads: int = 2,
                 dropout: float = 0.2, mask_prob: float = 0.4, batch_size: int = 128,
                 loss: str = "ce", negatives: int = 1, sampler: str = "uniform",
                 optimizer: dict | None = None):
        self.check_params(locals())
        check_heads("BERT4Rec", dim, n_heads)
        super().__init__(dim, max_len, dropout, batch_size, loss, negatives, sampler,
                         optimizer, lr=1e-3)
        self.n_layers, self.n_heads, self.mask_prob = int(n_layers), int(n_heads), float(mask_prob)

    def make_module(self, n_items: int) -> BERT4RecModule:
        return BERT4RecModule(n_items, self.dim, self.max_len, self.n_layers, self.n_heads,
                              self.dropout, self.loss, self.mask_prob)
