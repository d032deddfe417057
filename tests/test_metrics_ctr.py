"""CTR metrics against scikit-learn and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from recbench.evaluation.ctr import auc, gauc, logloss


def _data(seed: int, n: int = 5000):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    probs = np.clip(0.5 + 0.2 * (labels - 0.5) + rng.normal(0, 0.2, n), 0.01, 0.99)
    users = rng.integers(0, 300, n)
    return users, labels, probs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_and_logloss_equal_sklearn_with_ties(seed):
    _, labels, probs = _data(seed)
    tied = np.round(probs, 2)  # about 100 distinct values: many ties
    assert auc(labels, tied) == pytest.approx(roc_auc_score(labels, tied), abs=1e-9)
    assert auc(labels, probs) == pytest.approx(roc_auc_score(labels, probs), abs=1e-9)
    assert logloss(labels, probs) == pytest.approx(log_loss(labels, probs), abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_gauc_equals_a_plain_loop_over_sklearn(seed):
    users, labels, probs = _data(seed)
    probs = np.round(probs, 1)  # ties inside users
    total = weight = 0.0
    for u in np.unique(users):
        rows = users == u
        if len(set(labels[rows])) == 2:
            total += roc_auc_score(labels[rows], probs[rows]) * rows.sum()
            weight += rows.sum()
    assert gauc(users, labels, probs) == pytest.approx(total / weight, abs=1e-9)


def test_hand_values():
    # positives at 0.9 and 0.4, negatives at 0.4 and 0.1: pairs won 1 + 1 + 1 + a tie
    assert auc([1, 1, 0, 0], [0.9, 0.4, 0.4, 0.1]) == 0.875
    # user a: perfectly ranked (AUC 1, 2 rows); user b: reversed (AUC 0, 3 rows);
    # user c: one class only, left out
    users = ["a", "a", "b", "b", "b", "c"]
    assert gauc(users, [1, 0, 1, 0, 0, 1], [0.8, 0.2, 0.1, 0.5, 0.6, 0.9]) == 2 / 5
    assert logloss([1, 0], [1.0, 1.0]) == pytest.approx(-(math.log(1 - 1e-7) + math.log(1e-7)) / 2)
    assert math.isnan(auc([1, 1], [0.2, 0.3])) and math.isnan(gauc([0, 1], [1, 0], [0.5, 0.5]))


def test_scores_on_any_monotone_scale_give_the_same_auc():
    users, labels, probs = _data(3)
    logits = np.log(probs / (1 - probs))
    assert auc(labels, logits) == pytest.approx(auc(labels, probs), abs=1e-12)
    assert gauc(users, labels, logits) == pytest.approx(gauc(users, labels, probs), abs=1e-12)


@pytest.mark.parametrize("labels, probs, message", [
    ([0, 2], [0.1, 0.2], "labels must be 0 or 1"),
    ([0, 1], [0.1, float("nan")], "predictions must be finite"),
    ([0, 1, 1], [0.1, 0.2], "1-D of one length"),
])
def test_bad_input_is_refused(labels, probs, message):
    with pytest.raises(ValueError, match=message):
        auc(labels, probs)


def test_ctr_metrics_are_leaderboard_columns_without_k():
    from recbench.errors import RecbenchError
    from recbench.evaluation.registry import (display_name, higher_is_better, parse_column,
                                              parse_metric)

    assert parse_column("AUC") == ("auc", None)
    assert [higher_is_better(m) for m in ("auc", "logloss", "gauc", "auc_gap")] == [
        True, False, True, False]
    assert display_name("gauc") == "gAUC" and display_name("logloss") == "LogLoss"
    with pytest.raises(RecbenchError, match="unknown metric 'auc'"):
        parse_metric("auc@10")  # a top-N suite cannot name a CTR metric
