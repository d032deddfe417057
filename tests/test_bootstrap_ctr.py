"""The paired user bootstrap of CTR metrics (recbench/report/bootstrap.py) against direct
computations: a resample's weighted metric equals sklearn's (and recbench's gAUC) on the
data with each user's rows repeated as often as the user was drawn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from recbench.errors import RecbenchError
from recbench.evaluation.ctr import gauc
from recbench.report import bootstrap


def _rows(n=600, n_users=40, seed=0, signal=1.0):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n)
    labels = rng.integers(0, 2, n)
    # rounded scores: many ties, which the weighted AUC must count as halves
    probs = np.round(1 / (1 + np.exp(-(signal * (labels - 0.5) + rng.normal(0, 1, n)))), 2)
    return users, labels, np.clip(probs, 0.01, 0.99)


def test_weighted_auc_equals_sklearn_with_sample_weights():
    _, labels, probs = _rows()
    weights = np.random.default_rng(1).integers(0, 4, (5, len(labels))).astype(float)
    got = bootstrap.weighted_auc(labels, probs, weights, np.arange(len(labels)))
    want = [roc_auc_score(labels, probs, sample_weight=w) for w in weights]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_chunked_weighted_auc_equals_unchunked(monkeypatch):
    _, labels, probs = _rows()
    weights = np.random.default_rng(2).integers(0, 3, (7, len(labels))).astype(float)
    rows = np.arange(len(labels))
    whole = bootstrap.weighted_auc(labels, probs, weights, rows)
    monkeypatch.setattr(bootstrap, "CHUNK_CELLS", len(labels) * 2)  # 2 resamples a chunk
    np.testing.assert_array_equal(bootstrap.weighted_auc(labels, probs, weights, rows), whole)


@pytest.mark.parametrize("metric", ["auc", "logloss", "gauc"])
def test_a_resample_equals_the_metric_on_repeated_users(metric):
    users, labels, probs = _rows()
    codes, n_users = bootstrap.user_codes(users)
    terms = bootstrap.RunTerms(codes, labels, probs, n_users)
    counts = np.random.default_rng(3).multinomial(n_users, np.full(n_users, 1 / n_users), 4)
    got = terms.resampled(metric, counts)
    for value, c in zip(got, counts):
        take = np.repeat(np.arange(len(labels)), c[codes])  # each row once per draw of its user
        # repeated users get new ids, as distinct draws are distinct users for gAUC
        draw = np.concatenate([np.arange(k) for k in c[codes]])
        y, p = labels[take], probs[take]
        want = {"auc": lambda: roc_auc_score(y, p),
                "logloss": lambda: log_loss(y, p),
                "gauc": lambda: gauc(codes[take] * 1000 + draw, y, p)}[metric]()
        assert value == pytest.approx(want, abs=1e-12)


def _predictions(probs, users, labels, seeds=2):
    return [pd.DataFrame({"row": np.arange(len(labels)), "user": users, "label": labels,
                          "probability": probs}) for _ in range(seeds)]


def test_identical_models_are_never_different_and_a_better_one_is():
    users, labels, good = _rows(n=3000, n_users=200, signal=3.0)
    rng = np.random.default_rng(5)
    noisy = np.clip(good + rng.normal(0, 0.3, len(good)), 0.01, 0.99)
    frames = {"a": _predictions(good, users, labels), "b": _predictions(good, users, labels),
              "c": _predictions(noisy, users, labels)}
    means = pd.DataFrame({"model": ["a", "b", "c"],
                          "auc": [roc_auc_score(labels, good)] * 2 + [roc_auc_score(labels, noisy)],
                          "logloss": [log_loss(labels, good)] * 2 + [log_loss(labels, noisy)]})
    table = bootstrap.compare_to_best(frames, ["auc", "logloss"], means, resamples=300)
    assert list(table.columns) == bootstrap.COLUMNS
    by = table.set_index(["metric", "model"])
    assert by.loc[("auc", "b"), "boot_p"] == 1.0  # a tie with the best: no evidence at all
    assert by.loc[("auc", "c"), "boot_p"] < 0.01
    assert by.loc[("logloss", "c"), "best"] == "a"  # lower is better: the clean model
    assert by.loc[("logloss", "c"), "mean_diff"] < 0  # best - other, in LogLoss units
    assert by.loc[("logloss", "c"), "ci_high"] < 0
    assert (table["boot_p_holm"] >= table["boot_p"]).all()


def test_models_must_be_scored_on_the_same_rows():
    users, labels, probs = _rows()
    other = _predictions(probs, users, labels)
    other[0]["row"] += 1
    means = pd.DataFrame({"model": ["a", "b"], "auc": [0.6, 0.5]})
    with pytest.raises(RecbenchError, match="runs of model 'b' were scored on other test rows"):
        bootstrap.compare_to_best({"a": _predictions(probs, users, labels), "b": other},
                                  ["auc"], means, resamples=10)


def test_without_users_rows_are_resampled_and_gauc_is_not_tested():
    """Criteo-like data (one group): a user bootstrap would redraw the whole test set every
    time (p = 2 / (B + 1) for any difference); rows are the units instead."""
    _, labels, good = _rows(n=2000, signal=3.0)
    users = np.zeros(len(labels), dtype=int)
    rng = np.random.default_rng(8)
    close = np.clip(good + rng.normal(0, 0.002, len(good)), 0.01, 0.99)  # nearly the same
    means = pd.DataFrame({"model": ["a", "b"], "auc": [roc_auc_score(labels, good),
                                                       roc_auc_score(labels, close)],
                          "gauc": [0.5, 0.4]})
    table = bootstrap.compare_to_best({"a": _predictions(good, users, labels),
                                       "b": _predictions(close, users, labels)},
                                      ["auc", "gauc"], means, resamples=200)
    by = table.set_index("metric")
    assert (table["unit"] == "row").all() and by.loc["auc", "n_users"] == 2000
    assert by.loc["auc", "boot_p"] > 0.05  # a negligible difference is not significant
    assert np.isnan(by.loc["gauc", "boot_p"])


def test_resamples_grow_with_the_family_of_comparisons():
    assert bootstrap.n_resamples(3) == 1000
    assert bootstrap.n_resamples(60) == 6000  # Holm: 60 x 2 / 6001 < 0.05
