"""CTR data: labelled rows with raw feature fields, one row per interaction.

A :class:`CTRData` wraps the :class:`~recbench.data.interactions.Interactions` its rows
come from, so every split protocol (``random_global``, ``temporal_global``, ...) assigns its
rows to parts exactly as it assigns interactions; the fields are encoded later, by encoders
fitted on the train part only (:mod:`recbench.data.features`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recbench.data.features import FieldSpec
from recbench.data.interactions import Interactions
from recbench.data.synthetic_ctr import GENERATOR_VERSION


@dataclass(frozen=True)
class CTRData:
    """Labelled rows.

    Attributes:
        interactions: the rows as interactions (user, item, timestamp): what protocols split.
        frame: ``(n, fields)`` raw field values, row ``r`` = interaction ``r``.
        labels: ``(n,) int8`` 0/1.
        fields: the spec of each column of ``frame`` that models read.
        user_field: the column gAUC groups by.
        optimal: ``(n,) float64`` the Bayes-optimal click probability of each row where the
            data is generated with a known truth (``synthetic-ctr``), else None.
    """

    interactions: Interactions
    frame: pd.DataFrame
    labels: np.ndarray
    fields: tuple[FieldSpec, ...]
    user_field: str = "user_id"
    optimal: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.interactions)
        if len(self.frame) != n or len(self.labels) != n:
            raise ValueError(f"{len(self.frame)} field rows and {len(self.labels)} labels for "
                             f"{n} interactions")
        if not np.isin(self.labels, (0, 1)).all():
            raise ValueError("labels must be 0 or 1")
        missing = [f.name for f in self.fields if f.name not in self.frame.columns]
        if missing or self.user_field not in self.frame.columns:
            raise ValueError(f"fields {missing or [self.user_field]} are not columns of the data")

    def __len__(self) -> int:
        return len(self.interactions)

    def __getattr__(self, name: str):
        # split protocols read name, timestamp, user, ... of the interactions they split
        if name.startswith("__") or name == "interactions":  # copy/pickle: not set yet
            raise AttributeError(name)
        return getattr(self.interactions, name)


#: ml-100k-ctr's fields (configs/dataset/ml-100k-ctr.yaml can change them)
ML100K_FIELDS = (
    {"name": "user_id"}, {"name": "item_id"}, {"name": "age"}, {"name": "gender"},
    {"name": "occupation"}, {"name": "zip_prefix"},
    {"name": "genres", "kind": "sequence", "separator": " ", "max_len": 6},
    {"name": "release_year"}, {"name": "hour"}, {"name": "weekday"})


def load_ml100k_ctr(name: str = "ml-100k-ctr", threshold: float = 4.0,
                    fields: list[dict] | None = None) -> CTRData:
    """MovieLens-100K as CTR rows: every rating is a row, label ``rating >= threshold``.

    Fields: ``user_id``, ``item_id``, the user's ``age``, ``gender``, ``occupation`` and
    ``zip_prefix`` (first two characters of the zip code), the movie's ``genres``
    (multi-valued) and ``release_year``, and the ``hour`` and ``weekday`` (UTC) of the
    rating's timestamp.
    """
    from dataclasses import replace

    from recbench.data.movielens import load_ml100k

    data = replace(load_ml100k(), name=name)
    users = data.user_features.loc[data.user_ids[data.user]].reset_index(drop=True)
    items = data.item_features.loc[data.item_ids[data.item]].reset_index(drop=True)
    when = pd.to_datetime(data.timestamp, unit="s", utc=True)
    frame = pd.DataFrame({
        "user_id": data.user_ids[data.user].astype(str),
        "item_id": data.item_ids[data.item].astype(str),
        "age": users["age"], "gender": users["gender"], "occupation": users["occupation"],
        "zip_prefix": users["zip_code"].astype("string").str[:2],
        "genres": items["class"], "release_year": items["release_year"],
        "hour": when.hour.astype(str), "weekday": when.weekday.astype(str)})
    labels = (data.rating >= threshold).astype(np.int8)
    specs = tuple(FieldSpec(**f) for f in (fields or ML100K_FIELDS))
    return CTRData(data, frame, labels, specs)


def load_synthetic_ctr(name: str = "synthetic-ctr", n_rows: int = 100_000,
                       cardinalities: list[int] = (500, 200, 50, 20, 10), rank: int = 4,
                       first_order: float = 0.5, pairwise: float = 1.0, bias: float = -1.0,
                       noise: float = 0.5, zipf: float = 1.0, seed: int = 0) -> CTRData:
    """Generated CTR rows with a known truth (:func:`recbench.data.synthetic_ctr.generate_ctr`,
    same arguments): categorical fields ``f0`` (the user, gAUC's groups), ``f1``, ...; the
    rows carry their Bayes-optimal probability, so a run also logs the best AUC and LogLoss
    any model could reach on its test rows, and its gap to them. Row ``r`` has timestamp
    ``r`` (``temporal_global`` splits by generation order)."""
    import hashlib
    import json

    from recbench.data.synthetic_ctr import generate_ctr

    arguments = {"n_rows": n_rows, "cardinalities": [int(c) for c in cardinalities],
                 "rank": rank, "first_order": first_order, "pairwise": pairwise, "bias": bias,
                 "noise": noise, "zipf": zipf, "seed": seed}
    made = generate_ctr(**{**arguments, "cardinalities": tuple(arguments["cardinalities"])})
    names = [f"f{f}" for f in range(made.fields.shape[1])]
    frame = pd.DataFrame({n: made.fields[:, f].astype(str) for f, n in enumerate(names)})
    canonical = json.dumps({"generator": GENERATOR_VERSION, **arguments}, sort_keys=True)
    interactions = Interactions(
        name=name, user=made.fields[:, 0], item=made.fields[:, 1],
        timestamp=np.arange(n_rows, dtype=np.float64), rating=None,
        user_ids=np.arange(arguments["cardinalities"][0]).astype(str),
        item_ids=np.arange(arguments["cardinalities"][1]).astype(str),
        source_sha256=hashlib.sha256(canonical.encode()).hexdigest(), timestamp_kind="ordinal")
    return CTRData(interactions, frame, made.labels, tuple(FieldSpec(name=n) for n in names),
                   user_field="f0", optimal=made.optimal_probs())


#: what a cached split of generated rows is keyed by (a cache hit never calls the loader)
load_synthetic_ctr.version = GENERATOR_VERSION
