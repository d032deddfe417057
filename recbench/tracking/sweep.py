"""Sweep bookkeeping in MLflow: a parent run per sweep, resume by config hash, stale runs.

Jobs learn about their sweep through the ``sweep`` config node, which every Hydra launcher
ships to its workers with the rest of the config (environment variables would not reach
reused worker processes):

- ``sweep.parent``: child runs get the ``mlflow.parentRunId`` tag;
- ``sweep.rerun``: run configs again even when a FINISHED run with the same config hash
  exists (otherwise they are skipped: re-running a sweep only runs what is missing).

Which process runs a config is decided in :mod:`recbench.tracking.claim`.
"""

from __future__ import annotations

import json
import time

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from recbench.config import model_label
from recbench.tracking.claim import kill_stale_runs, process_tags


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


def end_parent(client: MlflowClient, parent_id: str, n_runs: int, n_skipped: int,
               status: str) -> dict[str, int]:
    """Count the children by status, log the counts on the parent and end it.

    ``n_skipped``: jobs that ran nothing (already FINISHED, or run by another process), as
    the jobs reported it; ``n_not_started`` is what is left of ``n_runs`` (a sweep stopped
    early: killed, or a store that stopped taking writes).
    """
    experiment_id = client.get_run(parent_id).info.experiment_id
    children = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    counts = {s: sum(r.info.status == s for r in children) for s in ("FINISHED", "FAILED", "KILLED")}
    counts["skipped"] = n_skipped
    counts["not_started"] = max(n_runs - len(children) - n_skipped, 0)
    now = int(time.time() * 1000)
    metrics = [Metric(f"n_{k.lower()}", v, now, 0) for k, v in counts.items()]
    fit_time = sum(r.data.metrics.get("fit_time_s", 0.0) for r in children)
    metrics.append(Metric("total_fit_time_s", fit_time, now, 0))  # the sweep's tuning cost
    client.log_batch(parent_id, metrics=metrics)
    client.set_terminated(parent_id, status)
    return counts
