"""AutoInt+ (Song et al., CIKM 2019): multi-head self-attention across fields (which
fields interact is learned) with residual connections, beside an MLP."""

from __future__ import annotations

import torch
from torch import nn

from recbench.models.constraints import AT_LEAST_ONE, check_params
from recbench.models.ctr.estimator import MLPModel
from recbench.models.ctr.layers import MLP, CTRInputs, FieldEmbedding


class InteractingLayer(nn.Module):
    """``ReLU(MultiHead(E) + W_res E)``: each field attends to every field; ``(B, F, d)``
    in, ``(B, F, heads * head_dim)`` out."""

    def __init__(self, in_dim: int, head_dim: int, heads: int):
        super().__init__()
        width = head_dim * heads
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(in_dim, 3 * width, bias=False)
        self.residual = nn.Linear(in_dim, width, bias=False)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        b, f, _ = e.shape
        q, k, v = self.qkv(e).view(b, f, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        attention = torch.softmax(q @ k.transpose(-1, -2), dim=-1)  # AutoInt: no scaling
        out = (attention @ v).transpose(1, 2).reshape(b, f, -1)
        return torch.relu(out + self.residual(e))


class AutoIntNet(nn.Module):
    """``logit = Linear(flatten(attention^L(E))) + MLP(concat E)`` (AutoInt+; ``hidden=[]``
    gives plain AutoInt).

    Args:
        n_layers, heads, head_dim: the interacting layers (BARS: 3 layers, 2 heads,
            head_dim 40 on Criteo).
        hidden, dropout, batch_norm: the MLP.
    """

    def __init__(self, embedding: FieldEmbedding, n_layers: int = 3, heads: int = 2,
                 head_dim: int = 16, hidden: list[int] = (400, 400, 400),
                 dropout: float = 0.0, batch_norm: bool = False):
        super().__init__()
        self.embedding = embedding
        dim = embedding.table.embedding_dim
        widths = [dim] + [heads * head_dim] * n_layers
        self.layers = nn.ModuleList(InteractingLayer(widths[i], head_dim, heads)
                                    for i in range(n_layers))
        self.attention_out = nn.Linear(embedding.n_fields * widths[-1], 1)
        self.mlp = MLP(embedding.n_fields * dim, list(hidden), dropout, batch_norm, out=1) \
            if hidden else None

    def forward(self, x: CTRInputs) -> torch.Tensor:
        embedded = self.embedding(x)
        h = embedded
        for layer in self.layers:
            h = layer(h)
        logit = self.attention_out(h.flatten(1)).squeeze(-1)
        if self.mlp is not None:
            logit = logit + self.mlp(embedded.flatten(1)).squeeze(-1)
        return logit


class AutoInt(MLPModel):
    """AutoInt+ (``model=autoint``; ``hidden=[]``: plain AutoInt)."""

    parameter_constraints = {"n_layers": AT_LEAST_ONE, "heads": AT_LEAST_ONE,
                             "head_dim": AT_LEAST_ONE}

    def __init__(self, n_layers: int = 3, heads: int = 2, head_dim: int = 16,
                 hidden: list[int] = (400, 400, 400), dropout: float = 0.0,
                 batch_norm: bool = False, dim: int = 10, batch_size: int = 4096,
                 optimizer: dict | None = None):
        super().__init__(hidden, dropout, batch_norm, dim, batch_size, optimizer)
        check_params("AutoInt", {"n_layers": n_layers, "heads": heads, "head_dim": head_dim},
                     AutoInt.parameter_constraints)
        self.n_layers, self.heads, self.head_dim = n_layers, heads, head_dim

    def build_network(self, embedding: FieldEmbedding) -> nn.Module:
        return AutoIntNet(embedding, self.n_layers, self.heads, self.head_dim, self.hidden,
                          self.dropout, self.batch_norm)
