"""Factorization machine (Rendle, ICDM 2010): LR plus every pair of fields' inner product."""

from __future__ import annotations

import torch
from torch import nn

from recbench.models.ctr.estimator import CTRModel
from recbench.models.ctr.layers import CTRInputs, FieldEmbedding, fm_pairwise


class FMNet(nn.Module):
    """``logit = b + sum_f w_f(x_f) + sum_{f<g} <e_f(x_f), e_g(x_g)>``, the pairwise sum in
    O(F dim)."""

    def __init__(self, embedding: FieldEmbedding):
        super().__init__()
        self.embedding = embedding

    def forward(self, x: CTRInputs) -> torch.Tensor:
        return self.embedding.first_order(x) + fm_pairwise(self.embedding(x))


class FM(CTRModel):
    """Factorization machine (``model=fm``)."""

    def build_network(self, embedding: FieldEmbedding) -> nn.Module:
        return FMNet(embedding)
