"""The interface of a task: ``fit`` a model on a split, then ``evaluate`` it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from recbench.models.base import FitContext


@dataclass
class Evaluation:
    """What a task's evaluation produced.

    Attributes:
        metrics: flat values to log, ``valid_*`` and ``test_*`` (e.g. ``test_ndcg@10``).
        per_user: one row per test user (``user`` plus one column per per-user metric),
            logged as ``per_user_test_metrics.parquet`` for the paired significance tests;
            None when the task has no per-user values.
        tags: facts about the evaluation to tag the run with (e.g. which user groups).
        frames: further artifacts, logged as parquet by name (CTR: the test rows'
            predictions, which the leaderboard's paired bootstrap reads).
    """

    metrics: dict[str, float]
    per_user: pd.DataFrame | None = None
    tags: dict[str, str] = field(default_factory=dict)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


class Task(ABC):
    """One task: built from the run's ``metrics`` node by the ``task`` config group."""

    name: str
    #: the validation metric early stopping and searches maximise (e.g. ``"ndcg@10"``);
    #: the run logs it as ``valid_<metric>``
    valid_metric: str

    @abstractmethod
    def split(self, dataset_cfg: dict, split_cfg: dict, load: Any, protocol: Any) -> Any:
        """The run's split of the data set: ``load()`` reads the data, ``protocol`` assigns
        rows to parts; the result carries ``fingerprint`` and ``leakage`` dicts."""

    @abstractmethod
    def fit(self, model: Any, split: Any, ctx: FitContext) -> None:
        """Fit ``model`` on the inputs of ``split`` (``ctx`` is completed by the task)."""

    @abstractmethod
    def evaluate(self, model: Any, split: Any) -> Evaluation:
        """Score a fitted model on the validation and test parts of ``split``."""
