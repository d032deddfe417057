"""DeepFM (Guo et al., IJCAI 2017): an FM and an MLP over the same field embeddings."""

from __future__ import annotations

import torch
from torch import nn

from recbench.models.ctr.estimator import MLPModel
from recbench.models.ctr.layers import MLP, CTRInputs, FieldEmbedding, fm_pairwise


class DeepFMNet(nn.Module):
    """``logit = FM(x) + MLP(concat_f e_f(x_f))``.

    Args:
        hidden: MLP widths (BARS' DeepFM defaults: [400, 400, 400]).
        dropout, batch_norm: of the MLP.
    """

    def __init__(self, embedding: FieldEmbedding, hidden: list[int] = (400, 400, 400),
                 dropout: float = 0.0, batch_norm: bool = False):
        super().__init__()
        self.embedding = embedding
        dim = embedding.table.embedding_dim
        self.mlp = MLP(embedding.n_fields * dim, list(hidden), dropout, batch_norm, out=1)

    def forward(self, x: CTRInputs) -> torch.Tensor:
        embedded = self.embedding(x)
        return (self.embedding.first_order(x) + fm_pairwise(embedded)
                + self.mlp(embedded.flatten(1)).squeeze(-1))


class DeepFM(MLPModel):
    """DeepFM (``model=deepfm``)."""

    def build_network(self, embedding: FieldEmbedding) -> nn.Module:
        return DeepFMNet(embedding, self.hidden, self.dropout, self.batch_norm)
