"""A Hydra sweeper driven by current Optuna (TPE or random search).

Why our own and not ``hydra-optuna-sweeper``: its last release (1.3.0) pins ``optuna<3``,
i.e. Optuna 2.10 (2021), which predates numpy 2 and SQLAlchemy 2 that the rest of our
pinned stack needs. This sweeper is ~100 lines on Optuna's ask/tell interface and works
with any Hydra launcher (sequential, joblib, submitit).

Search space (``hydra.sweeper.params``), one entry per config key::

    model.lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
    model.dim: {type: int, low: 16, high: 128, step: 16}
    model.reg: {type: categorical, choices: [0.0, 1.0e-5, 1.0e-4]}

Each trial is one recbench run; its objective is the run's validation metric
(``metrics.valid_metric``, maximised). A run that fails, or returns no finite value, is
told to Optuna as FAILED, never as a best value. With ``storage`` (e.g.
``sqlite:///optuna.db``) the study survives a kill: re-running the same command continues
it up to ``n_trials`` finished trials, trials left RUNNING by the dead process are marked
FAILED (failed trials do not count: others are run in their place, at most ``n_trials``
failures per search), and configs that already have a FINISHED MLflow run are not trained again.

Tune, then seed: with ``final_seeds`` (e.g. ``[1, 2, 3, 4, 5]``) the best trial's
configuration, chosen on validation only, is run again once per seed after the search and
those runs are tagged final, so a leaderboard reports mean ± std over runs that took no
part in the selection (the final seeds must differ from the trials' ``seed``; `recbench`
checks it). A model with an empty search space has nothing to tune: no study, one run
with its defaults, then the final seeds.
"""


import logging
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from recbench.tracking.claim import owner, owner_alive

log = logging.getLogger(__name__)
OWNER = "recbench.owner"  #: trial attribute: host:pid of the sweep running it


#: seconds an ownerless RUNNING trial is given: a sweep asks a trial, then writes its owner
#: (two writes), and a sweep starting in between must not fail it (CI once saw a study
#: finish 9 trials of 10 that way)
OWNER_GRACE_S = 60.0


def running_elsewhere(trial, now: datetime | None = None) -> bool:
    """Whether a RUNNING trial is still being run by a live process. It was left by a dead
    sweep when its owner on this host is gone, or when it has no owner (asked outside a
    sweep, or by a sweep killed between asking and owning it) and is older than
    :data:`OWNER_GRACE_S`."""
    value = trial.user_attrs.get(OWNER)
    if value:
        return owner_alive(value)
    started = trial.datetime_start
    age = ((now or datetime.now()) - started).total_seconds() if started else float("inf")
    return 0 <= age < OWNER_GRACE_S  # negative: another host's clock; not worth a wait


@dataclass
class RecbenchOptunaSweeperConf:
    """Defaults read the run config, so a ``configs/hparams_search/<model>.yaml`` only needs
    its search space: the budget comes from ``tuning``, the batch size from the launcher."""

    _target_: str = "hydra_plugins.recbench_optuna_sweeper.optuna_sweeper.RecbenchOptunaSweeper"
    sampler: str = "tpe"              # tpe | random
    n_trials: Any = "${tuning.n_trials}"   # finished trials to reach (failed ones count)
    n_jobs: Any = "${oc.select:hydra.launcher.n_jobs,1}"  # trials launched together
    seed: int = 0                     # sampler seed
    storage: Any = "sqlite:///optuna.db"   # survives a kill: the same command continues
    study_name: Any = "${name}-${dataset.name}-${split.name}-${model.name}"
    final_seeds: Any = "${tuning.seeds}"   # re-run the best trial with these seeds
    params: dict = field(default_factory=dict)


ConfigStore.instance().store(group="hydra/sweeper", name="recbench_optuna",
                             node=RecbenchOptunaSweeperConf, provider="recbench")


def suggest(trial, name: str, spec: dict) -> Any:
    """Draw one value of ``name`` from its search-space ``spec``."""
    kind = spec.get("type")
    if kind == "float":
        return trial.suggest_float(name, float(spec["low"]), float(spec["high"]),
                                   log=bool(spec.get("log", False)))
    if kind == "int":
        return trial.suggest_int(name, int(spec["low"]), int(spec["high"]),
                                 step=int(spec.get("step", 1)), log=bool(spec.get("log", False)))
    if kind == "categorical":
        return trial.suggest_categorical(name, list(spec["choices"]))
    raise ValueError(f"search space of {name}: type must be float, int or categorical, got {kind!r}")


def hydra_value(value: Any) -> str:
    """A value as Hydra override text that parses back to the same value and type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    # Hydra's quoted strings: backslashes are literal except right before a quote (or the
    # closing quote), where they are doubled; quotes are escaped
    text = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, str(value)).replace("'", "\\'")
    return f"'{text}'"  # quoted: "10" stays a string, "a,b" is not a sweep


def as_overrides(params: dict) -> list[str]:
    """Hydra overrides of one trial's parameters; the same text for the same values, so a
    trial re-run with another seed has the same config hash apart from the seed."""
    return [f"{k}={hydra_value(v)}" for k, v in params.items()]


class RecbenchOptunaSweeper(Sweeper):
    def __init__(self, sampler: str, n_trials: int, n_jobs: int, seed: int, storage: Any,
                 study_name: Any, params: dict, final_seeds: Any = None):
        if sampler not in ("tpe", "random"):
            raise ValueError(f"hydra.sweeper.sampler must be tpe or random, got {sampler!r}")
        self.sampler, self.n_trials, self.n_jobs, self.seed = sampler, n_trials, max(1, n_jobs), seed
        self.storage, self.study_name = storage, study_name
        self.space = OmegaConf.to_container(params, resolve=True) if isinstance(
            params, DictConfig) else dict(params)
        if not self.space:
            self.n_trials = 1  # nothing to tune: one trial with the model's defaults
        self.final_seeds = [int(s) for s in (final_seeds or [])]
        self.config: DictConfig | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def study(self):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(storage=self.storage, direction="maximize",
                                    study_name=self.study_name or str(self.config.name),
                                    load_if_exists=True)
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if not running_elsewhere(trial):  # left by a dead sweep
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        return study

    def sample(self, study, trial) -> dict:
        """The trial's parameters, drawn by a sampler seeded with ``seed + trial number``: a
        resumed search draws new points instead of replaying the first ones, and two
        processes sharing the study never draw the same ones."""
        import optuna

        seed = self.seed + trial.number
        study.sampler = (optuna.samplers.TPESampler(seed=seed) if self.sampler == "tpe"
                         else optuna.samplers.RandomSampler(seed=seed))
        return {k: suggest(trial, k, spec) for k, spec in self.space.items()}

    def sweep(self, arguments: list[str]) -> Any:
        if not self.space:  # nothing to tune: the defaults, then the seeds
            [ret] = self.launcher.launch([list(arguments)], initial_job_idx=0)
            value = getattr(ret, "_return_value", None)
            ok = isinstance(value, (int, float)) and math.isfinite(value)
            print(f"best: the defaults (nothing to tune) value {value:.4f}" if ok else
                  "warning: the run with the defaults failed; nothing to re-run with seeds",
                  flush=True)
            if ok:
                self.run_final_seeds(arguments, {}, 1)
            return None
        return self.search(arguments)

    def search(self, arguments: list[str]) -> Any:
        import optuna

        study = self.study()
        job_idx, failed = 0, 0
        # failures are retried, but one search never runs more than n_trials of them: a
        # model that fails every time stops instead of looping
        while failed < self.n_trials and (trials := self.ask(study)):
            batch = [list(arguments) + as_overrides(self.sample(study, t)) for t in trials]
            returns = self.launcher.launch(batch, initial_job_idx=job_idx)
            job_idx += len(batch)
            for trial, ret in zip(trials, returns):
                value = getattr(ret, "_return_value", None)
                if isinstance(value, (int, float)) and math.isfinite(value):
                    study.tell(trial, float(value))
                else:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    failed += 1
        if failed >= self.n_trials:
            print(f"warning: {failed} trials of study {study.study_name} failed in this "
                  f"search; stopped asking for more (see the FAILED runs in MLflow)", flush=True)
        waited = False
        running = (optuna.trial.TrialState.RUNNING,)
        while others := [t for t in study.get_trials(deepcopy=False, states=running)
                         if running_elsewhere(t)]:
            if not waited:  # the best is chosen over every trial, so theirs are awaited
                print(f"waiting for {len(others)} trial(s) of study {study.study_name} run by "
                      f"other processes", flush=True)
                waited = True
            time.sleep(2)
        if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
            print(f"warning: no trial of study {study.study_name} completed; nothing to "
                  f"re-run with seeds", flush=True)
            return None
        best = study.best_trial
        print(f"best: trial {best.number} value {best.value:.4f} params {best.params}",
              flush=True)
        self.run_final_seeds(arguments, best.params, job_idx)
        return best

    def ask(self, study) -> list:
        """Up to ``n_jobs`` new trials within the study's budget of ``n_trials``, shared by
        every process working on the study (several sweeps on one storage finish
        ``n_trials`` in total, not each). Storage numbers trials in order, atomically: a
        trial is within the budget when fewer than ``n_trials`` trials before it count
        (over-budget ones are told PRUNED and never run), so no two processes overshoot."""
        import optuna

        # a failed trial (a crash, a run killed with its sweep) is not part of the budget:
        # a resumed search runs another in its place; pruned ones were never run
        idle = (optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
        trials = []
        for _ in range(self.n_jobs):
            if sum(t.state not in idle for t in study.get_trials(deepcopy=False)) >= self.n_trials:
                break  # spent: ask nothing (a race past this point is caught below)
            trial = study.ask()
            before = sum(1 for t in study.get_trials(deepcopy=False)
                         if t.number < trial.number and t.state not in idle)
            if before >= self.n_trials:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
            try:
                trial.set_user_attr(OWNER, owner())
            except RuntimeError:  # failed as ownerless by a sweep starting this instant
                continue
            trials.append(trial)
        return trials

    def run_final_seeds(self, arguments: list[str], params: dict, job_idx: int) -> None:
        """Re-run the chosen parameters once per final seed; the runs are tagged final
        (``sweep.final``) so a leaderboard reports them, not the selection trials."""
        if not self.final_seeds:
            return
        print(f"re-running the best trial with seeds {self.final_seeds}", flush=True)
        fixed = [a for a in arguments if not a.startswith("seed=")] + as_overrides(params)
        self.launcher.launch([fixed + [f"seed={s}", "sweep.final=true"]
                              for s in self.final_seeds], initial_job_idx=job_idx)
