"""The shared store as a cluster runs it: ``recbench server`` on a real PostgreSQL (started
by the tests, see tests/postgres.py), Optuna's study in the same database, many worker
processes at once, a worker killed with -9 and the server restarted mid-sweep.

One PostgreSQL and one server serve the module; each test logs to its own experiment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from recbench.cli import main
from tests.postgres import Postgres
from tests.test_cli_run import runs_of
from tests.test_ui import listening_addresses, start, stop

RECBENCH = str(Path(sys.executable).with_name("recbench"))


class Server:
    """``recbench server --backend-store-uri postgresql://...``, restartable on its port."""

    def __init__(self, pg: Postgres, folder: Path) -> None:
        self.args = ("--backend-store-uri", pg.uri, "--artifacts-destination",
                     str(folder / "artifacts"))
        self.folder, self.port, self.process = folder, None, None
        self.start()

    def start(self) -> None:
        self.process, self.port, self.log = start("server", self.folder, *self.args,
                                                  port=self.port)

    def stop(self) -> None:
        stop(self.process)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def pg():
    with Postgres() as server:
        yield server


@pytest.fixture(scope="module")
def server(pg, tmp_path_factory):
    server = Server(pg, tmp_path_factory.mktemp("server"))
    yield server
    server.stop()


def sweep(server: Server, cwd: Path, name: str, *overrides: str, **popen) -> subprocess.Popen:
    """``recbench run -m ... name=NAME`` against the server, as a separate process."""
    env = {**os.environ, "RECBENCH_CACHE": str(cwd / "cache"), "PYTHONHASHSEED": "0"}
    return subprocess.Popen([RECBENCH, "run", "-m", f"name={name}", f"tracking.uri={server.uri}",
                             # concurrency, not cost: no CodeCarbon probe in each worker
                             "trainer.progress_bar=false", "tracking.energy=false",
                             *overrides], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finish(proc: subprocess.Popen, timeout: int = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return proc.returncode, out, err


def finished_per_config(server: Server, name: str) -> dict[tuple[str, str], int]:
    """FINISHED runs per (model, seed) of an experiment; every other status is counted under
    its name, so a test sees runs left RUNNING."""
    _, runs = runs_of(server.uri, name)
    counts: dict = {}
    for run in runs:
        key = ((run.data.tags["model"], run.data.tags["seed"]) if run.info.status == "FINISHED"
               else run.info.status)
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_eight_workers_from_two_sweeps_log_each_of_16_runs_once(server, tmp_path):
    """Two identical sweeps of 16 configs at once, 4 joblib workers each: 8 processes claim
    runs in one PostgreSQL-backed store; every config runs exactly once."""
    overrides = ["model=mostpop", "seed=range(16)", "hydra/launcher=joblib",
                 "hydra.launcher.n_jobs=4"]
    started = time.perf_counter()
    procs = [sweep(server, tmp_path, "pg40", *overrides) for _ in range(2)]
    results = [finish(p, timeout=600) for p in procs]
    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    counts = finished_per_config(server, "pg40")
    assert counts == {("mostpop", str(s)): 1 for s in range(16)}  # 0 lost, 0 duplicated
    out = "".join(o for _, o, _ in results)
    assert out.count("done: ") == 16 and out.count("skip: ") == 16
    assert listening_addresses(server.port) == {"127.0.0.1"}
    client, runs = runs_of(server.uri, "pg40")
    assert all("test_ndcg_10" in r.data.metrics for r in runs)
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert "per_user_test_metrics.parquet" in artifacts  # served by the server
    print(f"16 runs by 8 workers in {time.perf_counter() - started:.0f} s")


def test_two_searches_share_one_study_budget_in_postgres(server, pg, tmp_path, capsys,
                                                        monkeypatch):
    """Two processes tuning EASE with tuning.n_trials=6 on one Optuna study stored in the
    same PostgreSQL database (its own schema: Optuna and MLflow both keep an alembic_version
    table) finish 6 trials in total, not 12, and both pick the same best."""
    monkeypatch.chdir(tmp_path)
    rc = main(["run", "-m", "name=pgstudy", f"tracking.uri={server.uri}", "hparams_search=ease",
               f"hydra.sweeper.storage={pg.uri}"])  # MLflow's own schema: refused up front
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: the Optuna storage") and "schema" in err, err
    pg.sql("CREATE SCHEMA optuna")
    storage = f"{pg.uri}?options=-csearch_path%3Doptuna"
    overrides = ["hparams_search=ease", "tuning.n_trials=6", f"hydra.sweeper.storage='{storage}'"]
    procs = [sweep(server, tmp_path, "pgstudy", *overrides) for _ in range(2)]
    results = [finish(p, timeout=600) for p in procs]
    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    study = optuna.load_study(study_name="pgstudy-ml-100k-random_ratio-ease", storage=storage)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 6
    assert set(states) <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    out = "".join(o for _, o, _ in results)
    assert out.count("done: ease") == 6  # the pruned extras never ran
    best = [line for line in out.splitlines() if line.startswith("best: trial")]
    assert len(best) == 2 and best[0] == best[1]
    _, runs = runs_of(server.uri, "pgstudy")
    assert len(runs) == 6 and {r.info.status for r in runs} == {"FINISHED"}


def running_child(server: Server, name: str, timeout: float = 120):
    """The first RUNNING (non-parent) run of an experiment, polled for."""
    client, deadline = MlflowClient(server.uri), time.time() + timeout
    while time.time() < deadline:
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            for run in client.search_runs([exp.experiment_id],
                                          "attributes.status = 'RUNNING'"):
                if run.data.tags.get("recbench.sweep") != "true" and "recbench.pid" in run.data.tags:
                    return run
        time.sleep(0.1)
    raise AssertionError(f"no run of {name} started within {timeout} s")


def test_worker_killed_mid_sweep_then_rerun_finishes_each_config_once(server, tmp_path):
    overrides = ["model=ease", "seed=range(3)", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    proc = sweep(server, tmp_path, "pgkill", *overrides)
    victim = running_child(server, "pgkill")
    os.kill(int(victim.data.tags["recbench.pid"]), signal.SIGKILL)
    rc, _, err = finish(proc)
    assert rc != 0 and err.strip(), "the sweep must say it lost a worker"
    rc, _, err = finish(sweep(server, tmp_path, "pgkill", *overrides))
    assert rc == 0, err
    counts = finished_per_config(server, "pgkill")
    assert {k: v for k, v in counts.items() if k != "KILLED"} == {
        ("ease", str(s)): 1 for s in range(3)}
    assert MlflowClient(server.uri).get_run(victim.info.run_id).info.status == "KILLED"


def test_server_restarted_mid_sweep_leaves_no_run_running(server, tmp_path):
    proc = sweep(server, tmp_path, "pgrestart", "model=ease", "seed=range(3)")
    running_child(server, "pgrestart")
    server.stop()  # mid-run: its next calls to the store find nobody listening
    time.sleep(2)
    server.start()
    rc, _, err = finish(proc)
    counts = finished_per_config(server, "pgrestart")
    assert "RUNNING" not in counts, counts
    client, runs = runs_of(server.uri, "pgrestart")
    for run in runs:
        if run.info.status == "FAILED":  # a failure says why
            assert "traceback.txt" in [a.path for a in client.list_artifacts(run.info.run_id)]
    if rc != 0:  # runs the restart cost are finished by running the command again
        assert finish(sweep(server, tmp_path, "pgrestart", "model=ease", "seed=range(3)"))[0] == 0
    counts = finished_per_config(server, "pgrestart")
    assert {k: v for k, v in counts.items() if k in {("ease", str(s)) for s in range(3)}} == {
        ("ease", str(s)): 1 for s in range(3)}
    _, [parent, *_] = runs_of(server.uri, "pgrestart", sweeps=True)
    assert parent.info.status != "RUNNING"
