"""``model=recbole_ctr model.name=<X>`` (``task=ctr``): RecBole's context-aware models
(DeepFM, DCN, xDeepFM, AutoInt, ...) trained on recbench's CTR split.

The train rows go to RecBole as one atomic ``.inter`` file holding the label and every field
as recbench encoded them (the train-only vocabulary, with its missing and out-of-vocabulary
buckets, becomes RecBole's tokens), so both libraries see the same inputs; an index no
train row holds (a bucket train never used) is predicted with RecBole's padding row. RecBole's
dataset, dataloader, model class and ``Trainer._train_epoch`` train; recbench drives the
epochs, validates by its own AUC every ``trainer.valid_every`` epochs, stops after
``trainer.patience`` validations without improvement, restores the best weights, and
predicts every row through RecBole's ``predict``.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recbench.evaluation.ctr import auc
from recbench.models.base import FitContext
from recbench.models.early_stopping import EarlyStopper
from recbench.models.recbole import atomic
from recbench.models.recbole.catalog import check_params, model_kind
from recbench.models.recbole.shims import import_recbole
from recbench.models.trainer_settings import TRAINER_DEFAULTS

LABEL = "label"


def _names(part) -> tuple[list[str], list[str]]:
    """Field names written to RecBole: ``f0..`` indexed fields, ``s0..`` sequence fields."""
    return ([f"f{i}" for i in range(len(part.sizes))],
            [f"s{i}" for i in range(len(part.sequence_sizes))])


def _write_rows(path: Path, part) -> None:
    """The part's label and fields as a RecBole ``.inter`` file (sequence tokens without
    their padding 0)."""
    tokens, sequences = _names(part)
    x = part.inputs
    frame = pd.DataFrame({f"{LABEL}:float": part.labels.astype(np.float32)})
    for i, name in enumerate(tokens):
        frame[f"{name}:token"] = x.indices[:, i].numpy()
    for i, name in enumerate(sequences):
        frame[f"{name}:token_seq"] = [" ".join(map(str, row[row > 0])) for row in
                                      x.sequences[i].numpy()]
    frame.to_csv(path, sep="\t", index=False)


class RecBoleCTR:
    """A RecBole context-aware model behind recbench's CTR ``fit`` / ``predict``.

    Args:
        name: RecBole model class name, e.g. ``"DeepFM"``, ``"DCNV2"`` (case-sensitive).
        params: RecBole settings of the model (its ``properties/model/<name>.yaml`` keys:
            ``embedding_size``, ``mlp_hidden_size``, ...) and of training
            (``learning_rate``, ``train_batch_size``, ...); RecBole's defaults apply to the
            rest. Epochs, early stopping and the split are recbench's.
    """

    task = "ctr"  #: the task it serves (a run checks model, data set and task agree)

    def __init__(self, name: str, params: dict | None = None):
        model_kind(name, task="ctr")
        self.params = dict(params or {})
        check_params(name, self.params)
        self.name = name
        self.model = None
        self.best_epoch: int | None = None
        self.epochs_trained = 0

    def fit(self, train, valid, ctx: FitContext) -> "RecBoleCTR":
        import_recbole()
        from recbole.data import create_dataset
        from recbole.data.utils import get_dataloader
        from recbole.utils import get_model, get_trainer, init_seed

        if train.inputs.numeric is not None or len(train.sizes) < 2:
            raise ValueError(f"RecBole model '{self.name}' through recbench takes two "
                             f"categorical fields or more and multi-valued ones, no numeric "
                             f"fields")
        settings = {**TRAINER_DEFAULTS, **dict(ctx.trainer)}
        with tempfile.TemporaryDirectory(prefix="recbole-ctr-") as tmp:
            directory = Path(tmp) / "recbench"
            directory.mkdir()
            _write_rows(directory / "recbench.train.inter", train)
            config = self._config(directory, train, ctx.seed, settings)
            init_seed(config["seed"], config["reproducibility"])
            dataset = create_dataset(config)
            part = dataset.build()[0]
            loader = get_dataloader(config, "train")(config, part, None, shuffle=True)
            init_seed(config["seed"], config["reproducibility"])
            self.model = get_model(self.name)(config, part).to(config["device"])
            trainer = get_trainer(config["MODEL_TYPE"], self.name)(config, self.model)
        self.device = config["device"]
        self.batch_size = int(config["train_batch_size"])
        self.maps = {field: atomic.id_map(dataset.field2id_token[field], size)
                     for field, size in zip(_names(train)[0] + _names(train)[1],
                                            train.sizes + train.sequence_sizes)}
        self._train(trainer, loader, valid if valid is not None and len(valid) else None,
                    ctx, settings)
        return self

    def _config(self, directory: Path, part, seed: int, settings: dict):
        from recbench.models.recbole.session import _isolated

        from recbole.config import Config

        use_gpu = settings["accelerator"] in ("auto", "gpu", "cuda") and torch.cuda.is_available()
        tokens, sequences = _names(part)
        config = {
            "data_path": str(directory.parent), "benchmark_filename": ["train"],
            "USER_ID_FIELD": tokens[0], "ITEM_ID_FIELD": tokens[1], "TIME_FIELD": None,
            "LABEL_FIELD": LABEL, "load_col": {"inter": [LABEL, *tokens, *sequences]},
            "seed": seed, "reproducibility": True, "show_progress": False,
            "use_gpu": use_gpu, "gpu_id": "0" if use_gpu else "",
            "checkpoint_dir": str(directory / "saved"), "save_dataset": False,
            "save_dataloaders": False, "log_wandb": False, "train_neg_sample_args": None,
            "eval_args": {"split": {"RS": [1.0, 0.0, 0.0]}, "order": "RO", "group_by": None,
                          "mode": "labeled"},
            "metrics": ["AUC", "LogLoss"], "valid_metric": "AUC", **self.params}
        with _isolated():
            return Config(model=self.name, dataset=directory.name, config_dict=config)

    def _train(self, trainer, loader, valid, ctx: FitContext, settings: dict) -> None:
        epochs = int(settings["max_epochs"])
        stopper = EarlyStopper(settings["patience"], settings["valid_every"])
        for epoch in range(epochs):
            self.model.train()
            loss = trainer._train_epoch(loader, epoch, show_progress=settings["progress_bar"])
            values = {"train_loss": float(sum(loss) if isinstance(loss, tuple) else loss)
                      / max(len(loader), 1)}
            stopper.check_loss(values, epoch, ctx.log)
            if valid is not None and stopper.due(epoch, epochs):
                value = auc(valid.labels, self.predict(valid))
                values["epoch_valid_auc"] = value
                stopper.update(value, epoch, lambda: copy.deepcopy(self.model.state_dict()))
            if ctx.log:
                ctx.log(values, epoch)
            if valid is not None and stopper.should_stop:
                break
        self.best_epoch, self.epochs_trained = stopper.best_epoch, epochs if epochs < 1 \
            else epoch + 1
        if stopper.best_state is not None:
            self.model.load_state_dict(stopper.best_state)
        self.model.eval()

    def predict(self, part) -> np.ndarray:
        """``(n,)`` click probabilities of a part's rows (RecBole's ``predict``)."""
        from recbole.data.interaction import Interaction

        if self.model is None:
            raise RuntimeError("fit the model first")
        tokens, sequences = _names(part)
        x = part.inputs
        columns = {f: self.maps[f][x.indices[:, i].numpy()] for i, f in enumerate(tokens)}
        columns |= {f: self.maps[f][x.sequences[i].numpy()] for i, f in enumerate(sequences)}
        self.model.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(part), 4 * self.batch_size):
                rows = slice(start, start + 4 * self.batch_size)
                batch = Interaction({f: torch.from_numpy(v[rows]) for f, v in columns.items()})
                out.append(self.model.predict(batch.to(self.device)).float().cpu())
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters()) if self.model is not None else 0

