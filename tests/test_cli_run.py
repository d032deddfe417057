"""End to end: `recbench run` logs to MLflow; failures are FAILED with a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from recbench.cli import main
from recbench.config import group_options
from tests.conftest import recbench_cli


def runs_of(uri: str, experiment: str = "default", sweeps: bool = False):
    """(client, runs in start order); sweep parent runs only with ``sweeps=True``."""
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    return client, [r for r in runs if (r.data.tags.get("recbench.sweep") == "true") == sweeps]


def test_sweep_logs_everything(store, capsys):
    rc = main(["run", "-m", "model=mostpop,bpr", "trainer.max_epochs=3", "seed=5",
               *store["overrides"]])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.count("done: ") == 2
    client, runs = runs_of(store["uri"])
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    _, [parent] = runs_of(store["uri"], sweeps=True)  # one parent run per sweep
    assert parent.info.status == "FINISHED" and parent.data.metrics["n_finished"] == 2
    assert parent.data.params["n_runs"] == "2"
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {parent.info.run_id}
    bpr = next(r for r in runs if r.data.tags["model"] == "bpr")
    tags, params, metrics = bpr.data.tags, bpr.data.params, bpr.data.metrics
    assert (tags["dataset"], tags["split"], tags["seed"]) == ("ml-100k", "random_ratio", "5")
    assert len(tags["config_hash"]) == 64 and len(tags["split_fingerprint"]) == 64
    assert params["model.dim"] == "64" and params["trainer.max_epochs"] == "3"
    # params: what changes results (the store's URI may hold a password: config.yaml only)
    assert params["seed"] == "5" and "metrics.chunk_size" not in params
    assert not any(k.startswith(("tracking.", "sweep.", "tuning.")) for k in params)
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
                   f"Valid choices: {', '.join(group_options('model'))}.")
    assert not Path(store["uri"].removeprefix("sqlite:///")).exists()


def test_same_config_and_seed_in_two_processes_gives_identical_metrics(tmp_path):
    """Repeatability: two separate processes, same config + seed => identical test metrics
    (the first process splits from raw and fills the split cache, the second reads it)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["run", "--rerun", "model=bpr", "trainer.max_epochs=4", "seed=11", "trainer.progress_bar=false",
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


def test_rerunning_a_sweep_runs_only_what_is_missing(store, capsys):
    sweep = ["run", "-m", "model=mostpop,itemknn", "seed=1", *store["overrides"]]
    assert main(["run", "model=mostpop", "seed=1", *store["overrides"]]) == 0
    # a run of itemknn whose process died (SIGKILL): left RUNNING with a dead pid
    client, [first] = runs_of(store["uri"])
    from recbench.config import compose, config_hash
    stale_hash = config_hash(compose(["model=itemknn", "seed=1", *store["overrides"]]))
    stale = client.create_run(first.info.experiment_id, tags={
        "config_hash": stale_hash, "recbench.host": __import__("platform").node(),
        "recbench.pid": "999999999"})
    capsys.readouterr()
    assert main(sweep) == 0
    out = capsys.readouterr().out
    assert out.count("skip: mostpop seed=1") == 1 and out.count("done: itemknn seed=1") == 1
    assert client.get_run(stale.info.run_id).info.status == "KILLED"
    assert main(sweep) == 0
    assert capsys.readouterr().out.count("skip: ") == 2  # nothing left to do
    assert main(["run", "--rerun", *sweep[1:]]) == 0
    assert capsys.readouterr().out.count("done: ") == 2
    _, runs = runs_of(store["uri"])
    finished = [r for r in runs if r.info.status == "FINISHED"]
    assert len(finished) == 4  # 1 + 1 + 0 + 2: no duplicate run without --rerun
    _, parents = runs_of(store["uri"], sweeps=True)
    assert [p.data.metrics["n_skipped"] for p in parents] == [1, 2, 0]


def test_ctrl_c_ends_the_current_run_killed_and_exits_cleanly(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cmd = [str(Path(sys.executable).with_name("recbench")), "run", "-m", "model=bpr,mostpop",
           "trainer.max_epochs=1000", "trainer.patience=1000", "trainer.progress_bar=false",
           f"tracking.uri={uri}", f"tracking.artifact_root={tmp_path / 'art'}"]
    # a suite started in the background (`make test &`) inherits SIGINT ignored, and Python
    # keeps it ignored: give the child the default disposition a terminal user's shell has
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**__import__("os").environ,
                                            "RECBENCH_CACHE": str(tmp_path / "cache")},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until BPR is training (its curve has points)
        time.sleep(1)
        try:
            client, runs = runs_of(uri)
        except Exception:
            continue
        if runs and client.get_metric_history(runs[0].info.run_id, "train_loss"):
            break
    else:
        proc.kill()
        pytest.fail(f"BPR never started training: {proc.communicate()[1][-2000:]}")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: the current run is marked KILLED" in err and "Traceback" not in err
    _, runs = runs_of(uri)
    assert [(r.data.tags["model"], r.info.status) for r in runs] == [("bpr", "KILLED")]
    _, [parent] = runs_of(uri, sweeps=True)
    assert parent.info.status == "KILLED"


def test_runs_lists_and_filters(store, capsys):
    main(["run", "-m", "model=mostpop", "model._target_=tests.boom.Exploding,"
          "recbench.models.mostpop.MostPop", *store["overrides"]])
    capsys.readouterr()
    assert main(["runs", "--status", "failed", "--tracking-uri", store["uri"]]) == 0
    out = capsys.readouterr().out
    assert "recbench runs (1 shown)" in out and "FAILED" in out and "FINISHED" not in out
    assert main(["runs", "--experiment", "default", "--tracking-uri", store["uri"]]) == 0
    assert "(3 shown)" in capsys.readouterr().out  # two runs and the sweep's parent


def test_four_parallel_workers_finish_sixteen_runs_in_one_sqlite_store(store, capsys):
    """hydra/launcher=joblib with 4 worker processes writing to the same sqlite store."""
    rc = main(["run", "-m", "model=mostpop,itemknn", "seed=range(8)", "hydra/launcher=joblib",
               "hydra.launcher.n_jobs=4", *store["overrides"]])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "locked" not in err.lower()
    _, runs = runs_of(store["uri"])
    assert len(runs) == 16 and {r.info.status for r in runs} == {"FINISHED"}
    assert len({r.data.tags["recbench.pid"] for r in runs}) > 1  # really several processes
    assert all(len([k for k in r.data.metrics if k.startswith("test_")]) == 21 for r in runs)
    _, [parent] = runs_of(store["uri"], sweeps=True)
    assert parent.data.metrics["n_finished"] == 16 and parent.data.metrics["n_skipped"] == 0


def test_failure_in_a_parallel_worker_is_counted_and_isolated(store, capsys):
    sweep = ["run", "-m", "model=mostpop", "model._target_=tests.boom.Exploding,"
             "recbench.models.mostpop.MostPop", "hydra/launcher=joblib",
             "hydra.launcher.n_jobs=2", *store["overrides"]]
    assert main(sweep) == 1
    assert "1 run(s) failed: mostpop seed=42; 1 finished" in capsys.readouterr().err
    # again: the worker that skips reports it through MLflow, like the one that fails
    assert main(sweep) == 1
    assert "1 run(s) failed: mostpop seed=42; 0 finished, 1 skipped." in capsys.readouterr().err
    _, parents = runs_of(store["uri"], sweeps=True)
    assert sorted((p.data.metrics["n_skipped"], p.data.metrics["n_failed"]) for p in parents) \
        == [(0, 1), (1, 1)]
    client, runs = runs_of(store["uri"])
    assert sorted(r.info.status for r in runs) == ["FAILED", "FAILED", "FINISHED"]
    failed = next(r for r in runs if r.info.status == "FAILED")
    assert "RuntimeError: boom" in Path(client.download_artifacts(
        failed.info.run_id, "traceback.txt")).read_text()


def test_a_job_that_fails_before_its_run_exists_in_a_worker_is_counted(store, capsys):
    """No run in MLflow, another process: the job's note on the parent run counts it."""
    rc = main(["run", "-m", "model=mostpop", "model._target_=tests.boom.Picky", "+model.a=0,1",
               "+model.b=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
               *store["overrides"]])
    err = capsys.readouterr().err
    assert rc == 1 and "1 run(s) failed: mostpop seed=42; 3 finished, 0 skipped." in err
    _, runs = runs_of(store["uri"])
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 3
    _, [parent] = runs_of(store["uri"], sweeps=True)
    assert parent.data.metrics["n_finished"] == 3 and parent.data.metrics["n_not_started"] == 0
    assert [v for k, v in parent.data.tags.items() if k.startswith("recbench.unlogged.")] == [
        "mostpop seed=42: model 'mostpop': a and b cannot both be 1"]


def test_submitit_launcher_runs_jobs_as_separate_processes(store, capsys):
    """The cluster path (submitit) is real code: its local executor runs each job in its own
    process, as SLURM would."""
    rc = main(["run", "-m", "model=mostpop,itemknn", "hydra/launcher=submitit_local",
               "hydra.launcher.timeout_min=10", *store["overrides"]])
    assert rc == 0, capsys.readouterr().err
    _, runs = runs_of(store["uri"])
    assert sorted(r.data.tags["model"] for r in runs) == ["itemknn", "mostpop"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert str(__import__("os").getpid()) not in {r.data.tags["recbench.pid"] for r in runs}


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_killed_sweep_resumes_without_duplicates(tmp_path, sig):
    import os
    import signal
    import subprocess
    import sys
    import time

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = [str(Path(sys.executable).with_name("recbench")), "run", "-m", "model=mostpop,bpr,ease",
            "trainer.max_epochs=3", "trainer.progress_bar=false", f"tracking.uri={uri}",
            f"tracking.artifact_root={tmp_path / 'art'}"]
    env = {**os.environ, "RECBENCH_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until BPR (the 2nd run) is under way
        time.sleep(0.5)
        try:
            _, runs = runs_of(uri)
        except Exception:
            continue
        if any(r.data.tags.get("model") == "bpr" for r in runs):
            break
    proc.send_signal(getattr(signal, sig))
    proc.communicate(timeout=60)
    _, runs = runs_of(uri)
    assert {r.data.tags["model"]: r.info.status for r in runs}.get("ease") is None
    expected = "KILLED" if sig == "SIGTERM" else "RUNNING"  # SIGKILL: nobody could say
    assert [r.info.status for r in runs if r.data.tags["model"] == "bpr"] == [expected]
    again = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert "skip: mostpop" in again.stdout and "done: bpr" in again.stdout
    _, runs = runs_of(uri)
    finished = sorted(r.data.tags["model"] for r in runs if r.info.status == "FINISHED")
    assert finished == ["bpr", "ease", "mostpop"]  # one each: nothing ran twice
    assert sorted(r.info.status for r in runs if r.data.tags["model"] == "bpr") == [
        "FINISHED", "KILLED"]  # the dead process's run is no longer RUNNING
