"""Leaderboard aggregation: best configuration by validation only, mean ± std over seeds."""

from __future__ import annotations

import pandas as pd
import pytest

from recbench.report.leaderboard import build_leaderboard, formatted


def fake_runs() -> pd.DataFrame:
    rows = []
    # model "a": config c1 has the better validation score but the worse test score
    for cfg, valid, tests in [("c1", 0.30, [0.20, 0.22]), ("c2", 0.25, [0.40, 0.44])]:
        for seed, test in zip((1, 2), tests):
            rows.append({"tag.dataset": "d", "tag.split": "s", "tag.model": "a",
                         "tag.seedless_config_hash": cfg, "tag.config_hash": f"{cfg}-{seed}",
                         "tag.seed": str(seed), "valid_metric": "ndcg@10",
                         "valid_ndcg_10": valid, "test_ndcg_10": test, "fit_time_s": 1.0,
                         "n_parameters": 10, "start_time": len(rows)})
    rows.append({**rows[0], "tag.model": "b", "tag.seedless_config_hash": "c3",
                 "tag.config_hash": "c3-1", "test_ndcg_10": 0.1, "start_time": 99})
    # a re-run of (c1, seed 1): only the latest counts
    rows.append({**rows[0], "test_ndcg_10": 0.24, "start_time": 100})
    return pd.DataFrame(rows)


def test_best_config_is_chosen_on_validation_not_test():
    table = build_leaderboard(fake_runs(), ["ndcg@10"])
    a = table[table["model"] == "a"].iloc[0]
    assert a["config_hash"] == "c1" and a["configs_tried"] == 2 and a["seeds"] == 2
    assert a["ndcg@10"] == pytest.approx((0.24 + 0.22) / 2)  # latest re-run replaced 0.20
    assert a["ndcg@10_std"] == pytest.approx(pd.Series([0.24, 0.22]).std(ddof=1))
    b = table[table["model"] == "b"].iloc[0]
    assert b["seeds"] == 1 and pd.isna(b["ndcg@10_std"])
    assert list(table["model"]) == ["a", "b"]  # sorted by the first metric
    cells = formatted(table, ["ndcg@10"])["NDCG@10"].tolist()
    assert cells == ["0.2300 ± 0.0141", "0.1000"]
