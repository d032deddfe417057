"""Top-N ranking under full ranking (``task=topn``, the default), or under sampled ranking
(``metrics.ranking=sampled``)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from recbench.tasks.base import Evaluation, Task

if TYPE_CHECKING:
    from recbench.models.base import FitContext, Recommender
    from recbench.splits.base import Split


class TopNRanking(Task):
    """Each evaluated user's held-out items ranked against every item (full ranking), or
    each held-out item against ``metrics.sampled.n`` items drawn among those its user never
    interacted with (``metrics.ranking=sampled``, :mod:`recbench.evaluation.sampled`).

    Inputs and masks: a model is fitted on train (validation may drive early stopping);
    cold users' fold-in interactions are input at scoring time only. Validation ranks
    every item outside train and fold-in; test also masks validation. Sequential models
    read the time-ordered sequence of everything before the held-out items.

    Under sampled ranking the accuracy metrics carry the protocol in their names
    (``s100u_ndcg@10``, logged as ``test_s100u_ndcg_10``) and the run is tagged
    ``ranking=sampled (100, uniform)``; early stopping and model selection stay on the
    full-ranking ``valid_metric``, so a model is trained and chosen exactly as under full
    ranking and only its scoring differs. Beyond-accuracy metrics describe top-K lists of
    the whole catalogue: they are refused under sampling.

    Args:
        metrics: the run's ``metrics`` node (names, ks, valid_metric, chunk_size, ranking,
            sampled and the suite options of :mod:`recbench.evaluation.options`).
    """

    name = "topn"

    def __init__(self, metrics: DictConfig):
        from recbench.config import suite_metric_names
        from recbench.errors import RecbenchError
        from recbench.evaluation.registry import (REGISTRY, SampledRanking, parse_metric,
                                                  sampled_ranking)

        self.options = metrics
        self.metrics = suite_metric_names(metrics)
        self.valid_metric = str(metrics.valid_metric)
        named = [m for m in self.metrics if sampled_ranking(m)]
        if named:
            raise RecbenchError(f"metrics.names takes plain metric names (ndcg), got "
                                f"'{named[0].split('@')[0]}'; sampled ranking is "
                                f"metrics.ranking=sampled with metrics.sampled.n/sampler.")
        if str(metrics.get("ranking", "full")) == "sampled":
            beyond = [m for m in self.metrics if REGISTRY[parse_metric(m)[0]].kind != "accuracy"]
            if beyond:
                raise RecbenchError(
                    f"metrics.ranking=sampled scores accuracy metrics only; "
                    f"{', '.join(dict.fromkeys(m.split('@')[0] for m in beyond))} describe "
                    f"top-K lists of the whole catalogue and are not defined under sampling: "
                    f"use metrics=default, or metrics.ranking=full.")
            if metrics.get("sampled") is None:
                raise RecbenchError("metrics.ranking=sampled needs metrics.sampled "
                                    "({n: 100, sampler: uniform, seed: 0}).")
            ranking = SampledRanking(int(metrics.sampled.n), str(metrics.sampled.sampler))
            self.metrics = [ranking.name(m) for m in self.metrics]

    def split(self, dataset_cfg: dict, split_cfg: dict, load, protocol) -> Split:
        from recbench.splits.make import make_split

        return make_split(dataset_cfg, split_cfg, load, protocol)

    def fit(self, model: Recommender, split: Split, ctx: FitContext) -> None:
        from recbench.splits.base import TRAIN

        ctx = replace(ctx, split=split)
        if model.uses_sequences:  # sequential models read time-ordered sequences
            ctx = replace(ctx, sequences=split.sequences(TRAIN))
        if split.hidden.nnz:  # early stopping masks what the reported valid metric masks
            ctx = replace(ctx, masked=(split.hidden,))
        model.fit(split.train, split.valid, ctx)
        if split.fold_in.nnz:  # cold users: their fold-in is input at scoring time only
            model.set_history(split.train + split.fold_in)

    def test_inputs(self, model: Recommender, split: Split) -> tuple:
        """Give a fitted model its test-time inputs (sequential models: everything before
        the test items); return ``(truth, masked)``: the test part and the matrices of
        items masked when testing (those masked when validating, and valid)."""
        from recbench.splits.base import FOLD_IN, TRAIN, VALID

        if model.uses_sequences:
            model.set_sequences(split.sequences(TRAIN, FOLD_IN, VALID))
        return split.test, [*self._masked(split), split.valid]

    @staticmethod
    def _masked(split: Split) -> list:
        """Items masked when validating: train, fold-in and train left out by
        ``split.train_fraction`` (``split.hidden``)."""
        return [split.train, split.fold_in, split.hidden]

    def evaluate(self, model: Recommender, split: Split) -> Evaluation:
        import pandas as pd

        from recbench.evaluation.suite import MetricSuite, list_length
        from recbench.splits.base import FOLD_IN, TRAIN

        options = self.options
        suite = MetricSuite.from_config(options, self.metrics, options.valid_metric, split)
        seen = self._masked(split)
        if model.uses_sequences:  # input: everything before the held-out item(s)
            model.set_sequences(split.sequences(TRAIN, FOLD_IN))
        # duck-typed models (scoring functions without the Recommender base) rank everything
        parts = getattr(model, "parts", ("valid", "test"))
        ends = getattr(model, "lists_end_at_minus_inf", False)
        rank_part = getattr(model, "rank_part", lambda part, k: None)
        if "valid" in parts:
            rank_part("valid", list_length(suite.valid_metrics))
            valid = suite.evaluate(model.score, split.valid, seen, options.chunk_size,
                                   test=False, lists_end_at_minus_inf=ends)
        truth, masked = self.test_inputs(model, split)
        rank_part("test", list_length(suite.metrics))
        test = suite.evaluate(model.score, truth, masked, options.chunk_size, test=True,
                              lists_end_at_minus_inf=ends)
        groups = {f"group.{a}": labels[test.users] for a, labels in suite.groups.items()}
        per_user = pd.DataFrame({"user": split.data.user_ids[test.users], **test.per_user,
                                 **groups})
        summary = (valid.summary("valid_") if "valid" in parts else {}) | test.summary("test_")
        return Evaluation(summary, per_user, suite.notes)
