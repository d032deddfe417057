"""Paired significance tests against hand-computed values (scipy's distributions as oracle)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recbench.report.significance import compare_to_best, holm, paired_test, seed_mean


@pytest.mark.parametrize("p, expected", [
    ([0.01, 0.04, 0.03, 0.5], [0.04, 0.09, 0.09, 0.5]),   # 4*.01, max(3*.03, 2*.04), 1*.5
    ([0.3, 0.6], [0.6, 0.6]),                             # 2*.3; 1*.6
    ([0.5, 0.9, 0.2], [1.0, 1.0, 0.6]),                   # 3*.2; min(1, 2*.5); max(1, .9)
    ([0.02], [0.02]),
    ([0.01, float("nan"), 0.04, 0.03], [0.03, float("nan"), 0.06, 0.06]),  # m = 3
    ([], []),
])
def test_holm_matches_hand_computed_adjustments(p, expected):
    np.testing.assert_allclose(holm(p), expected, rtol=0, atol=1e-12)


def test_paired_t_test_and_effect_size_by_hand():
    best = np.array([0.5, 0.4, 0.9, 0.3, 0.7])
    other = np.array([0.3, 0.5, 0.6, 0.1, 0.2])
    # d = [0.2, -0.1, 0.3, 0.2, 0.5]: mean 0.22, squared deviations sum 0.188
    mean, sd = 0.22, math.sqrt(0.188 / 4)
    t = mean / (sd / math.sqrt(5))
    p = 2 * stats.t.sf(abs(t), df=4)  # the t distribution as oracle, not ttest_rel
    result = paired_test(best, other)
    assert result["n_users"] == 5
    assert result["mean_diff"] == pytest.approx(mean)
    assert result["effect_size_dz"] == pytest.approx(mean / sd)
    assert result["t_stat"] == pytest.approx(t)
    assert result["t_p"] == pytest.approx(p)


def test_wilcoxon_exact_p_value_by_hand():
    # differences without ties or zeros, so the exact null distribution applies
    other = np.zeros(5)
    best = np.array([0.1, 0.3, -0.2, 0.5, 0.4])
    result = paired_test(best, other)
    # ranks of |d|: .1->1 .2->2 .3->3 .4->4 .5->5; W- = 2 (the only negative), W+ = 13
    assert result["w_stat"] == 2
    # exact null distribution: subsets of {1..5} with rank sum <= 2 are {}, {1}, {2}: 3/32
    assert result["w_p"] == pytest.approx(2 * 3 / 32)


def test_identical_and_constant_differences_do_not_crash():
    x = np.array([0.1, 0.2, 0.3])
    same = paired_test(x, x)
    assert same["t_p"] == 1.0 and same["w_p"] == 1.0 and same["effect_size_dz"] == 0.0
    shifted = paired_test(x + 0.1, x)  # zero variance: infinitely many standard errors
    assert shifted["t_p"] == 0.0 and shifted["effect_size_dz"] == math.inf


def _frame(values: dict[str, list[float]], users: list[int]) -> pd.DataFrame:
    return pd.DataFrame(values, index=pd.Index(users, name="user"))


def test_compare_to_best_picks_the_best_per_metric_and_corrects_over_the_family():
    rng = np.random.default_rng(0)
    users = list(range(40))
    a = rng.random(40)
    per_user = {
        "good": _frame({"ndcg@10": a + 0.2, "recall@10": a}, users),
        "mid": _frame({"ndcg@10": a + 0.1 * rng.random(40), "recall@10": a + 0.3}, users),
        "bad": _frame({"ndcg@10": a, "recall@10": a - 0.05 * rng.random(40)}, users),
    }
    means = pd.DataFrame({"model": list(per_user),
                          "ndcg@10": [per_user[k]["ndcg@10"].mean() for k in per_user],
                          "recall@10": [per_user[k]["recall@10"].mean() for k in per_user]})
    table = compare_to_best(per_user, ["ndcg@10", "recall@10"], means)
    assert len(table) == 4  # 2 metrics x 2 non-best models
    assert set(table.loc[table.metric == "ndcg@10", "best"]) == {"good"}
    assert set(table.loc[table.metric == "recall@10", "best"]) == {"mid"}
    row = table[(table.metric == "ndcg@10") & (table.model == "bad")].iloc[0]
    assert row.t_p < 1e-10 and row.t_p_holm < 1e-9  # a (near) constant +0.2 on every user
    np.testing.assert_allclose(table.t_p_holm, holm(table.t_p))  # one family: the table
    np.testing.assert_allclose(table.w_p_holm, holm(table.w_p))
    assert (table.t_p_holm >= table.t_p).all()
    mid = table[(table.metric == "ndcg@10") & (table.model == "mid")].iloc[0]
    d = (a + 0.2) - per_user["mid"]["ndcg@10"].to_numpy()
    assert mid.t_p == pytest.approx(stats.ttest_rel(a + 0.2, per_user["mid"]["ndcg@10"]).pvalue)
    assert mid.w_p == pytest.approx(stats.wilcoxon(d).pvalue)
    assert mid.effect_size_dz == pytest.approx(d.mean() / d.std(ddof=1))


def test_users_are_paired_on_the_users_both_models_have():
    per_user = {"x": _frame({"ndcg@10": [1.0, 0.0, 1.0]}, [1, 2, 3]),
                "y": _frame({"ndcg@10": [0.5, 0.0, 0.0]}, [2, 3, 4])}
    means = pd.DataFrame({"model": ["x", "y"], "ndcg@10": [0.9, 0.1]})
    row = compare_to_best(per_user, ["ndcg@10"], means).iloc[0]
    assert row.n_users == 2 and row.mean_diff == pytest.approx(((0 - .5) + (1 - 0)) / 2)


def test_seed_mean_averages_each_user_over_seeds():
    s1 = pd.DataFrame({"user": [3, 1], "m": [1.0, 0.0]})
    s2 = pd.DataFrame({"user": [1, 3], "m": [0.5, 0.0]})
    out = seed_mean([s1, s2], ["m"])
    assert out["m"].to_dict() == {1: 0.25, 3: 0.5}
