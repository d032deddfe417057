"""Sweep bookkeeping in MLflow: a parent run per sweep, resume by config hash, stale runs.

Jobs learn about their sweep through the ``sweep`` config node, which every Hydra launcher
ships to its workers with the rest of the config (environment variables would not reach
reused worker processes):

- ``sweep.parent``: child runs get the ``mlflow.parentRunId`` tag;
- ``sweep.rerun``: run configs again even when a FINISHED run with the same config hash
  exists (otherwise they are skipped: re-running a sweep only runs what is missing).
"""

from __future__ import annotations

import json
import os
import platform
import time

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from recbench.config import model_label



def finished_run(client: MlflowClient, experiment_id: str, config_hash: str) -> str | None:
    """Id of a FINISHED run of this exact config (and seed), or None."""
    found = client.search_runs([experiment_id], f"tags.config_hash = '{config_hash}' and "
                               f"attributes.status = 'FINISHED'", max_results=1)
    return found[0].info.run_id if found else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_stale_runs(client: MlflowClient, experiment_id: str, config_hash: str) -> list[str]:
    """Mark KILLED the RUNNING runs of this config whose process (on this host) is gone.

    Runs record ``recbench.host`` and ``recbench.pid`` when they start; a run from a dead
    process (SIGKILL, power loss) would otherwise stay RUNNING forever.
    """
    killed = []
    for run in client.search_runs([experiment_id], f"tags.config_hash = '{config_hash}' and "
                                  f"attributes.status = 'RUNNING'"):
        tags = run.data.tags
        pid = tags.get("recbench.pid")
        if tags.get("recbench.host") == platform.node() and pid and pid.isdigit() \
                and int(pid) != os.getpid() and not _alive(int(pid)):
            client.set_terminated(run.info.run_id, "KILLED")
            killed.append(run.info.run_id)
    return killed


def process_tags(parent: str | None = None) -> dict[str, str]:
    """Tags that tie a run to its process and (when given) its sweep's parent run."""
    tags = {"recbench.host": platform.node(), "recbench.pid": str(os.getpid())}
    if parent:
        tags["mlflow.parentRunId"] = parent
    return tags


def start_parent(cfg, overrides: list[str], n_runs: int) -> tuple[MlflowClient, str]:
    """Create the parent run of a sweep in ``cfg``'s experiment; return (client, its id)."""
    from recbench.tracking.run_tracker import open_experiment

    client, experiment_id = open_experiment(cfg)
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


def end_parent(client: MlflowClient, parent_id: str, n_runs: int, status: str) -> dict[str, int]:
    """Count the children by status, log the counts on the parent and end it."""
    experiment_id = client.get_run(parent_id).info.experiment_id
    children = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    counts = {s: sum(r.info.status == s for r in children) for s in ("FINISHED", "FAILED", "KILLED")}
    counts["skipped"] = n_runs - len(children)
    now = int(time.time() * 1000)
    metrics = [Metric(f"n_{k.lower()}", v, now, 0) for k, v in counts.items()]
    fit_time = sum(r.data.metrics.get("fit_time_s", 0.0) for r in children)
    metrics.append(Metric("total_fit_time_s", fit_time, now, 0))  # the sweep's tuning cost
    client.log_batch(parent_id, metrics=metrics)
    client.set_terminated(parent_id, status)
    return counts
