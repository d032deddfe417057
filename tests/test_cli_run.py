"""End to end: `recbench run` logs to MLflow; failures are FAILED with a traceback; leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from recbench.cli import main
from tests.conftest import recbench_cli


def runs_of(uri: str, experiment: str = "default"):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


def test_sweep_logs_everything(store, capsys):
    rc = main(["run", "-m", "model=mostpop,bpr", "trainer.max_epochs=3", "seed=5",
               *store["overrides"]])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.count("done: ") == 2
    client, runs = runs_of(store["uri"])
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    bpr = next(r for r in runs if r.data.tags["model"] == "bpr")
    tags, params, metrics = bpr.data.tags, bpr.data.params, bpr.data.metrics
    assert (tags["dataset"], tags["split"], tags["seed"]) == ("ml-100k", "random_ratio", "5")
    assert len(tags["config_hash"]) == 64 and len(tags["split_fingerprint"]) == 64
    assert params["model.dim"] == "64" and params["trainer.max_epochs"] == "3"
    for key in ("test_ndcg_10", "valid_ndcg_10", "test_map_20", "fit_time_s", "eval_time_s"):
        assert key in metrics
    curve = client.get_metric_history(bpr.info.run_id, "train_loss")
    assert [m.step for m in curve] == [0, 1, 2]
    assert len(client.get_metric_history(bpr.info.run_id, "epoch_valid_ndcg_10")) == 3
    assert len(client.get_metric_history(bpr.info.run_id, "valid_ndcg_10")) == 1
    artifacts = {a.path for a in client.list_artifacts(bpr.info.run_id)}
    assert artifacts >= {"config.yaml", "environment.json", "split_fingerprint.json",
                         "per_user_test_metrics.parquet"}
    local = Path(client.download_artifacts(bpr.info.run_id, "per_user_test_metrics.parquet"))
    per_user = pd.read_parquet(local)
    assert len(per_user) == 943 and per_user["ndcg@10"].mean() == pytest.approx(
        metrics["test_ndcg_10"])
    env = json.loads(Path(client.download_artifacts(bpr.info.run_id, "environment.json")).read_text())
    assert env["packages"]["torch"].startswith("2.13.0") and env["python"].startswith("3.11")
    fp = json.loads(Path(client.download_artifacts(bpr.info.run_id,
                                                   "split_fingerprint.json")).read_text())
    assert fp["sha256"] == tags["split_fingerprint"] and fp["stats"]["n_test"] > 0


def test_failed_run_is_marked_and_the_sweep_goes_on(store, capsys):
    rc = main(["run", "-m", "model=mostpop",
               "model._target_=tests.boom.Exploding,recbench.models.mostpop.MostPop,"
               "tests.boom.NaNScores", *store["overrides"]])
    assert rc == 1
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err and "2 run(s) failed" in err
    assert "Traceback" not in err  # one line per failure; the traceback is an artifact
    client, runs = runs_of(store["uri"])
    assert [r.info.status for r in runs] == ["FAILED", "FINISHED", "FAILED"]
    exploded = runs[0].info.run_id
    trace = Path(client.download_artifacts(exploded, "traceback.txt")).read_text()
    assert "RuntimeError: boom" in trace
    # what was logged before the failure is kept
    assert [m.value for m in client.get_metric_history(exploded, "train_loss")] == [1.5]
    assert "config.yaml" in {a.path for a in client.list_artifacts(exploded)}
    nan_trace = Path(client.download_artifacts(runs[2].info.run_id, "traceback.txt")).read_text()
    assert "NaN scores" in nan_trace


def test_bad_config_writes_nothing(store, capsys):
    assert main(["run", "-m", "model=ease,bprr", *store["overrides"]]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: unknown model 'bprr'. Did you mean 'bpr'? "
                   "Valid choices: bpr, ease, itemknn, mostpop.")
    assert not Path(store["uri"].removeprefix("sqlite:///")).exists()


def test_leaderboard_from_the_store(store, tmp_path, capsys):
    assert main(["run", "-m", "model=mostpop,ease", "seed=1,2", "name=lb_test",
                 *store["overrides"]]) == 0
    assert main(["leaderboard", "--experiment", "lb_test", "--tracking-uri", store["uri"],
                 "--out-dir", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert "recbench leaderboard: lb_test" in out
    table = pd.read_csv(tmp_path / "results" / "lb_test" / "leaderboard.csv")
    assert list(table["model"]) == ["ease", "mostpop"]
    assert list(table["seeds"]) == [2, 2]
    assert table.loc[0, "ndcg@10"] > table.loc[1, "ndcg@10"]
    md = (tmp_path / "results" / "lb_test" / "leaderboard.md").read_text()
    assert "| ease | ml-100k | random_ratio | 2 |" in md and "NDCG@10" in md
    assert main(["leaderboard", "--experiment", "nope", "--tracking-uri", store["uri"]]) == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err


def test_same_config_and_seed_in_two_processes_gives_identical_metrics(tmp_path):
    """Repeatability: two separate processes, same config + seed => identical test metrics
    (the first process splits from raw and fills the split cache, the second reads it)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["run", "model=bpr", "trainer.max_epochs=4", "seed=11", "trainer.progress_bar=false",
            f"tracking.uri={uri}", f"tracking.artifact_root={tmp_path / 'art'}"]
    for _ in range(2):
        done = recbench_cli(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    _, runs = runs_of(uri)
    first, second = ({k: v for k, v in r.data.metrics.items() if k.startswith(("test_", "valid_"))}
                     for r in runs)
    assert len(first) == 42 and first == second
    assert runs[0].data.tags["config_hash"] == runs[1].data.tags["config_hash"]
    assert runs[0].data.tags["split_fingerprint"] == runs[1].data.tags["split_fingerprint"]
    assert len(list((tmp_path / "cache" / "splits").glob("*.npz"))) == 1


def test_cold_user_and_predefined_protocols_end_to_end(store, capsys):
    assert main(["run", "-m", "model=ease,mostpop", "split=cold_user", *store["overrides"]]) == 0
    assert main(["run", "dataset=amazonelectronics_m1", "split=predefined", "model=itemknn",
                 *store["overrides"]]) == 0
    client, runs = runs_of(store["uri"])
    assert [r.info.status for r in runs] == ["FINISHED"] * 3
    ease, mostpop, knn = (r.data for r in runs)
    # cold test users are scored from their fold-in history, never trained on
    assert ease.metrics["leakage_test_users_without_train"] == 0
    assert ease.metrics["test_ndcg_10"] > mostpop.metrics["test_ndcg_10"] + 0.05
    assert knn.tags["dataset"] == "amazonelectronics_m1" and knn.tags["split"] == "predefined"
    assert knn.metrics["leakage_n_test"] == 4044  # the published test file, untouched
    leakage = json.loads(Path(client.download_artifacts(runs[2].info.run_id,
                                                        "leakage.json")).read_text())
    assert leakage["pairs_in_train_and_test"] == knn.metrics["leakage_pairs_in_train_and_test"]
