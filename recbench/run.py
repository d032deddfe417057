"""One run, the same pipeline for every task: compose -> data -> split -> task.fit ->
task.evaluate -> track. How the data is split, what a model's inputs and masks are and how
it is scored is the task's business (:mod:`recbench.tasks`)."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass

from omegaconf import DictConfig

from recbench.config import build, config_hash, resolved, validate
from recbench.errors import RecbenchError, first_line
from recbench.data.loader import cache_dir
from recbench.verbosity import configure_logging
from recbench.models.base import FitContext
from recbench.tracking import cost
from recbench.tracking.claim import AlreadyFinished, RunningElsewhere
from recbench.tracking.run_tracker import RunTracker, metric_key
from recbench.tracking.store import StoreUnavailable


@dataclass
class RunResult:
    """What a finished run produced: MLflow run id and mean metrics under their MLflow keys
    (``test_ndcg_10``, ...), the same whether the run ran now or was found FINISHED."""

    run_id: str
    metrics: dict[str, float]
    skipped: bool = False  #: an identical FINISHED run existed; nothing was run
    elsewhere: bool = False  #: another process is running this config; nothing was run
    objective: float | None = None  #: the task's validation metric (what searches maximise)


def run(cfg: DictConfig) -> RunResult:
    """Execute one run of a composed config and log it to MLflow.

    Everything that can be checked without data (config keys, metric names, model
    hyper-parameters) is checked before the MLflow run is created. A config (and seed)
    that already has a FINISHED run is not run again (``RunResult.skipped``) unless
    ``sweep.rerun`` (``recbench run --rerun``), nor one that another process is running
    (:mod:`recbench.tracking.claim`).
    """
    validate(cfg)
    task = build(cfg, "task")
    load_data = build(cfg, "dataset")
    protocol = build(cfg, "split")
    model = build(cfg, "model")
    configure_logging(cfg.verbose)

    try:
        tracker = RunTracker.start(cfg)
    except AlreadyFinished as done:
        logged = dict(done.args[1])
        return RunResult(done.args[0], logged, skipped=True,
                         objective=logged.get(metric_key(f"valid_{task.valid_metric}")))
    except RunningElsewhere as busy:
        return RunResult(busy.args[0], {}, skipped=True, elsewhere=True)
    except RecbenchError:
        raise
    except Exception as err:  # nothing could be logged: no run to mark FAILED
        raise StoreUnavailable(f"cannot log to the MLflow store: {type(err).__name__}: "
                               f"{first_line(err)}") from None
    with tracker.guard():
        if cfg.tracking.energy:  # CodeCarbon's hardware probe, beside the data loading
            cost.prepare(cfg.tracking.country_iso_code)
        plain = resolved(cfg)
        split = task.split(plain["dataset"], plain["split"], load_data, protocol)
        tracker.set_tags({"valid_metric": task.valid_metric,
                          "split_fingerprint": split.fingerprint["sha256"],
                          "data_fingerprint": split.fingerprint["data_sha256"]})
        tracker.log_dict(split.fingerprint, "split_fingerprint.json")
        tracker.log_dict(split.leakage, "leakage.json")
        tracker.log_metrics({f"leakage_{k}": v for k, v in split.leakage.items()})

        # per-epoch checkpoints of this exact config + seed: a killed run's successor resumes
        checkpoints = cache_dir() / "checkpoints" / config_hash(cfg)
        ctx = FitContext(seed=cfg.seed, valid_metric=task.valid_metric,
                         chunk_size=cfg.metrics.chunk_size, trainer=dict(cfg.trainer),
                         log=tracker.log_metrics, checkpoint_dir=str(checkpoints),
                         tag=tracker.set_tags)
        with cost.CostMeter(cfg.tracking.country_iso_code, cfg.tracking.energy) as meter:
            started = time.perf_counter()
            task.fit(model, split, ctx)
            fit_time = time.perf_counter() - started
            shutil.rmtree(checkpoints, ignore_errors=True)  # finished: nothing left to resume

            started = time.perf_counter()
            evaluation = task.evaluate(model, split)
            eval_time = time.perf_counter() - started
        tracker.set_tags(evaluation.tags | meter.tags)
        summary = evaluation.metrics | meter.metrics | {
            "fit_time_s": fit_time, "eval_time_s": eval_time,
            "n_parameters": float(model.n_parameters())}
        if getattr(model, "best_epoch", None) is not None:
            summary["best_epoch"] = float(model.best_epoch)
            summary["epochs_trained"] = float(model.epochs_trained)
        tracker.log_metrics(summary)
        if evaluation.per_user is not None:
            tracker.log_frame(evaluation.per_user, "per_user_test_metrics.parquet")
        for name, frame in evaluation.frames.items():
            tracker.log_frame(frame, name)
    return RunResult(tracker.run_id, {metric_key(k): v for k, v in summary.items()},
                     objective=summary.get(f"valid_{task.valid_metric}"))
