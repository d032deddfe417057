"""Feature fields of CTR data: a spec per field, and encoders fitted on the train rows only.

Encoders turn raw values (strings, numbers, ``"a|b|c"`` lists) into model inputs:

- ``categorical``: one index per row. ``0`` = missing, ``1`` = out of vocabulary (a value
  not seen in train, or seen fewer than ``min_count`` times), ``2..`` = the vocabulary
  in order of decreasing train count, ties by value (deterministic).
- ``sequence`` (multi-valued, e.g. genres): ``(n, max_len)`` indices with the categorical
  rule per token; ``0`` pads short lists, long ones keep their first ``max_len`` tokens.
- ``numeric``: ``transform=none`` the value as float; ``log``: ``log1p(max(x, 0))``
  (Criteo-style counts); missing -> 0.0. ``bucket``: an index like a categorical
  field, by ``buckets`` train quantiles (``0`` = missing, ``2..`` the buckets).

A fitted encoder is plain data (:meth:`FieldEncoder.to_dict`, JSON, never pickled), and
part of what fingerprints a CTR split.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

KINDS = ("categorical", "sequence", "numeric")
TRANSFORMS = ("none", "log", "bucket")
MISSING, OOV = 0, 1  #: reserved indices of categorical and sequence fields


@dataclass(frozen=True)
class FieldSpec:
    """One field of a CTR data set (one entry of its config's ``fields`` list)."""

    name: str
    kind: str = "categorical"
    min_count: int = 1       #: categorical / sequence: rarer train values are out of vocabulary
    transform: str = "none"  #: numeric: none, log or bucket
    buckets: int = 10        #: numeric with transform=bucket: quantile buckets of train
    separator: str = "|"     #: sequence: how raw values are joined
    max_len: int = 8         #: sequence: tokens kept per row

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"field '{self.name}': kind must be one of {', '.join(KINDS)}, "
                             f"got '{self.kind}'")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"field '{self.name}': transform must be one of "
                             f"{', '.join(TRANSFORMS)}, got '{self.transform}'")
        if self.min_count < 1 or self.buckets < 1 or self.max_len < 1:
            raise ValueError(f"field '{self.name}': min_count, buckets and max_len must be >= 1")

    @property
    def indexed(self) -> bool:
        """Whether the encoded field holds indices into an embedding table."""
        return self.kind != "numeric" or self.transform == "bucket"


@dataclass
class FieldEncoder:
    """A field's spec with what was learnt from train: ``vocabulary`` (categorical and
    sequence) or ``edges`` (bucketised numeric)."""

    spec: FieldSpec
    vocabulary: list[str] = field(default_factory=list)
    edges: list[float] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Rows of the field's embedding table (indexed fields), else 0."""
        if self.spec.kind == "numeric":
            return len(self.edges) + 3 if self.spec.transform == "bucket" else 0
        return len(self.vocabulary) + 2

    def fit(self, values: pd.Series) -> "FieldEncoder":
        """Learn from the train rows' raw values."""
        spec = self.spec
        if spec.kind == "numeric":
            if spec.transform == "bucket":
                x = pd.to_numeric(values, errors="coerce").dropna().to_numpy(np.float64)
                quantiles = np.quantile(x, np.linspace(0, 1, spec.buckets + 1)[1:-1]) \
                    if len(x) else np.zeros(0)
                self.edges = [float(e) for e in np.unique(quantiles)]
            return self
        tokens = self._tokens(values)
        counts = tokens.value_counts()
        kept = counts[counts >= spec.min_count]
        # decreasing count, ties by value: the same vocabulary from the same train rows
        order = sorted(kept.items(), key=lambda kv: (-kv[1], kv[0]))
        self.vocabulary = [value for value, _ in order]
        return self

    def transform(self, values: pd.Series) -> np.ndarray:
        """``(n,) int64`` indices, ``(n, max_len) int64`` for sequences, or ``(n,)
        float64`` for plain numeric fields."""
        spec = self.spec
        if spec.kind == "numeric":
            x = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
            missing = np.isnan(x)
            if spec.transform == "bucket":
                index = np.searchsorted(np.asarray(self.edges), x, side="right") + 2
                return np.where(missing, MISSING, index).astype(np.int64)
            if spec.transform == "log":
                x = np.log1p(np.maximum(x, 0))
            return np.where(missing, 0.0, x)
        if spec.kind == "categorical":
            strings = pd.Series(values).reset_index(drop=True).astype("string")
            return np.where(strings.isna().to_numpy(), MISSING, self._index(strings))
        out = np.zeros((len(values), spec.max_len), dtype=np.int64)
        tokens = self._tokens(values)  # indexed by row position
        position = tokens.groupby(level=0).cumcount().to_numpy()
        kept = position < spec.max_len
        out[tokens.index.to_numpy()[kept], position[kept]] = self._index(tokens[kept])
        return out

    def _index(self, strings: pd.Series) -> np.ndarray:
        """Vocabulary index of each string (OOV when not in it), vectorised."""
        found = pd.Index(self.vocabulary, dtype="string").get_indexer(strings)
        return np.where(found < 0, OOV, found + 2).astype(np.int64)

    def _tokens(self, values: pd.Series) -> pd.Series:
        """Non-missing values as strings, indexed by row position; a sequence field's
        values split into their tokens."""
        strings = pd.Series(values).reset_index(drop=True).astype("string")
        if self.spec.kind == "sequence":
            strings = strings.str.split(self.spec.separator).explode().str.strip()
            strings = strings[strings != ""]
        return strings.dropna()

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON), the inverse of :meth:`from_dict`."""
        return {"spec": asdict(self.spec), "vocabulary": list(self.vocabulary),
                "edges": list(self.edges)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FieldEncoder":
        return cls(FieldSpec(**data["spec"]), list(data["vocabulary"]), list(data["edges"]))


def fit_encoders(train: pd.DataFrame, specs: list[FieldSpec]) -> list[FieldEncoder]:
    """One encoder per spec, fitted on the train rows only (no valid/test leakage)."""
    missing = [s.name for s in specs if s.name not in train.columns]
    if missing:
        raise ValueError(f"fields {missing} are not columns of the data "
                         f"(columns: {', '.join(map(str, train.columns))})")
    return [FieldEncoder(spec).fit(train[spec.name]) for spec in specs]
