"""One MLflow run per (config, seed): params, tags, curves, metrics, artifacts, failure status."""

from __future__ import annotations

import json
import tempfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from omegaconf import DictConfig, OmegaConf

from recbench import interrupt
from recbench.config import config_hash, flatten, model_label, result_config
from recbench.errors import first_line
from recbench.tracking.environment import environment
from recbench.tracking.claim import AlreadyFinished, Heartbeat, claim, process_tags
from recbench.tracking.store import (StoreUnavailable, client_for, get_or_create_experiment,
                                     init_lock, resolve_store)

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value


def metric_key(name: str) -> str:
    """MLflow metric key for a recbench metric name: ``"test_ndcg@10" -> "test_ndcg_10"``."""
    return name.replace("@", "_")


def job_overrides() -> list[str]:
    """The command-line overrides of the current Hydra job (a sweep's chosen values
    included, recbench's own ``sweep.*`` bookkeeping left out); ``[]`` outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return [o for o in HydraConfig.get().overrides.task if not o.startswith("sweep.")]


def job_choices() -> dict[str, str | None]:
    """Config group options of the current Hydra job that a re-run must name (the model
    group, and the search that may have picked it in an experiment's defaults)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {k: choices.get(k) for k in ("model", "hparams_search")}


def open_experiment(cfg: DictConfig):
    """``(client, experiment_id)`` of the MLflow experiment named ``cfg.name`` (created if new)."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    from recbench.errors import RecbenchError

    uri, artifact_root = resolve_store(cfg.tracking.uri, cfg.tracking.artifact_root)
    try:
        with init_lock(uri):
            client = client_for(uri, artifact_root)
            return client, get_or_create_experiment(client, cfg.name, artifact_root)
    except (MlflowException, SQLAlchemyError, OSError) as err:
        reason = first_line(err) or type(err).__name__
        raise RecbenchError(f"cannot use the MLflow store {uri}: {reason}; "
                            f"fix tracking.uri.") from None


class RunTracker:
    """An open MLflow run for one resolved config.

    Use :meth:`start` to create it (logs params, tags, config and environment), then
    ``with tracker.guard():`` around the work: on an exception the run ends FAILED with
    ``traceback.txt`` saved as an artifact (everything already logged stays), on Ctrl-C it
    ends KILLED, otherwise FINISHED.
    """

    def __init__(self, client, run_id: str):
        self.client, self.run_id = client, run_id
        self.heartbeat = Heartbeat(client, run_id)

    @classmethod
    def start(cls, cfg: DictConfig) -> "RunTracker":
        client, experiment_id = open_experiment(cfg)
        tags = {
            **process_tags(cfg.get("sweep", {}).get("parent")),
            "recbench.experiment": cfg.name,
            "dataset": cfg.dataset.name,
            "model": model_label(cfg),
            "split": cfg.split.name,
            "seed": str(cfg.seed),
            "config_hash": config_hash(cfg),  # identifies (config, seed)
            "seedless_config_hash": config_hash(cfg, seed=False),  # groups seeds of a config
            "recbench.overrides": json.dumps(job_overrides()),  # how to run it again
            "recbench.choices": json.dumps(job_choices()),
        }
        final = bool(cfg.get("sweep", {}).get("final"))
        if final:  # a tuned config re-run on a fresh seed: what leaderboards report
            tags["recbench.final"] = "true"
        created: list[str] = []

        def create() -> str:
            created.append(client.create_run(
                experiment_id, run_name=f"{model_label(cfg)}-seed{cfg.seed}",
                tags=tags).info.run_id)
            return created[-1]

        try:
            run_id = claim(client, experiment_id, tags["config_hash"], create,
                           rerun=bool(cfg.get("sweep", {}).get("rerun")))
            tracker = cls(client, run_id)
        except AlreadyFinished as done:
            if final:
                client.set_tag(done.args[0], "recbench.final", "true")
            raise
        except BaseException:  # stopped (kill, Ctrl-C) after creating a run, before guarding it
            _end_killed(client, created)
            raise
        with tracker.guard(finish=False):  # a failure here still ends the run as FAILED
            # what changes results; not where runs are logged (a database URI may hold a
            # password), nor sweep bookkeeping: config.yaml keeps the whole config
            params = [Param(k, v[:MAX_PARAM_LENGTH])
                      for k, v in flatten(result_config(cfg)).items()]
            for start in range(0, len(params), 100):
                client.log_batch(tracker.run_id, params=params[start:start + 100])
            client.log_text(tracker.run_id, OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")
            client.log_dict(tracker.run_id, environment(), "environment.json")
        return tracker

    # the writes of a running run (a curve point every epoch) hold Ctrl-C and SIGTERM
    # until they are done (interrupt.held: a store transaction is never cut in half)
    def log_metrics(self, values: dict[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        metrics = [Metric(metric_key(k), float(v), now, step) for k, v in values.items()]
        with interrupt.held():
            for start in range(0, len(metrics), 1000):  # MLflow's limit per batch
                self.client.log_batch(self.run_id, metrics=metrics[start:start + 1000])

    def set_tags(self, tags: dict[str, str]) -> None:
        with interrupt.held():
            self.client.log_batch(self.run_id,
                                  tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_dict(self, data: dict, name: str) -> None:
        with interrupt.held():
            self.client.log_dict(self.run_id, data, name)

    def log_frame(self, frame: pd.DataFrame, name: str) -> None:
        """Save a frame as a parquet artifact called ``name``."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, name)
            frame.to_parquet(path, index=False)
            with interrupt.held():
                self.client.log_artifact(self.run_id, str(path))

    @contextmanager
    def guard(self, finish: bool = True):
        """End the run FAILED (with traceback.txt) or KILLED on an exception; FINISHED at the
        end of the block when ``finish``."""
        try:
            yield self
        except KeyboardInterrupt:
            self.heartbeat.stop()
            with interrupt.held():
                self.client.set_terminated(self.run_id, "KILLED")
            raise
        except BaseException as err:
            self.heartbeat.stop()
            err.recbench_run_id = self.run_id  # the failure is a run in MLflow: not lost
            if interrupt.requested.is_set():  # SIGTERM, wrapped by a library on its way up
                self.client.set_terminated(self.run_id, "KILLED")
                raise KeyboardInterrupt("signal 15") from err
            try:
                self.client.log_text(self.run_id, traceback.format_exc(), "traceback.txt")
                self.client.set_terminated(self.run_id, "FAILED")
            except Exception as store_err:  # the store itself failed (disk full, server gone)
                reason = first_line(store_err) or type(store_err).__name__
                lost = StoreUnavailable(
                    f"run {self.run_id} failed ({type(err).__name__}: {err}) and the MLflow "
                    f"store could not record it: {reason}")
                lost.recbench_run_id = self.run_id
                raise lost from err
            raise
        else:
            if finish:
                self.heartbeat.stop()
                self.client.set_terminated(self.run_id, "FINISHED")


def _end_killed(client, run_ids: list[str]) -> None:
    """End KILLED those of ``run_ids`` still RUNNING (a claim that lost deleted its run)."""
    for run_id in run_ids:
        try:
            if client.get_run(run_id).info.status == "RUNNING":
                client.set_terminated(run_id, "KILLED")
        except Exception:  # deleted, or the store is gone: the stale-run rule takes over
            pass
