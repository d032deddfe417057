"""Top-N ranking under full ranking (``task=topn``, the default)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from recbench.tasks.base import Evaluation, Task

if TYPE_CHECKING:
    from recbench.models.base import FitContext, Recommender
    from recbench.splits.base import Split


class TopNRanking(Task):
    """Each evaluated user's held-out items ranked against every item (full ranking).

    Inputs and masks: a model is fitted on train (validation may drive early stopping);
    cold users' fold-in interactions are input at scoring time only. Validation ranks
    every item outside train and fold-in; test also masks validation. Sequential models
    read the time-ordered sequence of everything before the held-out items.

    Args:
        metrics: the run's ``metrics`` node (names, ks, valid_metric, chunk_size and the
            suite options of :mod:`recbench.evaluation.options`).
    """

    name = "topn"

    def __init__(self, metrics: DictConfig):
        from recbench.config import suite_metric_names

        self.options = metrics
        self.metrics = suite_metric_names(metrics)
        self.valid_metric = str(metrics.valid_metric)

    def split(self, dataset_cfg: dict, split_cfg: dict, load, protocol) -> Split:
        from recbench.splits.make import make_split

        return make_split(dataset_cfg, split_cfg, load, protocol)

    def fit(self, model: Recommender, split: Split, ctx: FitContext) -> None:
        from recbench.splits.base import TRAIN

        if model.uses_sequences:  # sequential models read time-ordered sequences
            ctx = replace(ctx, sequences=split.sequences(TRAIN))
        model.fit(split.train, split.valid, ctx)
        if split.fold_in.nnz:  # cold users: their fold-in is input at scoring time only
            model.set_history(split.train + split.fold_in)

    def evaluate(self, model: Recommender, split: Split) -> Evaluation:
        import pandas as pd

        from recbench.evaluation.suite import MetricSuite
        from recbench.splits.base import FOLD_IN, TRAIN, VALID

        options = self.options
        suite = MetricSuite.from_config(options, self.metrics, options.valid_metric, split)
        seen = [split.train, split.fold_in]
        if model.uses_sequences:  # input: everything before the held-out item(s)
            model.set_sequences(split.sequences(TRAIN, FOLD_IN))
        valid = suite.evaluate(model.score, split.valid, seen, options.chunk_size, test=False)
        if model.uses_sequences:
            model.set_sequences(split.sequences(TRAIN, FOLD_IN, VALID))
        test = suite.evaluate(model.score, split.test, [*seen, split.valid], options.chunk_size,
                              test=True)
        groups = {f"group.{a}": labels[test.users] for a, labels in suite.groups.items()}
        per_user = pd.DataFrame({"user": split.data.user_ids[test.users], **test.per_user,
                                 **groups})
        return Evaluation(valid.summary("valid_") | test.summary("test_"), per_user, suite.notes)
