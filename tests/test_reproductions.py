"""Reproduction tables (recbench/report/reproductions.py): ours vs published, fit times."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recbench.errors import RecbenchError
from recbench.report.reproductions import (_settings, fit_time_table, load_published, render,
                                           reproduction_table)


def run(dataset, model, start, **metrics):
    return {"tag.dataset": dataset, "tag.model": model, "start_time": start, "tag.seed": "0",
            "tag.recbench.overrides": json.dumps(["experiment=repro_x", f"model={model}",
                                                  "trainer.max_epochs=9", "seed=0"]),
            "tag.recbench.choices": json.dumps({"model": model}), "valid_metric": "recall@20",
            "fit_time_s": 12.0, "eval_time_s": 3.0, "epochs_trained": 4.0, **metrics}


@pytest.fixture
def published(tmp_path):
    path = tmp_path / "published.yaml"
    path.write_text(
        "- {dataset: g, model: bpr, metrics: {recall@20: 0.2, ndcg@20: 0.1}, source: paper A}\n"
        "- {dataset: g, model: ease, metrics: {recall@20: 0.3}, source: paper B}\n")
    return path


def test_gap_is_relative_to_the_published_number_and_missing_runs_say_so(published):
    runs = pd.DataFrame([run("g", "bpr", 1, test_recall_20=0.194, test_ndcg_20=0.12)])
    table = reproduction_table(runs, load_published(published))
    assert table["metric"].tolist() == ["recall@20", "ndcg@20", "recall@20"]
    assert table["gap"].iloc[0] == pytest.approx(0.194 / 0.2 - 1)  # -3.0%
    assert table["gap"].iloc[1] == pytest.approx(0.2)
    assert np.isnan(table["ours"].iloc[2]) and table["command"].iloc[2] == "not run"
    assert table["command"].iloc[0] == ("recbench run -m experiment=repro_x model=bpr "
                                        "trainer.max_epochs=9 seed=0")
    page = render(table, fit_time_table(runs), ["repro_x"])
    assert "| g | bpr | Recall@20 | 0.1940 | 0.2000 | -3.0% ✓ |" in page
    assert "| g | bpr | NDCG@20 | 0.1200 | 0.1000 | +20.0% |" in page  # outside ±3%: no ✓
    assert "| g | ease | Recall@20 | not run | 0.3000 | n/a |" in page


def test_params_pick_the_run_with_the_published_setting(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("- {dataset: b, model: sasrec, params: {model.loss: bce}, "
                    "metrics: {hit@10: 0.06}, source: S3-Rec}\n")
    runs = pd.DataFrame([{**run("b", "sasrec", 1, test_hit_10=0.05), "param.model.loss": "bce"},
                         {**run("b", "sasrec", 2, test_hit_10=0.08), "param.model.loss": "ce"}])
    table = reproduction_table(runs, load_published(path))
    assert table["model"].tolist() == ["sasrec model.loss=bce"]
    assert table["ours"].tolist() == [0.05]  # the bce run, though the ce run is newer


def test_fit_times_give_seconds_per_epoch():
    runs = pd.DataFrame([run("g", "bpr", 1, test_ndcg_10=0.3),
                         {**run("g", "ease", 2), "fit_time_s": 1.5, "epochs_trained": np.nan}])
    times = fit_time_table(runs)
    assert times["model"].tolist() == ["ease", "bpr"]  # fastest first
    assert times["s_per_epoch"].iloc[1] == pytest.approx(3.0)
    assert np.isnan(times["s_per_epoch"].iloc[0]) and np.isnan(times["test_ndcg@20"].iloc[1])


def test_settings_are_the_overrides_beyond_experiment_model_seed_and_tracking():
    overrides = ["experiment=x", "model=sasrec", "model.max_len=20", "seed=0",
                 "tracking.uri=sqlite:///a.db", "trainer.max_epochs=16"]
    assert _settings(json.dumps(overrides)) == "model.max_len=20 trainer.max_epochs=16"
    assert _settings(None) == ""


def test_published_file_errors_are_one_line(tmp_path):
    with pytest.raises(RecbenchError, match="not found"):
        load_published(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {dataset: g, model: bpr, source: s}\n")
    with pytest.raises(RecbenchError, match=r"entry 1 lacks \['metrics'\]"):
        load_published(bad)


def test_the_repository_published_file_parses():
    table = load_published(__import__("pathlib").Path("results/published.yaml"))
    assert {"gowalla_m1", "movielens1m_m1", "amazon_beauty_s3rec", "frappe_x1",
            "criteo_x1"} <= set(table["dataset"])
    assert (table["published"] > 0).all() and (table["published"] < 1).all()
