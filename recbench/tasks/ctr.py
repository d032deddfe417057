"""CTR prediction (``task=ctr``): labelled rows, a click probability per row, scored by AUC,
LogLoss and gAUC (:mod:`recbench.evaluation.ctr`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from omegaconf import DictConfig

from recbench.errors import RecbenchError
from recbench.tasks.base import Evaluation, Task

if TYPE_CHECKING:
    from recbench.data.ctr import CTRData
    from recbench.data.features import FieldEncoder
    from recbench.models.base import FitContext
    from recbench.models.ctr.estimator import CTRModel, CTRPart

METRICS = ("auc", "logloss", "gauc")
VALID_METRIC = "auc"  #: early stopping and model selection maximise it
#: the test rows' predictions (``row``, ``user``, ``label``, ``probability``)
PREDICTIONS_ARTIFACT = "test_predictions.parquet"


@dataclass
class CTRSplit:
    """Encoded parts (train, valid, test) of a CTR data set, with the encoders fitted on
    train and the fingerprint of it all."""

    parts: dict[int, "CTRPart"]
    encoders: list["FieldEncoder"]
    fingerprint: dict
    leakage: dict


def encode(data: "CTRData", rows: np.ndarray, encoders: list["FieldEncoder"]) -> "CTRPart":
    """The ``rows`` (a boolean mask) of ``data`` as model inputs."""
    import torch

    from recbench.models.ctr.estimator import CTRPart
    from recbench.models.ctr.layers import CTRInputs

    frame = data.frame[rows]
    indexed = [e for e in encoders if e.spec.indexed and e.spec.kind != "sequence"]
    sequences = [e for e in encoders if e.spec.kind == "sequence"]
    numeric = [e for e in encoders if not e.spec.indexed]
    as_long = [e.transform(frame[e.spec.name]) for e in indexed]
    inputs = CTRInputs(
        torch.from_numpy(np.stack(as_long, axis=1) if as_long else np.zeros((len(frame), 0),
                                                                            np.int64)),
        tuple(torch.from_numpy(e.transform(frame[e.spec.name])) for e in sequences),
        torch.from_numpy(np.stack([e.transform(frame[e.spec.name]) for e in numeric], axis=1)
                         .astype(np.float32)) if numeric else None)
    users = frame[data.user_field].fillna("").astype(str).to_numpy(dtype=object)
    return CTRPart(inputs, data.labels[rows], users,
                   [e.size for e in indexed], [e.size for e in sequences],
                   np.flatnonzero(rows), None if data.optimal is None else data.optimal[rows])


class CTRPrediction(Task):
    """Each row's click probability, from its fields; the model is fitted on the train
    rows (validation AUC drives early stopping) and scored on valid and test rows. Field
    encoders are fitted on the train rows only.

    Args:
        metrics: the run's ``metrics`` node (the top-N suite: not read by this task, which
            always computes AUC, LogLoss and gAUC).
    """

    name = "ctr"
    valid_metric = VALID_METRIC

    def __init__(self, metrics: DictConfig):
        self.options = metrics

    def split(self, dataset_cfg: dict, split_cfg: dict, load, protocol) -> CTRSplit:
        """The encoded parts, read from the split cache when an identical input and config
        were encoded before (:mod:`recbench.tasks.ctr_cache`)."""
        from recbench.data.loader import cache_dir
        from recbench.splits.fraction import without_fraction
        from recbench.splits.make import cache_key
        from recbench.tasks import ctr_cache

        # train_fraction is 1.0 here (config.validate): the cache key and fingerprint are
        # those of CTR runs before the key existed
        split_cfg, _ = without_fraction(split_cfg)
        # a hit skips load(): what the loader generates is keyed by its version
        key = cache_key(dataset_cfg, split_cfg, task=self.name, format=ctr_cache.VERSION,
                        generator=getattr(getattr(load, "func", load), "version", None))
        path = cache_dir() / "splits" / f"{key}.npz"
        split = ctr_cache.load(path)
        if split is None:
            split = self._encode(dataset_cfg, split_cfg, load, protocol)
            ctr_cache.save(path, split)
            split.fingerprint["cache"] = "miss"
        else:
            split.fingerprint["cache"] = "hit"
        return split

    def _encode(self, dataset_cfg: dict, split_cfg: dict, load, protocol) -> CTRSplit:
        from recbench.data.ctr import CTRData
        from recbench.data.features import fit_encoders
        from recbench.splits.base import TEST, TRAIN, VALID
        from recbench.splits.make import check_parts

        data = load()
        if not isinstance(data, CTRData):
            raise RecbenchError(f"dataset '{dataset_cfg.get('name')}' has no labelled rows: "
                                f"task=ctr needs a CTR data set, e.g. dataset=ml-100k-ctr.")
        assign = protocol.assign(data)
        check_parts(assign, protocol, split_cfg.get("name"), data.name)
        encoders = fit_encoders(data.frame[assign == TRAIN], list(data.fields))
        parts = {p: encode(data, assign == p, encoders) for p in (TRAIN, VALID, TEST)}
        described = {"data": data.source_sha256, "dataset": dataset_cfg, "split": split_cfg,
                     "assign": hashlib.sha256(assign.tobytes()).hexdigest(),
                     "encoders": [e.to_dict() for e in encoders]}
        stats = {f"n_{name}": len(parts[p]) for name, p in
                 (("train", TRAIN), ("valid", VALID), ("test", TEST))}
        stats |= {f"positive_rate_{name}": float(parts[p].labels.mean()) if len(parts[p]) else 0.0
                  for name, p in (("train", TRAIN), ("test", TEST))}
        fingerprint = {"sha256": hashlib.sha256(json.dumps(described, sort_keys=True,
                                                           default=str).encode()).hexdigest(),
                       "data_sha256": data.source_sha256, "stats": stats}
        users = data.frame[data.user_field]
        unseen = ~users[assign == TEST].isin(set(users[assign == TRAIN]))
        leakage = {"test_rows_of_users_unseen_in_train": float(unseen.mean()) if len(unseen)
                   else 0.0}
        return CTRSplit(parts, encoders, fingerprint, leakage)

    def fit(self, model: "CTRModel", split: CTRSplit, ctx: "FitContext") -> None:
        from recbench.splits.base import TRAIN, VALID

        model.fit(split.parts[TRAIN], split.parts[VALID],
                  replace(ctx, valid_metric=VALID_METRIC, split=split))

    def evaluate(self, model: "CTRModel", split: CTRSplit) -> Evaluation:
        import pandas as pd

        from recbench.splits.base import TEST, VALID

        out, frames = {}, {}
        parts = getattr(model, "parts", ("valid", "test"))  # a submission may lack valid
        for prefix, part in (("valid_", split.parts[VALID]), ("test_", split.parts[TEST])):
            if not len(part) or prefix[:-1] not in parts:
                continue
            p = model.predict(part)
            out |= {prefix + k: v for k, v in scores(part.labels, p, part.users).items()}
            if part.optimal is not None:  # generated data: the best any model could do
                best = scores(part.labels, part.optimal, part.users)
                out |= {f"{prefix}optimal_{k}": v for k, v in best.items()}
                out |= {f"{prefix}auc_gap": best["auc"] - out[prefix + "auc"],
                        f"{prefix}logloss_gap": out[prefix + "logloss"] - best["logloss"]}
            if prefix == "test_":  # what the leaderboard's paired user bootstrap reads
                frames[PREDICTIONS_ARTIFACT] = pd.DataFrame({
                    "row": part.ids, "user": part.users, "label": part.labels,
                    "probability": p})
        return Evaluation(out, None, {"task": "ctr"}, frames)


def scores(labels: np.ndarray, p: np.ndarray, users: np.ndarray) -> dict[str, float]:
    """AUC, LogLoss and gAUC of the probabilities ``p`` of rows with ``labels``."""
    from recbench.evaluation.ctr import auc, gauc, logloss

    return {"auc": auc(labels, p), "logloss": logloss(labels, p), "gauc": gauc(users, labels, p)}
