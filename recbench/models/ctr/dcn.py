"""Deep & Cross Network (Wang et al., ADKDD 2017) and DCN-V2 (Wang et al., WWW 2021):
explicit feature crosses of bounded degree beside an MLP, over the concatenated field
embeddings ``x0`` (``(B, F dim)``)."""

from __future__ import annotations

import torch
from torch import nn

from recbench.models.constraints import AT_LEAST_ONE, check_params
from recbench.models.ctr.estimator import MLPModel
from recbench.models.ctr.layers import MLP, CTRInputs, FieldEmbedding


class CrossLayer(nn.Module):
    """DCN: ``x_{l+1} = x0 * (x_l . w) + b + x_l`` (a rank-one cross per layer)."""

    def __init__(self, width: int):
        super().__init__()
        self.w = nn.Parameter(torch.empty(width))
        nn.init.xavier_normal_(self.w.view(1, -1))  # as FuxiCTR's Linear(width, 1)
        self.b = nn.Parameter(torch.zeros(width))

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x0 * (x @ self.w).unsqueeze(-1) + self.b + x


class CrossLayerV2(nn.Module):
    """DCN-V2: ``x_{l+1} = x0 * (W x_l + b) + x_l`` (a full-rank cross per layer)."""

    def __init__(self, width: int):
        super().__init__()
        self.linear = nn.Linear(width, width)

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x0 * self.linear(x) + x


class DCNNet(nn.Module):
    """``logit = Linear([cross^L(x0), MLP(x0)])`` (parallel structure, as BARS runs both).

    Args:
        n_cross: cross layers (BARS DCN: 3; DCN-V2: 3).
        hidden, dropout, batch_norm: the MLP beside them ([] for crosses alone).
        v2: DCN-V2's full-rank cross layers instead of DCN's rank-one ones.
    """

    def __init__(self, embedding: FieldEmbedding, n_cross: int = 3,
                 hidden: list[int] = (400, 400, 400), dropout: float = 0.0,
                 batch_norm: bool = False, v2: bool = False):
        super().__init__()
        self.embedding = embedding
        width = embedding.n_fields * embedding.table.embedding_dim
        layer = CrossLayerV2 if v2 else CrossLayer
        self.cross = nn.ModuleList(layer(width) for _ in range(n_cross))
        self.mlp = MLP(width, list(hidden), dropout, batch_norm) if hidden else None
        self.out = nn.Linear(width + (self.mlp.out_dim if self.mlp else 0), 1)

    def forward(self, x: CTRInputs) -> torch.Tensor:
        x0 = self.embedding(x).flatten(1)
        crossed = x0
        for layer in self.cross:
            crossed = layer(x0, crossed)
        parts = [crossed] + ([self.mlp(x0)] if self.mlp is not None else [])
        return self.out(torch.cat(parts, dim=1)).squeeze(-1)


class DCN(MLPModel):
    """Deep & Cross Network (``model=dcn``); ``n_cross`` cross layers beside the MLP."""

    v2 = False

    def __init__(self, n_cross: int = 3, hidden: list[int] = (400, 400, 400),
                 dropout: float = 0.0, batch_norm: bool = False, dim: int = 10,
                 batch_size: int = 4096, optimizer: dict | None = None):
        super().__init__(hidden, dropout, batch_norm, dim, batch_size, optimizer)
        check_params(type(self).__name__, {"n_cross": n_cross}, {"n_cross": AT_LEAST_ONE})
        self.n_cross = n_cross

    def build_network(self, embedding: FieldEmbedding) -> nn.Module:
        return DCNNet(embedding, self.n_cross, self.hidden, self.dropout, self.batch_norm,
                      v2=self.v2)


class DCNv2(DCN):
    """DCN-V2 (``model=dcnv2``): full-rank cross layers."""

    v2 = True
