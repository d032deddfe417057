"""The one Lightning glue all neural models share: Trainer setup, validation, best weights.

A neural model is a :class:`NeuralRecommender` (the recbench interface) that builds a
:class:`RecModule` (a ``LightningModule``) in :meth:`NeuralRecommender.build_module` and a
training ``DataLoader`` in :meth:`NeuralRecommender.train_loader`. Each epoch the module
ranks all items for the validation users (train items masked), logs the validation metric,
and keeps a copy of the best weights; early stopping watches the same metric and the best
weights are restored before the model is tested.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import pickle
import signal
from pathlib import Path
import warnings
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import scipy.sparse as sp
import torch
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint

from recbench.errors import one_line
from recbench.evaluation.ranker import accepts_out, evaluate
from recbench.models.base import FitContext, Recommender
from recbench.models.early_stopping import EarlyStopper
from recbench.models.optim import OptimizerSpec
from recbench.models.trainer_settings import TRAINER_DEFAULTS, check_trainer

log = logging.getLogger(__name__)


def quiet_lightning() -> None:
    """Silence Lightning warnings that do not apply to our single-process loaders (log levels
    are set once, by :func:`recbench.verbosity.configure_logging`)."""
    warnings.filterwarnings("ignore", message=".*IterableDataset. has .__len__. defined.*")
    warnings.filterwarnings("ignore", message=".*isinstance.treespec, LeafSpec.*")
    # with SLURM installed (make test-slurm) Lightning hints at srun on every run; a job SLURM
    # starts sets its own environment and is detected without the hint
    warnings.filterwarnings("ignore", message=".*The `srun` command is available.*")


def resumable(last: Path) -> str | None:
    """``last`` as a path to resume from, or None to train from scratch.

    A checkpoint that does not load (truncated by a kill or a full disk, damaged) is
    deleted with a warning, so the run restarts instead of every later run of the config
    failing on it. It is loaded the way Lightning will load it: ``weights_only=True``.
    """
    if not last.is_file():
        return None
    try:
        checkpoint = torch.load(last, map_location="cpu", weights_only=True)
        if not isinstance(checkpoint, dict) or not {"state_dict", "recbench"} <= checkpoint.keys():
            raise ValueError("not a recbench checkpoint")
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as err:
        log.warning("checkpoint %s is corrupt (%s: %s); deleting it and training from scratch.",
                    last, type(err).__name__, one_line(err)[:200])
        with contextlib.suppress(OSError):
            last.unlink()
        return None
    return str(last)


class RecModule(pl.LightningModule):
    """LightningModule base: subclasses define ``score`` and ``batch_loss``; the optimizer
    step is taken here (:meth:`training_step`)."""

    def __init__(self):
        super().__init__()
        # manual optimization: Lightning's automatic loop (closure, the hooks around backward
        # and the optimizer) cost about a quarter of an MF-BPR epoch on small embeddings
        self.automatic_optimization = False
        self.valid_data: tuple[sp.csr_matrix, sp.csr_matrix] | None = None
        self.ctx = FitContext()
        self.stopper = EarlyStopper()  # replaced by NeuralRecommender with the trainer settings
        # a buffer (not saved): it moves with the module to the GPU it trains on
        self.register_buffer("_loss_sum", torch.zeros((), dtype=torch.float64), persistent=False)
        self._loss_batches = 0
        self.generator: torch.Generator | None = None  # sampling / shuffling RNG
        self.optimizer_spec = OptimizerSpec()  # set by NeuralRecommender before training

    @abstractmethod
    def score(self, users: torch.Tensor) -> torch.Tensor:
        """``(B,) int64 -> (B, n_items) float32`` scores."""

    @abstractmethod
    def batch_loss(self, batch) -> torch.Tensor:
        """The scalar loss of one training batch (passed through :meth:`record_loss`)."""

    def training_step(self, group, batch_idx):
        """One optimizer step per batch of ``group`` (:class:`StepGroups`), in order, on
        ``batch_loss(batch)`` with the gradients zeroed first, as Lightning's automatic
        optimization does for one batch per call."""
        optimizer = self.optimizers()
        for batch in group:
            loss = self.batch_loss(batch)
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            optimizer.step()
        return loss

    def validation_value(self) -> float:
        """The validation metric early stopping maximises: top-N ranking of the
        validation users, train items masked (``valid_data = (valid, train)``)."""
        valid, train = self.valid_data
        _, per_user = evaluate(self.score, valid, [train, *self.ctx.masked],
                               [self.ctx.valid_metric], self.ctx.chunk_size)
        return float(per_user[self.ctx.valid_metric].mean())

    def configure_optimizers(self):
        return self.optimizer_spec.build(self.parameters())

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Keep what a resumed run needs to end exactly like an uninterrupted one."""
        checkpoint["recbench"] = {
            **self.stopper.state_dict(), "torch_rng": torch.get_rng_state(),
            "generator": self.generator.get_state() if self.generator is not None else None}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint["recbench"]
        self.stopper.load_state_dict(saved)
        torch.set_rng_state(saved["torch_rng"])
        if saved["generator"] is not None:
            self.generator.set_state(saved["generator"])

    def record_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """Call from ``batch_loss`` with the batch loss; returns it."""
        self._loss_sum += loss.detach().to(torch.float64)
        self._loss_batches += 1
        return loss

    def on_train_epoch_end(self) -> None:
        epoch = self.current_epoch
        values = {"train_loss": float(self._loss_sum / max(self._loss_batches, 1))}
        self._loss_sum.zero_()
        self._loss_batches = 0
        self.stopper.check_loss(values, epoch, self.ctx.log)
        max_epochs = (self.trainer.max_epochs or 0) if self.trainer is not None else math.inf
        if self.valid_data is not None and self.stopper.due(epoch, max_epochs):
            self.eval()
            value = self.validation_value()
            self.train()
            values["epoch_valid_" + self.ctx.valid_metric] = value
            self.log("valid_metric", value, prog_bar=True)
            self.stopper.update(value, epoch, lambda: copy.deepcopy(self.state_dict()))
            if self.stopper.should_stop and self.trainer is not None:
                self.trainer.should_stop = True
        if self.ctx.log is not None:
            self.ctx.log(values, epoch)


class NeuralRecommender(Recommender):
    """A recbench model trained by a Lightning ``Trainer``."""

    module: RecModule
    optimizer: OptimizerSpec  #: set by the subclass constructor (optimizer_spec)

    @abstractmethod
    def build_module(self, n_users: int, n_items: int) -> RecModule:
        """Create the LightningModule (called inside fit, after seeding)."""

    @abstractmethod
    def train_loader(self, train: sp.csr_matrix, generator: torch.Generator):
        """The training DataLoader (or iterable of batches) for one epoch."""

    def _fit(self, train, valid, ctx: FitContext) -> None:
        def build() -> RecModule:
            self.module = self.build_module(self.n_users, self.n_items)  # loaders may read it
            return self.module

        self.module, self.best_epoch, self.epochs_trained = fit_module(
            build, self.optimizer, lambda generator: self.train_loader(train, generator),
            (valid, train) if valid is not None and valid.nnz else None, ctx)

    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        with torch.no_grad():
            if out is not None and out.device == self.module.device \
                    and accepts_out(self.module.score):
                return self.module.score(users, out=out)
            return self.module.score(users)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())


#: training batches per ``training_step`` call: Lightning's per-call loop, hooks and
#: bookkeeping cost more than the forward pass of a small batch (MF-BPR on ml-100k); the
#: optimizer steps and their order are the same for any value
STEPS_PER_CALL = 16


class StepGroups(torch.utils.data.IterableDataset):
    """An epoch's training batches in lists of up to ``size`` (the last may be shorter)."""

    def __init__(self, batches, size: int | None = None):
        self.batches, self.size = batches, size or STEPS_PER_CALL

    def __len__(self) -> int:
        return -(-len(self.batches) // self.size)

    def __iter__(self):
        group = []
        for batch in self.batches:
            group.append(batch)
            if len(group) == self.size:
                yield group
                group = []
        if group:
            yield group


def fit_module(build: Callable[[], RecModule], optimizer: OptimizerSpec,
               loader: Callable[[torch.Generator], Any], valid_data: Any,
               ctx: FitContext) -> tuple[RecModule, int | None, int]:
    """Train the module ``build()`` makes (after seeding) with a Lightning ``Trainer`` set
    up from ``ctx.trainer``: early stopping on :meth:`RecModule.validation_value` (when
    ``valid_data`` is not None), ``last.ckpt`` every epoch in ``ctx.checkpoint_dir`` and
    resume from it, best weights restored. Returns ``(module, best epoch, epochs run)``;
    the module is in eval mode on the device it was trained on."""
    settings = {**TRAINER_DEFAULTS, **dict(ctx.trainer)}
    check_trainer(OmegaConf.create(settings))  # also for fits outside a composed config
    quiet_lightning()
    pl.seed_everything(ctx.seed, workers=True, verbose=False)
    generator = torch.Generator().manual_seed(ctx.seed)
    module = build()
    module.ctx = ctx
    module.optimizer_spec = optimizer
    module.stopper = EarlyStopper(settings["patience"], settings["valid_every"])
    module.generator = generator
    module.valid_data = valid_data
    callbacks = []
    resume = None
    if ctx.checkpoint_dir:  # last.ckpt after every epoch; resume from it if present
        callbacks.append(ModelCheckpoint(dirpath=ctx.checkpoint_dir, filename="last",
                                         every_n_epochs=1, save_on_train_epoch_end=True,
                                         enable_version_counter=False))
        resume = resumable(Path(ctx.checkpoint_dir) / "last.ckpt")
    deterministic = settings["deterministic"]
    if deterministic is True and settings["accelerator"] != "cpu" and torch.cuda.is_available():
        # cuBLAS needs a fixed workspace to be reproducible; GPU ops that have no
        # deterministic kernel (sparse products, scatter) warn instead of failing the run
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        deterministic = "warn"
    trainer = pl.Trainer(
        max_epochs=settings["max_epochs"], accelerator=settings["accelerator"],
        devices=settings["devices"], deterministic=deterministic,
        enable_progress_bar=settings["progress_bar"], callbacks=callbacks,
        logger=False, enable_checkpointing=bool(ctx.checkpoint_dir),
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
    )
    try:
        groups = torch.utils.data.DataLoader(StepGroups(loader(generator)), batch_size=None)
        trainer.fit(module, train_dataloaders=groups, ckpt_path=resume, weights_only=True)
    except SystemExit:
        # Lightning turns Ctrl-C into a "graceful shutdown" that ignores further SIGINTs
        # and calls exit(1); give the caller the KeyboardInterrupt it should have seen
        if trainer.interrupted:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt from None
        raise
    stopper = module.stopper
    if stopper.best_state is not None:
        module.load_state_dict(stopper.best_state)
    best_epoch = stopper.best_epoch
    stopper.best_state = None
    module.valid_data = None
    module.eval()
    # Lightning's teardown moved the module to the CPU; a model trained on a GPU is
    # evaluated there (the ranker keeps scores on the module's device)
    module.to(trainer.strategy.root_device)
    return module, best_epoch, trainer.current_epoch
