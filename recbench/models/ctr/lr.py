"""Logistic regression: the first-order logit, the baseline every CTR table starts from."""

from __future__ import annotations

import torch
from torch import nn

from recbench.models.ctr.estimator import CTRModel
from recbench.models.ctr.layers import CTRInputs, FieldEmbedding


class LRNet(nn.Module):
    """``logit = b + sum_f w_f(x_f)``."""

    def __init__(self, embedding: FieldEmbedding):
        super().__init__()
        self.embedding = embedding

    def forward(self, x: CTRInputs) -> torch.Tensor:
        return self.embedding.first_order(x)


class LR(CTRModel):
    """Logistic regression on every field (``model=lr``): first-order weights only, so its
    embedding vectors have size 0 (no parameters counted that it does not use)."""

    def __init__(self, batch_size: int = 4096, optimizer: dict | None = None):
        super().__init__(1, batch_size, optimizer)
        self.dim = 0

    def build_network(self, embedding: FieldEmbedding) -> nn.Module:
        return LRNet(embedding)
