"""One RecBole model on recbench data: config, dataset, loaders, model, trainer, scores.

:class:`RecBoleSession` is what both the bridge model (training on a split's train part)
and the parity tests (RecBole's own evaluator on the same split) build on.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from recbench.models.recbole import atomic
from recbench.models.recbole.catalog import default_params
from recbench.models.recbole.shims import import_recbole

DATASET = "recbench"  #: the atomic files' base name


@contextlib.contextmanager
def _isolated():
    """RecBole's Config parses ``--key=value`` arguments from ``sys.argv`` (pytest's or
    recbench's would leak in) and sets ``CUDA_VISIBLE_DEVICES``; keep both untouched."""
    argv, cuda = sys.argv, os.environ.get("CUDA_VISIBLE_DEVICES")
    sys.argv = sys.argv[:1]
    try:
        yield
    finally:
        sys.argv = argv
        if cuda is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = cuda


def recbole_config(name: str, kind: str, params: dict, directory: Path, parts: list[str],
                   seed: int, *, use_gpu: bool = False, metrics: list[str] | None = None,
                   topk: int = 10):
    """RecBole ``Config`` reading the benchmark files ``directory/recbench.<part>.inter``.

    ``params`` are the model's own settings (already checked by the catalog); ``metrics``
    and ``topk`` only matter to RecBole's evaluator (parity tests).
    """
    import_recbole()
    from recbole.config import Config

    fields = [atomic.USER, atomic.ITEM_LIST, atomic.ITEM] if kind == "sequential" \
        else [atomic.USER, atomic.ITEM]
    settings = {
        "data_path": str(directory.parent), "benchmark_filename": parts,
        "USER_ID_FIELD": atomic.USER, "ITEM_ID_FIELD": atomic.ITEM, "TIME_FIELD": None,
        "load_col": {"inter": fields, "user": [atomic.USER], "item": [atomic.ITEM]},
        "seed": seed, "reproducibility": True, "show_progress": False,
        "use_gpu": use_gpu, "gpu_id": "0" if use_gpu else "",
        "checkpoint_dir": str(directory / "saved"), "save_dataset": False,
        "save_dataloaders": False, "log_wandb": False,
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "TO" if kind == "sequential"
                      else "RO", "group_by": "user", "mode": "full"},
        "metrics": metrics or ["Recall", "NDCG"], "topk": [topk],
        "valid_metric": f"{(metrics or ['NDCG'])[-1]}@{topk}", **params,
    }
    if kind == "sequential":
        settings["alias_of_item_id"] = [atomic.ITEM_LIST]
    loss = params.get("loss_type", default_params(name).get("loss_type"))
    if loss == "CE" and "train_neg_sample_args" not in params:
        settings["train_neg_sample_args"] = None  # RecBole refuses sampled negatives with CE
    with _isolated():
        return Config(model=name, dataset=directory.name, config_dict=settings)


@dataclass
class RecBoleSession:
    """A RecBole config, its dataset built from recbench's files, and the id maps.

    Attributes:
        config: RecBole ``Config``.
        dataset: the full RecBole ``Dataset`` (all parts).
        parts: built per-part datasets, in ``benchmark_filename`` order.
        users, items: ``(n_users,)`` / ``(n_items,) int64`` RecBole id of each recbench id.
    """

    config: object
    dataset: object
    parts: list
    users: np.ndarray
    items: np.ndarray

    @classmethod
    def load(cls, config, n_users: int, n_items: int, build: bool = True) -> "RecBoleSession":
        """Read the benchmark files; ``build=False`` leaves building the parts to RecBole's
        ``data_preparation`` (which builds them itself)."""
        from recbole.data import create_dataset
        from recbole.utils import init_seed

        init_seed(config["seed"], config["reproducibility"])
        dataset = create_dataset(config)
        users = atomic.id_map(dataset.field2id_token[atomic.USER], n_users)
        items = atomic.id_map(dataset.field2id_token[atomic.ITEM], n_items)
        return cls(config, dataset, dataset.build() if build else [], users, items)

    def train_loader(self):
        """RecBole's training loader for the first part (its negative sampler included)."""
        from recbole.data.utils import get_dataloader
        from recbole.sampler import Sampler

        args = self.config["train_neg_sample_args"]
        sampler = None
        if args["distribution"] != "none":
            sampler = Sampler(["train"], self.parts[:1], args["distribution"],
                              args["alpha"]).set_phase("train")
        return get_dataloader(self.config, "train")(self.config, self.parts[0], sampler,
                                                    shuffle=self.config["shuffle"])

    def build_model(self):
        """RecBole's model class, constructed on the training part (seeded)."""
        from recbole.utils import get_model, init_seed

        init_seed(self.config["seed"], self.config["reproducibility"])
        return get_model(self.config["model"])(self.config, self.parts[0]).to(self.config["device"])

    def build_trainer(self, model):
        """RecBole's trainer for the model (its special trainer when it has one)."""
        from recbole.utils import get_trainer

        return get_trainer(self.config["MODEL_TYPE"], self.config["model"])(self.config, model)


def general_scores(model, users: torch.Tensor, user_ids: np.ndarray, item_ids: np.ndarray,
                   uid_field: str, iid_field: str, pairs: int = 1 << 21) -> torch.Tensor:
    """``(B, n_items) float32`` scores of a general RecBole model for recbench ``users``.

    Models without ``full_sort_predict`` (NeuMF, ConvNCF, ...) are scored pair by pair
    through ``predict``, as RecBole's own trainer does, ``pairs`` (user, item) at a time.
    """
    from recbole.data.interaction import Interaction

    rows = torch.from_numpy(user_ids[users.numpy()])
    columns = torch.from_numpy(item_ids)
    try:
        scores = model.full_sort_predict(Interaction({uid_field: rows}).to(model.device))
        scores = scores.reshape(len(rows), -1)[:, columns.to(scores.device)]
    except NotImplementedError:
        step = max(1, pairs // len(columns))
        parts = []
        for start in range(0, len(rows), step):
            chunk = rows[start:start + step]
            batch = Interaction({uid_field: chunk.repeat_interleave(len(columns)),
                                 iid_field: columns.repeat(len(chunk))})
            parts.append(model.predict(batch.to(model.device)).reshape(len(chunk), -1))
        scores = torch.cat(parts)
    return scores.float().cpu()


def sequential_scores(model, inputs: np.ndarray, pad: int, item_ids: np.ndarray,
                      list_field: str, length_field: str) -> torch.Tensor:
    """``(B, n_items) float32`` scores of a sequential RecBole model.

    Args:
        inputs: ``(B, max_len)`` recbench item ids, left-padded with ``pad`` (as
            :meth:`Sequences.last` returns them); RecBole wants RecBole ids right-padded
            with 0, and each row's length.
    """
    from recbole.data.interaction import Interaction

    present = inputs != pad
    lengths = present.sum(axis=1)
    order = np.argsort(~present, axis=1, kind="stable")  # real items first, in order
    shifted = np.take_along_axis(np.where(present, item_ids[np.where(present, inputs, 0)], 0),
                                 order, axis=1)
    batch = Interaction({list_field: torch.from_numpy(shifted),
                         length_field: torch.from_numpy(np.maximum(lengths, 1))})
    scores = model.full_sort_predict(batch.to(model.device)).reshape(len(inputs), -1)
    return scores[:, torch.from_numpy(item_ids).to(scores.device)].float().cpu()


def write_split(directory: Path, split, kind: str, max_len: int) -> list[str]:
    """Write a recbench split as RecBole benchmark files ``train``, ``valid``, ``test``.

    General models get the parts' ``(user, item)`` pairs. Sequential models get next-item
    rows: train targets read the train sequence before them; a valid target reads the
    user's train (+ fold-in) sequence, a test target also the valid items, as recbench's
    runner feeds its own sequential models.
    """
    from recbench.splits.base import FOLD_IN, TRAIN, VALID

    atomic.write_ids(directory, directory.name, split.n_users, split.n_items)
    path = {part: directory / f"{directory.name}.{part}.inter" for part in ("train", "valid", "test")}
    if kind == "sequential":
        atomic.write_next_item_rows(path["train"], split.sequences(TRAIN), max_len)
        atomic.write_held_out_rows(path["valid"], split.sequences(TRAIN, FOLD_IN), split.valid,
                                   max_len)
        atomic.write_held_out_rows(path["test"], split.sequences(TRAIN, FOLD_IN, VALID),
                                   split.test, max_len)
    else:
        for part, matrix in (("train", split.train), ("valid", split.valid), ("test", split.test)):
            atomic.write_pairs(path[part], matrix)
    return list(path)


def prepare_split(split, name: str, kind: str, params: dict, directory: Path, seed: int,
                  metrics: list[str] | None = None, topk: int = 10, use_gpu: bool = False):
    """RecBole's own pipeline on a recbench split: ``(session, train, valid, test)`` loaders
    from RecBole's ``data_preparation`` (its full-ranking evaluation loaders included), for
    running RecBole's evaluator or trainer on exactly recbench's interactions (on GPU 0
    with ``use_gpu``)."""
    from recbole.data import data_preparation

    directory.mkdir(parents=True, exist_ok=True)
    config = recbole_config(name, kind, params, directory, ["train", "valid", "test"], seed,
                            use_gpu=use_gpu, metrics=metrics, topk=topk)
    write_split(directory, split, kind, config["MAX_ITEM_LIST_LENGTH"])
    session = RecBoleSession.load(config, split.n_users, split.n_items, build=False)
    loaders = data_preparation(config, session.dataset)
    session.parts = [loader._dataset for loader in loaders]
    return (session, *loaders)
