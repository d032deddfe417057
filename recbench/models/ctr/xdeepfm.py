"""xDeepFM (Lian et al., KDD 2018): LR, a Compressed Interaction Network (explicit,
vector-wise crosses) and an MLP over the same field embeddings."""

from __future__ import annotations

import torch
from torch import nn

from recbench.models.ctr.estimator import MLPModel
from recbench.models.ctr.layers import MLP, CTRInputs, FieldEmbedding


class CIN(nn.Module):
    """``X^k[h] = sum_{i,j} W^k[h, i, j] (X^{k-1}[i] * X^0[j]) + b^k[h]`` (element-wise products
    of field vectors, compressed to ``layers[k]`` maps); the output is every layer's maps
    summed over the embedding dimension, ``(B, sum(layers))``."""

    def __init__(self, n_fields: int, layers: list[int]):
        super().__init__()
        previous, convs = n_fields, []
        for width in layers:
            convs.append(nn.Conv1d(previous * n_fields, width, kernel_size=1))
            previous = width
        self.convs = nn.ModuleList(convs)
        self.out_dim = sum(layers)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        b, _, dim = x0.shape
        x, pooled = x0, []
        for conv in self.convs:
            z = torch.einsum("bhd,bmd->bhmd", x, x0).reshape(b, -1, dim)
            x = conv(z)  # no activation: the paper's CIN (and FuxiCTR's) is linear per layer
            pooled.append(x.sum(-1))
        return torch.cat(pooled, dim=1)


class XDeepFMNet(nn.Module):
    """``logit = LR(x) + Linear(CIN(E)) + MLP(concat E)``.

    Args:
        cin: maps per CIN layer (BARS: [16, 16] to [256, 256]).
        hidden, dropout, batch_norm: the MLP ([] for none).
    """

    def __init__(self, embedding: FieldEmbedding, cin: list[int] = (16, 16),
                 hidden: list[int] = (400, 400, 400), dropout: float = 0.0,
                 batch_norm: bool = False):
        super().__init__()
        self.embedding = embedding
        dim = embedding.table.embedding_dim
        self.cin = CIN(embedding.n_fields, list(cin))
        self.cin_out = nn.Linear(self.cin.out_dim, 1)
        self.mlp = MLP(embedding.n_fields * dim, list(hidden), dropout, batch_norm, out=1) \
            if hidden else None

    def forward(self, x: CTRInputs) -> torch.Tensor:
        embedded = self.embedding(x)
        logit = self.embedding.first_order(x) + self.cin_out(self.cin(embedded)).squeeze(-1)
        if self.mlp is not None:
            logit = logit + self.mlp(embedded.flatten(1)).squeeze(-1)
        return logit


class XDeepFM(MLPModel):
    """xDeepFM (``model=xdeepfm``); ``cin``: maps per CIN layer."""

    def __init__(self, cin: list[int] = (16, 16), hidden: list[int] = (400, 400, 400),
                 dropout: float = 0.0, batch_norm: bool = False, dim: int = 10,
                 batch_size: int = 4096, optimizer: dict | None = None):
        super().__init__(hidden, dropout, batch_norm, dim, batch_size, optimizer)
        if not cin or any(int(c) < 1 for c in cin):
            raise ValueError(f"XDeepFM cin must list widths >= 1, got {cin}")
        self.cin = [int(c) for c in cin]

    def build_network(self, embedding: FieldEmbedding) -> nn.Module:
        return XDeepFMNet(embedding, self.cin, self.hidden, self.dropout, self.batch_norm)
