"""The synthetic CTR generator: seeded, calibrated, and a ceiling no predictor passes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from recbench.data.synthetic_ctr import generate_ctr
from recbench.evaluation.ctr import auc


def test_seeded():
    a, b, c = generate_ctr(2000, seed=3), generate_ctr(2000, seed=3), generate_ctr(2000, seed=4)
    assert (a.fields == b.fields).all() and (a.labels == b.labels).all()
    assert not (a.fields == c.fields).all()
    assert a.fields.shape == (2000, 5) and (a.fields.max(axis=0) < [500, 200, 50, 20, 10]).all()


def test_optimal_probability_is_the_noise_averaged_sigmoid():
    quiet = generate_ctr(1000, noise=0.0, seed=1)
    assert np.array_equal(quiet.optimal_probs(), 1 / (1 + np.exp(-quiet.logits)))
    noisy = generate_ctr(50, noise=1.5, seed=1)
    eps = np.random.default_rng(0).standard_normal(400_000)
    monte_carlo = [np.mean(1 / (1 + np.exp(-(x + 1.5 * eps)))) for x in noisy.logits[:5]]
    assert noisy.optimal_probs()[:5] == pytest.approx(monte_carlo, abs=2e-3)


def test_labels_are_calibrated_to_the_optimal_probability():
    data = generate_ctr(200_000, seed=2)
    p = data.optimal_probs()
    bins = np.digitize(p, np.quantile(p, np.linspace(0, 1, 11)[1:-1]))
    for b in range(10):
        rows = bins == b
        se = np.sqrt(p[rows].mean() * (1 - p[rows].mean()) / rows.sum())
        assert abs(data.labels[rows].mean() - p[rows].mean()) < 4 * se


def _logistic_regression_auc(data, train, test):
    offsets = np.r_[0, np.cumsum(data.fields.max(axis=0) + 1)[:-1]]
    cols = (data.fields + offsets).ravel()
    rows = np.repeat(np.arange(len(data.labels)), data.fields.shape[1])
    onehot = sp.csr_matrix((np.ones(len(cols)), (rows, cols)))
    model = LogisticRegression(C=1.0, max_iter=1000).fit(onehot[train], data.labels[train])
    return auc(data.labels[test], model.decision_function(onehot[test]))


def test_lr_reaches_the_optimum_only_without_pairwise_interactions():
    train, test = slice(0, 60_000), slice(60_000, 80_000)
    linear = generate_ctr(80_000, pairwise=0.0, seed=5)
    assert _logistic_regression_auc(linear, train, test) > linear.optimum(test)["auc"] - 0.01
    crossed = generate_ctr(80_000, pairwise=1.5, seed=5)
    lr = _logistic_regression_auc(crossed, train, test)
    assert lr < crossed.optimum(test)["auc"] - 0.03  # the pairwise part is out of LR's reach


def test_bad_arguments():
    with pytest.raises(ValueError, match="two fields"):
        generate_ctr(10, cardinalities=(5,))
    with pytest.raises(ValueError, match=">= 0"):
        generate_ctr(10, noise=-1)
