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
    """Logistic regression on every field (``model=lr``)."""

    def build_network(self, embedding: FieldEmbedding) -> nn.Module:
        return LRNet(embedding)
