"""The one interface every model implements: ``fit(train, valid)`` then ``score(users)``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from recbench.data.sequences import Sequences

#: ``log(metrics, step)``: receives per-epoch values such as ``{"train_loss": 0.3}``.
LogFn = Callable[[dict[str, float], int], None]


@dataclass
class FitContext:
    """What the run (and its task) hands ``fit`` besides the data.

    Attributes:
        seed: seed for everything random inside fit (init, sampling, shuffling).
        valid_metric: metric used for early stopping / model selection, e.g. ``"ndcg@10"``.
        chunk_size: users per chunk when a model evaluates itself on validation data.
        trainer: settings for the Lightning Trainer (neural models only).
        log: callback receiving per-epoch curves; None to drop them.
        checkpoint_dir: where neural models save ``last.ckpt`` after every epoch and resume
            from it when it exists (None: no checkpoints).
        sequences: per-user time-ordered train sequences, for models with
            ``uses_sequences`` (the top-N task passes ``split.sequences(TRAIN)``).
        masked: ``(n_users, n_items)`` matrices of items masked besides train when a model
            validates itself: train rows left out by ``split.train_fraction``, which the
            reported validation metric masks too.
        split: the task's whole split (raw ids, every part), for models that read results
            made outside recbench and map raw ids through it (submissions).
        tag: callback receiving ``{name: value}`` tags for the run; None to drop them.
    """

    seed: int = 0
    valid_metric: str = "ndcg@10"
    chunk_size: int = 1024
    trainer: dict = field(default_factory=dict)
    log: LogFn | None = None
    checkpoint_dir: str | None = None
    sequences: Sequences | None = None
    masked: tuple = ()
    split: Any = None
    tag: Callable[[dict[str, str]], None] | None = None


def check_interactions(matrix: sp.spmatrix, name: str = "train") -> sp.csr_matrix:
    """Validate a user-item matrix at the model boundary; return it as CSR float32."""
    if not sp.issparse(matrix):
        raise TypeError(f"{name} must be a scipy.sparse matrix (n_users, n_items), "
                        f"got {type(matrix).__name__}")
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    if matrix.ndim != 2 or min(matrix.shape) == 0:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {matrix.shape}")
    if matrix.nnz and (matrix.data.min() < 0 or not np.isfinite(matrix.data).all()):
        raise ValueError(f"{name} must hold finite non-negative values")
    return matrix


class Recommender(ABC):
    """Base class of all models.

    Subclasses implement :meth:`_fit` and :meth:`score`; :meth:`fit` validates inputs and
    records ``n_users`` / ``n_items``.
    """

    n_users: int
    n_items: int
    history: sp.csr_matrix  #: interactions read at scoring time (train by default)
    #: True for sequential models: fit reads ``ctx.sequences`` and scoring reads the
    #: sequences given to ``set_sequences`` (the top-N task adds valid items before testing)
    uses_sequences: bool = False
    #: constructor argument -> accepted range (:mod:`recbench.models.constraints`)
    parameter_constraints: dict = {}
    #: the parts the model ranks items for; a part left out is not evaluated (a submission
    #: without validation rankings logs no ``valid_*`` metrics)
    parts: tuple[str, ...] = ("valid", "test")
    #: items scored ``-inf`` are left out of the lists (a submitted ranking shorter than K
    #: ends there, as trec_eval scores it) instead of ranked last
    lists_end_at_minus_inf: bool = False

    def rank_part(self, part: str, k: int) -> None:
        """Called by the top-N task before it scores ``part`` (``"valid"`` or ``"test"``);
        ``k`` is the longest list the metrics read. Models whose scores depend on the part
        (submitted rankings) switch part here."""

    def check_params(self, values: dict, constraints: dict | None = None) -> None:
        """Check constructor arguments (``locals()`` of ``__init__``) against
        ``constraints`` (default :attr:`parameter_constraints`); raises
        :class:`~recbench.models.constraints.ParameterError`."""
        from recbench.models.constraints import check_params

        check_params(type(self).__name__, values,
                     self.parameter_constraints if constraints is None else constraints)

    def fit(self, train: sp.spmatrix, valid: sp.spmatrix | None = None,
            ctx: FitContext | None = None) -> "Recommender":
        """Fit on ``train`` (binary ``(n_users, n_items)``); ``valid`` may drive early stopping."""
        train = check_interactions(train, "train")
        if valid is not None:
            valid = check_interactions(valid, "valid")
            if valid.shape != train.shape:
                raise ValueError(f"valid shape {valid.shape} != train shape {train.shape}")
        self.n_users, self.n_items = train.shape
        self.history = train
        self._fit(train, valid, ctx or FitContext())
        return self

    def set_history(self, history: sp.spmatrix) -> None:
        """Replace the interactions models read at scoring time (e.g. train + cold users'
        fold-in) without refitting; models that score from learned user vectors ignore it."""
        history = check_interactions(history, "history")
        if history.shape != (self.n_users, self.n_items):
            raise ValueError(f"history shape {history.shape} != {(self.n_users, self.n_items)}")
        self.history = history

    @abstractmethod
    def _fit(self, train: sp.csr_matrix, valid: sp.csr_matrix | None, ctx: FitContext) -> None:
        """Model-specific training."""

    @abstractmethod
    def score(self, users: torch.Tensor) -> torch.Tensor:
        """Scores of all items for ``users`` (``(B,) int64``): ``(B, n_items) float32``.

        A model whose scores are one product (factor models) may also take ``out=``, a
        ``(B, n_items) float32`` buffer on its device to write them into and return: the
        ranker then reuses one buffer for every chunk instead of fresh memory each time
        (:func:`recbench.evaluation.ranker.accepts_out`)."""

    @abstractmethod
    def n_parameters(self) -> int:
        """Number of learned values (embeddings, weights, similarity entries)."""


def sparse_rows_times(matrix: sp.csr_matrix, users: torch.Tensor, weights) -> torch.Tensor:
    """``matrix[users] @ weights`` as a dense ``(B, n_cols) float32`` tensor.

    The rows stay sparse, so the cost is ``nnz(rows) * n_cols`` rather than
    ``B * n_rows * n_cols``. ``weights`` is a scipy sparse or numpy dense matrix.
    """
    product = matrix[users.numpy()] @ weights
    if sp.issparse(product):
        product = product.toarray()
    return torch.from_numpy(np.asarray(product, dtype=np.float32))
