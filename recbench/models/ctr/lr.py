"""Logistic regression: the first-order logit, the baseline every CTR table starts from."""

from __future__ import annotations

import torch
from torch import nn

from recbench.models.ctr.layers import CTRInputs, FieldEmbedding


class LRNet(nn.Module):
    """``logit = b + sum_f w_f(x_f)``."""

    def __init__(self, embedding: FieldEmbedding):
        super().__init__()
        self.embedding = embedding

    def forward(self, x: CTRInputs) -> torch.Tensor:
        return self.embedding.first_order(x)
