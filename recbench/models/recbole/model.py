"""``model=recbole model.name=<X>``: RecBole's own model class, trained on recbench's split.

The split's train part is handed to RecBole as benchmark atomic files (:mod:`.atomic`);
RecBole's dataset, dataloader, negative sampler, model class and trainer do the training,
one ``Trainer._train_epoch`` per epoch, so special trainers (RecVAE, NCL, ...) keep their
logic. recbench drives the epochs: it validates with its own evaluator every
``trainer.valid_every`` epochs, stops after ``trainer.patience`` validations without
improvement, restores the best weights and scores all items for the runner's evaluator.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from recbench.data.sequences import Sequences
from recbench.evaluation.ranker import evaluate
from recbench.models.base import FitContext, Recommender
from recbench.models.early_stopping import EarlyStopper
from recbench.models.trainer_settings import TRAINER_DEFAULTS
from recbench.models.recbole import atomic
from recbench.models.recbole.catalog import check_params, model_kind
from recbench.models.recbole.session import (DATASET, RecBoleSession, general_scores,
                                             recbole_config, sequential_scores)


class RecBoleModel(Recommender):
    """A RecBole general or sequential model behind recbench's ``fit`` / ``score``.

    Args:
        name: RecBole model class name, e.g. ``"BPR"``, ``"LightGCN"``, ``"SASRec"``
            (case-sensitive, as RecBole spells it).
        params: RecBole settings of the model (its ``properties/model/<name>.yaml`` keys)
            and of training (``learning_rate``, ``train_batch_size``, ...); RecBole's
            defaults apply to the rest. Epochs, early stopping, metrics and the split are
            recbench's (``trainer.*``, ``metrics.*``, ``split``).
    """

    def __init__(self, name: str, params: dict | None = None):
        self.kind = model_kind(name)
        self.params = dict(params or {})
        check_params(name, self.params)
        self.name = name
        self.uses_sequences = self.kind == "sequential"
        self.best_epoch: int | None = None
        self.epochs_trained: int | None = None

    # ------------------------------------------------------------------ fitting
    def _fit(self, train: sp.csr_matrix, valid: sp.csr_matrix | None, ctx: FitContext) -> None:
        settings = {**TRAINER_DEFAULTS, **dict(ctx.trainer)}
        use_gpu = settings["accelerator"] in ("auto", "gpu", "cuda") and torch.cuda.is_available()
        if self.uses_sequences and ctx.sequences is None:
            raise ValueError(f"RecBole model '{self.name}' is sequential: it needs time-ordered "
                             f"train sequences (the runner passes them)")
        with tempfile.TemporaryDirectory(prefix="recbole-") as tmp:
            directory = Path(tmp) / DATASET
            directory.mkdir()
            config = recbole_config(self.name, self.kind, self.params, directory, ["train"],
                                    ctx.seed, use_gpu=use_gpu)
            atomic.write_ids(directory, DATASET, self.n_users, self.n_items)
            train_file = directory / f"{DATASET}.train.inter"
            if self.uses_sequences:
                atomic.write_next_item_rows(train_file, ctx.sequences,
                                            config["MAX_ITEM_LIST_LENGTH"])
            else:
                atomic.write_pairs(train_file, train)
            self.session = RecBoleSession.load(config, self.n_users, self.n_items)
            loader = self.session.train_loader()
            self.model = self.session.build_model()
            trainer = self.session.build_trainer(self.model)
        self.sequences = ctx.sequences
        self._train(trainer, loader, train, valid, ctx, settings)

    def _train(self, trainer, loader, train, valid, ctx: FitContext, settings: dict) -> None:
        from recbole.utils import ModelType

        epochs = 1 if self.session.config["MODEL_TYPE"] == ModelType.TRADITIONAL \
            else int(settings["max_epochs"])
        validate = valid is not None and valid.nnz > 0 and epochs > 1
        stopper = EarlyStopper(settings["patience"], settings["valid_every"])
        for epoch in range(epochs):
            loss = trainer._train_epoch(loader, epoch, show_progress=settings["progress_bar"])
            values = {"train_loss": float(sum(loss) if isinstance(loss, tuple) else loss)
                      / max(len(loader), 1)}
            stopper.check_loss(values, epoch, ctx.log)
            if validate and stopper.due(epoch, epochs):
                self.model.eval()
                _, per_user = evaluate(self.score, valid, [train, *ctx.masked],
                                       [ctx.valid_metric],
                                       ctx.chunk_size)
                value = float(per_user[ctx.valid_metric].mean())
                values["epoch_valid_" + ctx.valid_metric] = value
                # with the caches RecBole keeps outside the state dict (LightGCN's
                # propagated embeddings): they belong to these weights
                stopper.update(value, epoch, lambda: copy.deepcopy(
                    (self.model.state_dict(), self.model.other_parameter())))
            if ctx.log:
                ctx.log(values, epoch)
            if validate and stopper.should_stop:
                break
        self.best_epoch = stopper.best_epoch
        self.epochs_trained = epoch + 1
        if stopper.best_state is not None:
            self.model.load_state_dict(stopper.best_state[0])
            self.model.load_other_parameter(stopper.best_state[1])
        elif not validate:
            self.best_epoch, self.epochs_trained = None, None
        self.model.eval()

    # ------------------------------------------------------------------ scoring
    def set_sequences(self, sequences: Sequences) -> None:
        """Score from these sequences from now on (e.g. train + valid before testing)."""
        if (sequences.n_users, sequences.n_items) != (self.n_users, self.n_items):
            raise ValueError(f"sequences are for {sequences.n_users} x {sequences.n_items}, "
                             f"the model for {self.n_users} x {self.n_items}")
        self.sequences = sequences

    def score(self, users: torch.Tensor) -> torch.Tensor:
        config = self.session.config
        with torch.no_grad():
            if self.uses_sequences:
                inputs = self.sequences.last(users.numpy(), config["MAX_ITEM_LIST_LENGTH"])
                return sequential_scores(self.model, inputs, self.sequences.pad,
                                         self.session.items, self.model.ITEM_SEQ,
                                         self.model.ITEM_SEQ_LEN)
            return general_scores(self.model, users, self.session.users, self.session.items,
                                  config["USER_ID_FIELD"], config["ITEM_ID_FIELD"])

    def n_parameters(self) -> int:
        """Trained torch parameters, plus the learned state RecBole's closed-form models keep
        outside them (``other_parameter_name``: EASE's item weights, ItemKNN's
        similarities, Pop's counts); training interactions and cached predictions are not
        counted."""
        count = sum(p.numel() for p in self.model.parameters() if p.numel() > 1)
        for name in getattr(self.model, "other_parameter_name", []):
            value = getattr(self.model, name, None)
            if "interaction" in name or name.startswith("restore_") or name == "pred_mat" \
                    or value is None:  # inputs and caches of predictions, not learned
                continue
            count += value.nnz if sp.issparse(value) else int(np.asarray(value).size) \
                if isinstance(value, np.ndarray) else int(getattr(value, "numel", lambda: 0)())
        return count
