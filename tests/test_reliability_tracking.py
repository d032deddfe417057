"""Runs under concurrency and faults: one run per config however many sweeps ask for it,
new stores created once, no parent left RUNNING, an unusable store refused in seconds."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from recbench.cli import main
from recbench.tracking import claim as claims
from recbench.tracking.sweep import NOTE, Sweep


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _experiment(uri: str) -> tuple[MlflowClient, str]:
    client = MlflowClient(uri)
    return client, client.create_experiment("e")


def test_claim_has_exactly_one_winner_among_racing_threads(tmp_path):
    client, exp = _experiment(f"sqlite:///{tmp_path / 'db.sqlite'}")
    outcomes, start = [], threading.Barrier(4)

    def contender():
        start.wait()
        try:
            outcomes.append(("won", claims.claim(client, exp, "h", lambda: client.create_run(
                exp, tags={"config_hash": "h", **claims.process_tags()}).info.run_id)))
        except claims.RunningElsewhere:
            outcomes.append(("lost", None))

    threads = [threading.Thread(target=contender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o for o, _ in outcomes) == ["lost", "lost", "lost", "won"]
    live = client.search_runs([exp], "tags.config_hash = 'h'")  # deleted runs not listed
    assert [r.info.run_id for r in live] == [run_id for o, run_id in outcomes if o == "won"]


def test_claim_skips_finished_and_takes_over_stale_runs(tmp_path):
    client, exp = _experiment(f"sqlite:///{tmp_path / 'db.sqlite'}")

    def create():
        return client.create_run(exp, tags={"config_hash": "h", **claims.process_tags()}).info.run_id

    dead = client.create_run(exp, tags={"config_hash": "h", "recbench.host": platform.node(),
                                        "recbench.pid": str(_dead_pid())}).info.run_id
    far = client.create_run(exp, tags={"config_hash": "h", "recbench.host": "elsewhere",
                                       "recbench.heartbeat": str(int(time.time()) - 3600)})
    won = claims.claim(client, exp, "h", create)  # a dead process and a silent host: stale
    assert client.get_run(dead).info.status == "KILLED"
    assert client.get_run(far.info.run_id).info.status == "KILLED"
    client.set_terminated(won, "FINISHED")
    with pytest.raises(claims.AlreadyFinished) as done:
        claims.claim(client, exp, "h", create)
    assert done.value.args[0] == won
    assert claims.claim(client, exp, "h", create, rerun=True) != won  # --rerun runs it again
    busy = client.create_run(exp, tags={"config_hash": "b", "recbench.host": "elsewhere",
                                        "recbench.heartbeat": str(int(time.time()))})
    with pytest.raises(claims.RunningElsewhere):  # a live run of another host is respected
        claims.claim(client, exp, "b", create)
    assert client.get_run(busy.info.run_id).info.status == "RUNNING"


def _two_identical_sweeps(uri: str, tmp_path: Path, extra: list[str]) -> None:
    """Start two identical sweeps together, check each config ran once."""
    args = [str(Path(sys.executable).with_name("recbench")), "run", "-m",
            "model=mostpop,itemknn", "seed=5,6", f"tracking.uri={uri}",
            "tracking.energy=false", *extra]  # concurrency, not cost
    env = {**os.environ, "RECBENCH_CACHE": str(tmp_path / "cache")}
    procs = [subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, results):
        assert proc.returncode == 0 and "Traceback" not in err, err
    client = MlflowClient(uri)
    runs = [r for r in client.search_runs([client.get_experiment_by_name("default").experiment_id])]
    children = [r for r in runs if r.data.tags.get("recbench.sweep") != "true"]
    finished = sorted((r.data.tags["model"], r.data.tags["seed"]) for r in children
                      if r.info.status == "FINISHED")
    assert finished == [("itemknn", "5"), ("itemknn", "6"), ("mostpop", "5"), ("mostpop", "6")]
    assert len(children) == 4  # losers leave nothing behind
    out = "".join(o for o, _ in results)
    assert out.count("done: ") == 4 and out.count("skip: ") == 4
    parents = [r for r in runs if r.data.tags.get("recbench.sweep") == "true"]
    assert sorted(p.data.metrics["n_finished"] + p.data.metrics["n_skipped"]
                  for p in parents) == [4, 4]


def test_two_identical_sweeps_at_once_on_a_new_sqlite_store_run_each_config_once(tmp_path):
    """The audit's case: two identical sweeps started together on a store that does not
    exist yet (it once left configs FINISHED twice, or died creating the tables)."""
    _two_identical_sweeps(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path,
                          [f"tracking.artifact_root={tmp_path / 'art'}"])


def test_two_identical_sweeps_at_once_on_a_server_run_each_config_once(tmp_path):
    from tests.test_ui import start, stop

    server, port, _ = start("server", tmp_path)
    try:
        _two_identical_sweeps(f"http://127.0.0.1:{port}", tmp_path, [])
        assert (tmp_path / "mlflow-server.db").exists()  # the server's default backend
    finally:
        stop(server)


def test_stale_sweep_parent_is_ended_and_counts_say_what_never_started(store):
    client = MlflowClient(store["uri"])
    exp = client.create_experiment("default")
    stale = client.create_run(exp, tags={"recbench.sweep": "true", "recbench.host": platform.node(),
                                         "recbench.pid": str(_dead_pid())}).info.run_id
    assert main(["run", "-m", "model=mostpop", "seed=1,2", *store["overrides"]]) == 0
    assert client.get_run(stale).info.status == "KILLED"
    parent = client.create_run(exp).info.run_id  # a sweep of 5 stopped after 1 run, 1 skipped
    client.create_run(exp, tags={"mlflow.parentRunId": parent})
    client.set_tag(parent, f"{NOTE['skipped']}1", "mostpop seed=3: an earlier run")
    outcomes = Sweep(client, parent, 5).end(stopped=True)
    assert outcomes.skipped == 1 and outcomes.not_started == 3
    ended = client.get_run(parent)
    assert ended.info.status == "KILLED"
    assert ended.data.metrics["n_skipped"] == 1 and ended.data.metrics["n_not_started"] == 3


def test_a_stop_between_creating_a_run_and_guarding_it_leaves_nothing_running(store,
                                                                             monkeypatch):
    """kill (or Ctrl-C) can land while the claim re-reads the store, after the run exists
    and before ``guard`` watches it: the run still ends KILLED, and a stopped sweep ends
    every RUNNING child of its own process (CI once saw such a run stay RUNNING)."""
    from recbench.config import compose
    from recbench.tracking import run_tracker

    def claim_then_stop(client, experiment_id, config_hash, create, rerun=False):
        create()
        raise KeyboardInterrupt("signal 15")

    monkeypatch.setattr(run_tracker, "claim", claim_then_stop)
    cfg = compose(["model=mostpop", *store["overrides"]])
    with pytest.raises(KeyboardInterrupt):
        run_tracker.RunTracker.start(cfg)
    client = MlflowClient(store["uri"])
    (run,) = client.search_runs([client.get_experiment_by_name(cfg.name).experiment_id])
    assert run.info.status == "KILLED"
    exp = client.create_experiment("sweep")
    parent = client.create_run(exp).info.run_id
    mine, other = (client.create_run(exp, tags={"mlflow.parentRunId": parent, **tags}).info.run_id
                   for tags in (claims.process_tags(), {"recbench.host": "elsewhere",
                                                        "recbench.heartbeat": str(int(time.time()))}))
    Sweep(client, parent, 2).end(stopped=True)
    assert client.get_run(mine).info.status == "KILLED"
    assert client.get_run(other).info.status == "RUNNING"  # a live job elsewhere goes on


@pytest.mark.parametrize("uri, message", [
    ("sqlite:////proc/x.db", "cannot write the MLflow store"),
    ("sqlite:////nonexistent-dir/x.db", "cannot write the MLflow store"),
    ("http://127.0.0.1:9", "does not answer"),
])
def test_unusable_store_is_refused_in_seconds(tmp_path, monkeypatch, capsys, uri, message):
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    assert main(["run", "model=mostpop", f"tracking.uri={uri}"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert time.perf_counter() - started < 30  # was 111 s (sqlite) and 254 s (server)
    assert not any(tmp_path.iterdir())


def test_full_disk_gives_one_line_per_run_and_stops_the_sweep(store, monkeypatch, capsys):
    from recbench.tracking.run_tracker import RunTracker

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(RunTracker, "log_metrics", full)  # the run's metrics cannot be written
    monkeypatch.setattr(MlflowClient, "log_text", full)  # nor its traceback
    monkeypatch.setattr(MlflowClient, "set_terminated", full)
    rc = main(["run", "-m", "model=mostpop,itemknn", *store["overrides"]])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert "error: mostpop seed=42: run " in err and "could not record it: database or disk " \
                                                     "is full" in err
    assert "not started: itemknn seed=42: the MLflow store failed" in err
    assert "could not end the sweep's parent run" in err


def test_orphaned_worker_runs_no_queued_job(store):
    """A pool worker whose sweep was killed with -9 exits instead of running the next job."""
    code = ("import sys; from recbench.config import compose; from recbench.launch import job; "
            "cfg = compose(sys.argv[1:]); job(cfg); print('ran')")
    owner = f"{platform.node()}:{_dead_pid()}"
    done = subprocess.run([sys.executable, "-c", code, "model=mostpop", f"sweep.owner={owner}",
                           *store["overrides"]], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 1 and "ran" not in done.stdout
    assert not Path(store["uri"][len("sqlite:///"):]).exists()  # no run was created
