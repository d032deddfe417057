"""CTR estimators: ``fit(train, valid, ctx)`` then ``predict(inputs)``, trained by the same
Lightning glue as the top-N neural models (:func:`recbench.models.lightning.fit_module`:
seeding, early stopping on the validation AUC, per-epoch checkpoints and exact resume,
best weights restored). Each model is a small subclass naming its network.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from recbench.evaluation.ctr import auc
from recbench.models.base import FitContext
from recbench.models.constraints import AT_LEAST_ONE, DROPOUT, check_params
from recbench.models.ctr.layers import CTRInputs, FieldEmbedding, reset_dense_layers
from recbench.models.lightning import RecModule, fit_module
from recbench.models.optim import optimizer_spec


@dataclass
class CTRPart:
    """One part of a CTR split, encoded.

    Attributes:
        inputs: the rows' encoded fields.
        labels: ``(n,) int8`` clicks.
        users: ``(n,)`` the rows' user ids (gAUC groups).
        sizes, sequence_sizes: embedding-table rows per indexed and per sequence field.
        ids: ``(n,) int64`` the rows' positions in the data set (what predictions name).
        optimal: ``(n,)`` Bayes-optimal click probabilities (generated data only), or None.
    """

    inputs: CTRInputs
    labels: np.ndarray
    users: np.ndarray
    sizes: list[int]
    sequence_sizes: list[int]
    ids: np.ndarray | None = None
    optimal: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self, index: torch.Tensor) -> CTRInputs:
        x = self.inputs
        return CTRInputs(x.indices[index], tuple(s[index] for s in x.sequences),
                         None if x.numeric is None else x.numeric[index])


def predict_logits(net: nn.Module, part: CTRPart, chunk: int = 16384) -> np.ndarray:
    """``(n,)`` logits, ``chunk`` rows at a time (bounded memory), computed on the
    network's device (a GPU while Lightning trains there)."""
    device = next(net.parameters()).device
    with torch.no_grad():
        return torch.cat([net(part.rows(rows).to(device)).cpu() for rows in
                          torch.arange(len(part)).split(chunk)]).double().numpy()


class CTRModule(RecModule):
    """A network trained with binary cross-entropy; validation = AUC of ``valid_data``."""

    def __init__(self, net: nn.Module, chunk: int):
        super().__init__()
        self.net, self.chunk = net, chunk  # chunk: rows predicted at once

    def score(self, users: torch.Tensor) -> torch.Tensor:
        raise TypeError("a CTR model predicts rows, it does not rank items")

    def batch_loss(self, batch):
        x, y = batch
        loss = nn.functional.binary_cross_entropy_with_logits(self.net(x), y)
        return self.record_loss(loss)

    def validation_value(self) -> float:
        valid: CTRPart = self.valid_data
        return auc(valid.labels, predict_logits(self.net, valid, self.chunk))


class _Batches(torch.utils.data.IterableDataset):
    """One epoch of shuffled ``(inputs, labels)`` batches (the seeded generator decides)."""

    def __init__(self, part: CTRPart, batch_size: int, generator: torch.Generator):
        self.part, self.batch_size, self.generator = part, batch_size, generator
        self.labels = torch.from_numpy(part.labels.astype(np.float32))

    def __len__(self) -> int:
        return -(-len(self.part) // self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.part), generator=self.generator)
        for rows in order.split(self.batch_size):
            yield self.part.rows(rows), self.labels[rows]


class CTRModel:
    """Base of the CTR estimators.

    Args:
        dim: embedding size of every field (BARS: 10).
        batch_size: rows per training step (BARS: 4096 on ml-100k-size data, 10000 Criteo).
        optimizer: shared optimizer settings ``{name, lr, weight_decay, momentum}``.
    """

    task = "ctr"  #: the task it serves (a run checks model, data set and task agree)
    parameter_constraints = {"dim": AT_LEAST_ONE, "batch_size": AT_LEAST_ONE}

    def __init__(self, dim: int = 10, batch_size: int = 4096, optimizer: dict | None = None):
        check_params(type(self).__name__, {"dim": dim, "batch_size": batch_size},
                     CTRModel.parameter_constraints)
        self.dim, self.batch_size = dim, batch_size
        self.chunk = 4 * batch_size  # rows per prediction step: memory like training's
        self.optimizer = optimizer_spec(optimizer, lr=1e-3)
        self.net: nn.Module | None = None
        self.best_epoch: int | None = None
        self.epochs_trained = 0

    @abstractmethod
    def build_network(self, embedding: FieldEmbedding) -> nn.Module:
        """The network over the shared field embedding."""

    def fit(self, train: CTRPart, valid: CTRPart | None, ctx: FitContext) -> "CTRModel":
        n_numeric = 0 if train.inputs.numeric is None else train.inputs.numeric.shape[1]

        def build() -> CTRModule:
            embedding = FieldEmbedding(train.sizes, train.sequence_sizes, n_numeric, self.dim)
            net = self.build_network(embedding)
            reset_dense_layers(net)
            return CTRModule(net, self.chunk)

        module, self.best_epoch, self.epochs_trained = fit_module(
            build, self.optimizer,
            lambda generator: torch.utils.data.DataLoader(
                _Batches(train, self.batch_size, generator), batch_size=None),
            valid if valid is not None and len(valid) else None, ctx)
        self.net = module.net
        return self

    def predict(self, part: CTRPart) -> np.ndarray:
        """``(n,)`` click probabilities of a part's rows."""
        if self.net is None:
            raise RuntimeError("fit the model first")
        return 1 / (1 + np.exp(-predict_logits(self.net, part, self.chunk)))

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters()) if self.net is not None else 0


class MLPModel(CTRModel):
    """A CTR estimator with an MLP: ``hidden`` widths, ``dropout``, ``batch_norm``."""

    parameter_constraints = {"dropout": DROPOUT}

    def __init__(self, hidden: list[int] = (400, 400, 400), dropout: float = 0.0,
                 batch_norm: bool = False, dim: int = 10, batch_size: int = 4096,
                 optimizer: dict | None = None):
        super().__init__(dim, batch_size, optimizer)
        check_params(type(self).__name__, {"dropout": dropout}, MLPModel.parameter_constraints)
        if any(int(h) < 1 for h in hidden):
            raise ValueError(f"{type(self).__name__} hidden widths must be >= 1, got {hidden}")
        self.hidden, self.dropout, self.batch_norm = [int(h) for h in hidden], dropout, batch_norm
