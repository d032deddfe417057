"""Exactly one process runs a config (and seed), however many sweeps ask for it at once.

A process claims a config by creating its run (RUNNING, tagged with the config hash), then
listing the config's live runs: RUNNING ones that are not stale, then FINISHED ones (in
this order: a run only ever leaves RUNNING, so a run that finishes between the two
searches is still seen). It wins if its own run is the only one. Two processes cannot
both win: whichever searched last would have seen the other's run, which exists from its
creation on and is removed only by a loser. No lock and no clock is needed, so this holds
on a sqlite file and on a tracking server alike (both read their own writes).

Several processes may lose at once. A loser deletes its run, then skips the config if it
is FINISHED, or if another run of it is still RUNNING after a short random pause (a losing
contender deletes its run at once; a run that stays is being worked on); otherwise it
claims again.

A RUNNING run is stale when its process cannot be working on it any more: on this host,
the process is gone (kill -9, power loss); elsewhere, its heartbeat (a tag the running
process refreshes every :data:`HEARTBEAT_S` seconds) is older than :data:`STALE_AFTER_S`.
Stale runs are marked KILLED, so nothing stays RUNNING forever.
"""

from __future__ import annotations

import os
import platform
import random
import threading
import time
from collections.abc import Callable

from mlflow.tracking import MlflowClient

HEARTBEAT_S = 30.0  #: how often a live run refreshes its ``recbench.heartbeat`` tag
STALE_AFTER_S = 300.0  #: a run of another host without a heartbeat this long is stale
MAX_ROUNDS = 8  #: claims tried before giving up on a config that keeps being contended


class AlreadyFinished(Exception):
    """This config (and seed) already has a FINISHED run: ``args = (run_id, metrics)``."""


class RunningElsewhere(Exception):
    """Another live process is running this config (and seed): ``args = (run_id,)``."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_tags(parent: str | None = None) -> dict[str, str]:
    """Tags that tie a run to its process, its SLURM job if any, and (when given) its
    sweep's parent run."""
    tags = {"recbench.host": platform.node(), "recbench.pid": str(os.getpid()),
            "recbench.heartbeat": str(int(time.time()))}
    if os.environ.get("SLURM_JOB_ID"):  # a scheduler's job: its id finds the job's logs
        tags["recbench.slurm_job"] = os.environ["SLURM_JOB_ID"]
    if parent:
        tags["mlflow.parentRunId"] = parent
    return tags


def owner() -> str:
    """``host:pid`` of this process: what a sweep's jobs check their launcher by."""
    return f"{platform.node()}:{os.getpid()}"


def owner_alive(value: str | None) -> bool:
    """False only when ``value`` (:func:`owner`) names a process of this host that is gone:
    a pool worker (joblib keeps its workers) whose sweep was killed with -9 must not go on
    running the queued jobs. Remote jobs (SLURM) cannot check and go on."""
    host, _, pid = (value or "").rpartition(":")
    return host != platform.node() or not pid.isdigit() or _alive(int(pid))


def is_stale(run, now: float | None = None) -> bool:
    """Whether a RUNNING run's process cannot be working on it any more (module docstring)."""
    tags = run.data.tags
    pid = tags.get("recbench.pid", "")
    if tags.get("recbench.host") == platform.node() and pid.isdigit():
        return int(pid) != os.getpid() and not _alive(int(pid))
    beat = tags.get("recbench.heartbeat", "")
    last = float(beat) if beat.isdigit() else run.info.start_time / 1000
    return (now or time.time()) - last > STALE_AFTER_S


def _own(run) -> bool:
    tags = run.data.tags
    return (tags.get("recbench.host") == platform.node()
            and tags.get("recbench.pid") == str(os.getpid()))


def kill_stale_runs(client: MlflowClient, experiment_id: str, where: str,
                    own: bool = False) -> list[str]:
    """Mark KILLED the stale RUNNING runs matching the MLflow filter ``where`` (e.g.
    ``tags.config_hash = '...'``), and with ``own`` this process's too (it is done with
    them); returns their ids."""
    killed = []
    for run in client.search_runs([experiment_id], f"{where} and attributes.status = 'RUNNING'"):
        if is_stale(run) or (own and _own(run)):
            client.set_terminated(run.info.run_id, "KILLED")
            killed.append(run.info.run_id)
    return killed


def _live(client: MlflowClient, experiment_id: str, config_hash: str,
          rerun: bool) -> tuple[list[str], list[str]]:
    """``(running, finished)`` run ids of the config; ``finished`` stays empty on a rerun."""
    where = f"tags.config_hash = '{config_hash}'"
    running = [r.info.run_id for r in client.search_runs(
        [experiment_id], f"{where} and attributes.status = 'RUNNING'") if not is_stale(r)]
    finished = [] if rerun else [r.info.run_id for r in client.search_runs(
        [experiment_id], f"{where} and attributes.status = 'FINISHED'", max_results=1)]
    return running, finished


def claim(client: MlflowClient, experiment_id: str, config_hash: str,
          create: Callable[[], str], *, rerun: bool = False) -> str:
    """Create this process's run of the config with ``create()`` (returns its id) so that
    exactly one process wins; return the id of the won run.

    Raises:
        AlreadyFinished: the config has a FINISHED run (never with ``rerun``).
        RunningElsewhere: another live process is running it.
    """
    kill_stale_runs(client, experiment_id, f"tags.config_hash = '{config_hash}'")
    for _ in range(MAX_ROUNDS):
        running, finished = _live(client, experiment_id, config_hash, rerun)
        if finished:
            raise AlreadyFinished(finished[0], client.get_run(finished[0]).data.metrics)
        if not running:
            own = create()
            running, finished = _live(client, experiment_id, config_hash, rerun)
            if running == [own] and not finished:
                return own
            client.set_terminated(own, "KILLED")  # lost: leave no trace in tables
            client.delete_run(own)
            if finished:
                raise AlreadyFinished(finished[0], client.get_run(finished[0]).data.metrics)
            running = [r for r in running if r != own]
        time.sleep(random.uniform(0.2, 1.0))
        still = set(running) & set(_live(client, experiment_id, config_hash, rerun)[0])
        if still:  # not a contender that lost too: someone is working on it
            raise RunningElsewhere(sorted(still)[0])
    raise RunningElsewhere(running[0] if running else "?")


class Heartbeat:
    """Refreshes a run's ``recbench.heartbeat`` tag from a daemon thread until stopped, so
    other hosts can tell a live run from one whose process died (:func:`is_stale`)."""

    def __init__(self, client: MlflowClient, run_id: str, every: float = HEARTBEAT_S):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(client, run_id, every),
                                        name="recbench-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self, client: MlflowClient, run_id: str, every: float) -> None:
        while not self._stop.wait(every):
            try:
                client.set_tag(run_id, "recbench.heartbeat", str(int(time.time())))
            except Exception:  # a missed beat only makes the run look older; never fail
                pass

    def stop(self) -> None:
        self._stop.set()
