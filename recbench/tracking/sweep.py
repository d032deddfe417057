"""Sweep bookkeeping in MLflow: a parent run per sweep, resume by config hash, stale runs.

Jobs learn about their sweep through the ``sweep`` config node, which every Hydra launcher
ships to its workers with the rest of the config (environment variables would not reach
reused worker processes):

- ``sweep.parent``: child runs get the ``mlflow.parentRunId`` tag;
- ``sweep.rerun``: run configs again even when a FINISHED run with the same config hash
  exists (otherwise they are skipped: re-running a sweep only runs what is missing).

Which process runs a config is decided in :mod:`recbench.tracking.claim`. What the jobs
came to is read back from MLflow when the sweep ends: its children by status, and the
``recbench.skipped.*`` tags that jobs which ran nothing put on the parent.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from dataclasses import dataclass

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from recbench.config import model_label
from recbench.errors import first_line
from recbench.tracking.claim import kill_stale_runs, process_tags
from recbench.tracking.outcomes import Outcomes
from recbench.tracking.store import search_all_runs

#: parent tag prefixes: one tag per job that left no run of its own
NOTE = {"skipped": "recbench.skipped.", "unlogged": "recbench.unlogged."}


@dataclass
class Sweep:
    """The parent run of one ``recbench run -m``: started before the jobs, ended after them
    with their outcomes counted in MLflow.

    ``n_runs`` is exact for a grid (every job is launched) and an upper bound for an
    Optuna search (a resumed study launches only the trials its budget has left).
    """

    client: MlflowClient
    run_id: str
    n_runs: int
    exact: bool = True

    @classmethod
    def start(cls, cfg, overrides: list[str], n_runs: int) -> "Sweep":
        search = "hydra" in cfg and cfg.hydra.sweeper.get("n_trials") is not None
        return cls(*start_parent(cfg, overrides, n_runs), n_runs, exact=not search)

    def end(self, stopped: bool) -> Outcomes | None:
        """Count the outcomes in MLflow, log them on the parent (``n_finished``,
        ``n_failed``, ``n_killed``, ``n_skipped``, ``n_not_started``, and the children's
        ``total_fit_time_s``, the sweep's tuning cost) and end it: KILLED when the launcher
        ``stopped`` before its last job, FAILED when jobs failed and none finished.

        Returns None, after one line, when the store cannot be read or written (the next
        sweep of the experiment then marks the parent KILLED).
        """
        client = self.client
        try:
            parent = client.get_run(self.run_id)
            where = f"tags.mlflow.parentRunId = '{self.run_id}'"
            if stopped:  # a stop that came before a job's run was guarded left it RUNNING
                kill_stale_runs(client, parent.info.experiment_id, where, own=True)
            children = search_all_runs(client, [parent.info.experiment_id], where)
            outcomes = _outcomes(parent, children,
                                 self.n_runs if stopped or self.exact else None)
            counts = {s.lower(): sum(r.info.status == s for r in children)
                      for s in ("FINISHED", "FAILED", "KILLED")}
            counts |= {"skipped": outcomes.skipped, "not_started": outcomes.not_started}
            now = int(time.time() * 1000)
            metrics = [Metric(f"n_{k}", v, now, 0) for k, v in counts.items()]
            fit_time = sum(r.data.metrics.get("fit_time_s", 0.0) for r in children)
            metrics.append(Metric("total_fit_time_s", fit_time, now, 0))
            client.log_batch(self.run_id, metrics=metrics)
            client.set_terminated(self.run_id, "KILLED" if stopped else (
                "FAILED" if outcomes.failed and not outcomes.finished else "FINISHED"))
            return outcomes
        except Exception as err:
            print(f"error: could not end the sweep's parent run {self.run_id}: "
                  f"{type(err).__name__}: {first_line(err)}", file=sys.stderr)
            return None


def note_on_parent(cfg, outcome: str, text: str) -> None:
    """Tell the sweep's parent about a job that left no run of its own: ``skipped`` (its
    config had FINISHED, or another process is running it) or ``unlogged`` (it failed
    before its run was created); ``text`` names the job and why."""
    from recbench.tracking.store import client_for

    client_for(cfg.tracking.uri, cfg.tracking.artifact_root).set_tag(
        cfg.sweep.parent, f"{NOTE[outcome]}{uuid.uuid4().hex}", text[:5000])


def _outcomes(parent, children, n_runs: int | None) -> Outcomes:
    """The outcomes of a sweep's jobs from its parent and child runs (``n_runs``: the jobs
    it launched, when known: the rest never started)."""
    labels = {r.info.run_id: f"{r.data.tags.get('model', '?')} seed={r.data.tags.get('seed', '?')}"
              for r in children}
    notes = {kind: [v.split(": ", 1)[0] for k, v in parent.data.tags.items()
                    if k.startswith(prefix)] for kind, prefix in NOTE.items()}
    seen = len(children) + len(notes["skipped"]) + len(notes["unlogged"])
    # a child not FINISHED when its sweep ends failed (FAILED), or its process died
    return Outcomes([labels[r.info.run_id] for r in children if r.info.status == "FINISHED"],
                    [labels[r.info.run_id] for r in children if r.info.status != "FINISHED"]
                    + notes["unlogged"], len(notes["skipped"]),
                    max(n_runs - seen, 0) if n_runs else 0)


def start_parent(cfg, overrides: list[str], n_runs: int) -> tuple[MlflowClient, str]:
    """Create the parent run of a sweep in ``cfg``'s experiment; return (client, its id)."""
    from recbench.tracking.run_tracker import open_experiment

    client, experiment_id = open_experiment(cfg)
    # parents of sweeps whose process died (kill -9, full disk) would stay RUNNING forever
    kill_stale_runs(client, experiment_id, "tags.`recbench.sweep` = 'true'")
    launcher = cfg.hydra.launcher.get("_target_", "basic") if "hydra" in cfg else "basic"
    run = client.create_run(experiment_id, run_name=f"sweep-{n_runs}-runs", tags={
        **process_tags(), "recbench.sweep": "true", "recbench.experiment": cfg.name,
        "dataset": cfg.dataset.name, "model": model_label(cfg), "split": cfg.split.name})
    client.log_param(run.info.run_id, "overrides", json.dumps(overrides)[:6000])
    client.log_param(run.info.run_id, "n_runs", n_runs)
    client.log_param(run.info.run_id, "launcher", launcher)
    sweeper = cfg.hydra.sweeper if "hydra" in cfg else {}
    if sweeper.get("n_trials") is not None:  # a hyper-parameter search: record its budget
        space = OmegaConf.to_container(sweeper.params, resolve=True)
        client.log_param(run.info.run_id, "search_space", json.dumps(space)[:6000])
        client.log_param(run.info.run_id, "n_trials", sweeper.n_trials if space else 1)
        client.log_param(run.info.run_id, "final_seeds", json.dumps(
            OmegaConf.to_container(sweeper.final_seeds, resolve=True)
            if sweeper.get("final_seeds") is not None else []))
        client.log_param(run.info.run_id, "sampler", sweeper.get("sampler"))
        client.log_param(run.info.run_id, "study_name", sweeper.get("study_name") or cfg.name)
        client.set_tag(run.info.run_id, "recbench.tuning", "optuna")
    return client, run.info.run_id
