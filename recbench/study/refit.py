"""A finished run re-fitted from what it logged: its ``config.yaml`` artifact (the resolved
config) and seed. Nothing is logged back to MLflow.

The logged config is completed by today's defaults where recbench grew since the run (a
config group such as ``task``, keys of the described groups ``metrics`` and ``trainer``);
the rebuilt config must then have the run's ``config_hash`` tag, and its split the run's
``split_fingerprint`` tag: otherwise the run cannot be re-fitted as it was, and that is one
line, never a silently different model.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from recbench.errors import RecbenchError, first_line

#: groups the logged node replaces whole (built from a constructor: its defaults fill gaps)
_WHOLE = ("task", "dataset", "split", "model")
#: groups whose missing keys come from today's defaults (described by schemas)
_COMPLETED = ("metrics", "trainer")


def logged_config(client, run_id: str, tags: dict[str, Any]) -> DictConfig:
    """The config of a finished run, rebuilt from its ``config.yaml`` and checked against
    its ``config_hash`` tag (``tags``: the run's tags)."""
    from recbench.config import compose, config_hash

    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # a bar per file: noise
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = Path(client.download_artifacts(run_id, "config.yaml", tmp))
            logged = OmegaConf.load(path)
        except Exception as err:  # MLflow raises several types for a missing artifact
            raise RecbenchError(f"run {run_id} has no readable config.yaml artifact "
                                f"({first_line(err) or type(err).__name__}); it cannot be "
                                f"re-fitted.") from None
    base = compose()
    cfg = OmegaConf.create({"name": logged.get("name", base.name),
                            "seed": logged.get("seed", base.seed), "verbose": False})
    for group in _WHOLE:
        cfg[group] = logged[group] if group in logged else base[group]
    for group in _COMPLETED:
        cfg[group] = OmegaConf.merge(base[group], logged.get(group) or {})
    cfg.tracking = base.tracking  # where runs are logged: not a result, never used here
    cfg.trainer.progress_bar = False  # not a result either: no bars between progress lines
    expected = str(tags.get("config_hash", ""))
    if config_hash(cfg) != expected:
        raise RecbenchError(
            f"run {run_id} ({tags.get('model')} seed={tags.get('seed')}): its config.yaml "
            f"does not rebuild the logged configuration (config hash {config_hash(cfg)[:12]} "
            f"!= {expected[:12]}); it was logged by an incompatible recbench and cannot be "
            f"re-fitted as it was.")
    return cfg


@dataclass
class Refitted:
    """A model re-fitted as its run fitted it.

    Attributes:
        task: the run's task (:class:`recbench.tasks.topn.TopNRanking`); model: fitted;
        split: its split; fit_time_s: wall seconds of the fit.
    """

    task: Any
    model: Any
    split: Any
    fit_time_s: float


def refit(cfg: DictConfig, split=None, fingerprint: str | None = None) -> Refitted:
    """Fit the model of ``cfg`` as ``recbench run`` does (same task, split, seed and trainer
    settings; checkpoints in a throw-away folder, so nothing resumes from another run).

    Args:
        split: the run's split when already made (runs of one protocol share it).
        fingerprint: the run's ``split_fingerprint`` tag: the split must match it.
    """
    from recbench.config import build, resolved, validate
    from recbench.models.base import FitContext
    from recbench.verbosity import configure_logging

    try:
        validate(cfg)
    except RecbenchError as err:
        raise RecbenchError(f"the logged config of {cfg.model.name} seed={cfg.seed} is no "
                            f"longer valid: {err}") from None
    task = build(cfg, "task")
    if split is None:
        plain = resolved(cfg)
        split = task.split(plain["dataset"], plain["split"], build(cfg, "dataset"),
                           build(cfg, "split"))
    if fingerprint and split.fingerprint["sha256"] != fingerprint:
        raise RecbenchError(
            f"{cfg.dataset.name} · {cfg.split.name}: the split made today "
            f"({split.fingerprint['sha256'][:12]}) is not the one the runs were tested on "
            f"({fingerprint[:12]}): the data or the split code changed; re-run the experiment.")
    model = build(cfg, "model")
    configure_logging(False)  # building imported Lightning, which set its own log levels
    with tempfile.TemporaryDirectory() as checkpoints:
        ctx = FitContext(seed=cfg.seed, valid_metric=task.valid_metric,
                         chunk_size=cfg.metrics.chunk_size, trainer=dict(cfg.trainer),
                         log=None, checkpoint_dir=checkpoints)
        started = time.perf_counter()
        task.fit(model, split, ctx)
        fit_time = time.perf_counter() - started
    return Refitted(task, model, split, fit_time)
