"""Building blocks every CTR model shares: the field embedding and the MLP block.

Inputs (a :class:`CTRInputs` batch):

- ``indices``: ``(B, F_c) int64``, one index per categorical or bucketised field
  (:mod:`recbench.data.features`: 0 missing, 1 out of vocabulary, 2.. values);
- ``sequences``: one ``(B, L) int64`` per multi-valued field, 0 = padding;
- ``numeric``: ``(B, F_n) float32`` plain numeric fields.

:class:`FieldEmbedding` gives every field a ``dim``-vector (``(B, F, dim)``, F = all
fields): a table lookup for indices; the mean of the tokens' vectors for a sequence (a row
with no token gets zeros); ``value * v_f`` for a numeric field (a learned ``v_f``, as
FuxiCTR embeds dense features). Its ``first_order`` head gives the LR part: a learned
weight per value (sequences: mean of their tokens' weights; numeric: ``w_f * value``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class CTRInputs:
    """A batch of encoded rows (shapes in the module docstring)."""

    indices: torch.Tensor
    sequences: tuple[torch.Tensor, ...] = ()
    numeric: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def to(self, device: torch.device) -> "CTRInputs":
        return CTRInputs(self.indices.to(device), tuple(s.to(device) for s in self.sequences),
                         None if self.numeric is None else self.numeric.to(device))


class FieldEmbedding(nn.Module):
    """``dim``-vectors and first-order weights of every field.

    Args:
        sizes: table rows per indexed field (``FieldEncoder.size``), in ``indices`` order.
        sequence_sizes: table rows per sequence field, in ``sequences`` order.
        n_numeric: plain numeric fields.
        dim: embedding size (BARS: 10).
    """

    def __init__(self, sizes: list[int], sequence_sizes: list[int] = (), n_numeric: int = 0,
                 dim: int = 10):
        super().__init__()
        self.n_fields = len(sizes) + len(sequence_sizes) + n_numeric
        if self.n_fields == 0:
            raise ValueError("a CTR model needs at least one field")
        # one table for all indexed fields, each field at its offset (a single lookup)
        offsets = torch.tensor([0, *sizes[:-1]], dtype=torch.int64).cumsum(0) if sizes \
            else torch.zeros(0, dtype=torch.int64)
        self.register_buffer("offsets", offsets)
        self.table = nn.Embedding(max(sum(sizes), 1), dim)
        self.weights = nn.Embedding(max(sum(sizes), 1), 1)
        self.sequence_tables = nn.ModuleList(nn.Embedding(n, dim, padding_idx=0)
                                             for n in sequence_sizes)
        self.sequence_weights = nn.ModuleList(nn.Embedding(n, 1, padding_idx=0)
                                              for n in sequence_sizes)
        self.numeric_vectors = nn.Parameter(torch.empty(n_numeric, dim))
        self.numeric_weights = nn.Parameter(torch.zeros(n_numeric))
        self.bias = nn.Parameter(torch.zeros(()))
        for p in (self.table.weight, self.numeric_vectors,
                  *(t.weight for t in self.sequence_tables)):
            nn.init.normal_(p, std=1e-4)  # FuxiCTR's default embedding initialiser
        nn.init.zeros_(self.weights.weight)
        for t in self.sequence_weights:
            nn.init.zeros_(t.weight)
        with torch.no_grad():
            for t in self.sequence_tables:
                t.weight[0].zero_()

    @staticmethod
    def _pool(table: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        """Mean of the non-padding tokens' rows: ``(B, L) -> (B, width)``."""
        mask = (tokens > 0).unsqueeze(-1).to(table.weight.dtype)
        return (table(tokens) * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, x: CTRInputs) -> torch.Tensor:
        """``(B, F, dim)``: indexed fields, then sequences, then numeric fields."""
        parts = [self.table(x.indices + self.offsets)] if x.indices.shape[1] else []
        parts += [self._pool(t, s).unsqueeze(1) for t, s in zip(self.sequence_tables, x.sequences)]
        if x.numeric is not None and x.numeric.shape[1]:
            parts.append(x.numeric.unsqueeze(-1) * self.numeric_vectors)
        return torch.cat(parts, dim=1)

    def first_order(self, x: CTRInputs) -> torch.Tensor:
        """``(B,)`` bias plus every field's weight: logistic regression's logit."""
        out = self.bias.expand(len(x)).clone()
        if x.indices.shape[1]:
            out = out + self.weights(x.indices + self.offsets).sum((1, 2))
        for t, s in zip(self.sequence_weights, x.sequences):
            out = out + self._pool(t, s).squeeze(-1)
        if x.numeric is not None and x.numeric.shape[1]:
            out = out + x.numeric @ self.numeric_weights
        return out


class MLP(nn.Module):
    """Dense layers ``in -> hidden[0] -> ... -> hidden[-1]`` with an activation, optional
    batch normalisation and dropout after each (BARS' ``DNN`` block); ``out`` adds a last
    linear layer to that size (e.g. 1: a logit)."""

    def __init__(self, in_dim: int, hidden: list[int], dropout: float = 0.0,
                 batch_norm: bool = False, out: int | None = None):
        super().__init__()
        layers: list[nn.Module] = []
        for width in hidden:
            layers.append(nn.Linear(in_dim, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers += [nn.ReLU(), nn.Dropout(dropout)]
            in_dim = width
        if out is not None:
            layers.append(nn.Linear(in_dim, out))
        self.net = nn.Sequential(*layers)
        self.out_dim = in_dim if out is None else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def fm_pairwise(embedded: torch.Tensor) -> torch.Tensor:
    """``sum_{f<g} <e_f, e_g>`` per row of ``(B, F, dim)`` in O(F dim):
    ``(|sum_f e_f|^2 - sum_f |e_f|^2) / 2`` (Rendle 2010)."""
    summed = embedded.sum(1)
    return 0.5 * (summed.square().sum(1) - embedded.square().sum((1, 2)))


def reset_dense_layers(net: nn.Module) -> None:
    """FuxiCTR's initialisation of dense layers: Xavier-normal weights and zero biases for
    every ``Linear`` and ``Conv1d`` (embeddings keep theirs). Torch's default (uniform,
    random biases) left DeepFM and DCN-V2 on ml-100k-ctr stalling at a lower AUC in two
    seeds out of three (results/bench/ctr.md)."""
    for m in net.modules():
        if type(m) in (nn.Linear, nn.Conv1d):
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
