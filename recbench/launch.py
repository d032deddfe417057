"""``recbench run``: check the command, open the sweep's parent run, hand the command to
Hydra, report what the jobs came to.

Hydra runs :func:`job` once per config, in this process or in a launcher's workers (joblib,
SLURM); a job learns about its sweep through the ``sweep`` config node and reports through
MLflow, so every launcher reports back alike.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback

from recbench.errors import RecbenchError, first_line

HYDRA_INFO_FLAGS = {"--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "--version",
                    "--shell-completion", "-sc", "--resolve", "-p", "--package"}


class _Process:
    """What the jobs run in this process learned: whether the store failed (later jobs do
    not start), and their outcomes (a run without a sweep parent reports through these;
    a sweep's outcomes are counted in MLflow, whichever process ran its jobs)."""

    store_down = False
    #: (done | skipped | failed, label) per job
    outcomes: list[tuple[str, str]] = []


def _report(cfg, outcome: str, label: str, note: str = "") -> None:
    """Record a job's outcome; a job of a sweep that left no run of its own (it skipped a
    FINISHED run, or failed before its run existed) says so on the sweep's parent run."""
    _Process.outcomes.append(("failed" if outcome == "unlogged" else outcome, label))
    if outcome in ("skipped", "unlogged") and cfg.sweep.get("parent") and not _Process.store_down:
        from recbench.tracking.sweep import note_on_parent
        try:
            note_on_parent(cfg, outcome, f"{label}: {note}")
        except Exception as err:  # the run itself is fine: one line, and the sweep goes on
            print(f"warning: {label}: could not tell the sweep's parent run it was {outcome} "
                  f"({type(err).__name__}: {first_line(err)})", file=sys.stderr)


def job(cfg) -> float | None:
    """Hydra task function: one run; failures are reported and the sweep goes on.

    Returns the run's validation metric (the objective of hyper-parameter searches), or
    None when the run failed.
    """
    from recbench.config import model_label
    from recbench.run import run
    from recbench.tracking.claim import owner_alive
    from recbench.tracking.run_tracker import metric_key

    label = f"{model_label(cfg)} seed={cfg.seed}"
    if not owner_alive(cfg.sweep.get("owner")):  # a pool worker left behind by a killed sweep
        os._exit(1)
    if _Process.store_down:  # the store stopped taking writes: start nothing more
        _report(cfg, "unlogged", label)
        print(f"not started: {label}: the MLflow store failed earlier in this sweep",
              file=sys.stderr)
        return None
    try:
        result = run(cfg)
    except Exception as err:
        from recbench import interrupt
        from recbench.tracking.store import StoreUnavailable
        if interrupt.requested.is_set():  # a stop request that a library wrapped: stop
            raise KeyboardInterrupt("signal 15") from err
        _Process.store_down = _Process.store_down or isinstance(err, StoreUnavailable)
        logged = hasattr(err, "recbench_run_id")  # the failure is a FAILED run in MLflow
        _report(cfg, "failed" if logged else "unlogged", label, first_line(err))
        if isinstance(err, RecbenchError):
            print(f"error: {label}: {err}", file=sys.stderr)
            return None
        if cfg.verbose:
            traceback.print_exc()
        print(f"run failed: {label}: {type(err).__name__}: {err} " + (
            "(marked FAILED in MLflow; traceback saved as artifact traceback.txt)" if logged
            else "(before its MLflow run was created)"), file=sys.stderr)
        return None
    objective = result.objective
    if result.skipped:
        _report(cfg, "skipped", label, result.run_id)
        print(f"skip: {label} [{cfg.name}] " + (
            f"is being run by another process as run {result.run_id}" if result.elsewhere
            else f"already FINISHED as run {result.run_id} (--rerun runs it again)"), flush=True)
        return objective
    _report(cfg, "done", label)
    from recbench.config import metric_names
    from recbench.evaluation.registry import HEADLINE, SampledRanking
    sampled = cfg.get("metrics", {}).get("ranking") == "sampled"  # names carry the protocol
    headline = [SampledRanking(int(cfg.metrics.sampled.n), str(cfg.metrics.sampled.sampler))
                .name(m) for m in HEADLINE] if sampled else list(HEADLINE)
    logged = [(m, metric_key(f"test_{m}")) for m in dict.fromkeys((*headline, *metric_names(cfg)))
              if metric_key(f"test_{m}") in result.metrics][:3] or [  # another task's metrics
        (k.removeprefix("test_"), k) for k in result.metrics if k.startswith("test_")][:3]
    shown = " ".join(f"{m}={result.metrics[k]:.4f}" for m, k in logged)
    cost = "".join(f", {result.metrics[k] * scale:{spec}} {unit}" for k, scale, spec, unit in (
        ("energy_kwh", 1000, ".2g", "Wh"), ("max_rss_mb", 1, ",.0f", "MB"))
        if k in result.metrics)  # what the run cost (recbench.tracking.cost)
    print(f"done: {label} [{cfg.name}] test {shown} (fit {result.metrics['fit_time_s']:.1f}s, "
          f"eval {result.metrics['eval_time_s']:.1f}s{cost}) run {result.run_id}", flush=True)
    return objective


def prefetch(overrides: list[str], first) -> None:
    """Before any run starts, download the files of every data set of the command that is
    fetched on first use (``root: download:NAME``), and run its loader's ``check`` where it
    has one (a cheap look at the files: columns, labels): a data set that cannot be fetched
    or read is one line (exit 2) with nothing logged, and parallel workers never download
    at once. A model with a ``check(split, cfg)`` (a submission: files made outside
    recbench) is checked against its split here too."""
    from omegaconf import OmegaConf

    from recbench.config import build, compose, sweep_dimensions
    from recbench.data.loader import resolve_root

    sweeper = first.hydra.sweeper
    grid = None if "n_trials" in sweeper or not sweeper.get("params") else \
        OmegaConf.to_container(sweeper.params, resolve=True)
    dims = sweep_dimensions(overrides, grid)
    others = [f"{k}={v[0]}" for k, v in dims.items() if k != "dataset"]
    for name in dict.fromkeys(dims.get("dataset", [None])):
        cfg = compose([*others, f"dataset={name}"] if name else others)
        node = cfg.dataset
        if str(node.get("root", "")).startswith("download:"):
            resolve_root(node.root, dict(node.get("files") or {}))
        loader = build(cfg, "dataset")
        if hasattr(loader.func, "check"):
            loader.func.check(**loader.keywords)
        _check_models(dims, name)


def _check_models(dims: dict[str, list[str]], dataset: str | None) -> None:
    """Run the ``check(split, cfg)`` of a model that has one (a submission: files made
    outside recbench) for each value of each model, split and task dimension of the sweep
    (one dimension varied at a time, as :func:`recbench.config.validate_sweep` does), so a
    bad file or split in a sweep fails before any run is created, not as a FAILED run."""
    from recbench.config import build, compose, resolved

    def config(key: str | None = None, value: str | None = None):
        first = {k: v[0] for k, v in dims.items() if k != "dataset"}
        first |= {key: value} if key else {}
        return compose([f"{k}={v}" for k, v in first.items()]
                       + ([f"dataset={dataset}"] if dataset else []))

    if not any(hasattr(build(config("model", m) if m else config(), "model"), "check")
               for m in dict.fromkeys(dims.get("model", [None]))):
        return  # no model of the sweep reads files made outside recbench
    varied = [(k, v) for k, values in dims.items() if k.split(".")[0] in ("model", "split", "task")
              for v in list(dict.fromkeys(values))[1:]]  # the first values: config()
    for key, value in [(None, None), *varied]:
        cfg = config(key, value)
        model = build(cfg, "model")
        if hasattr(model, "check"):  # files made outside recbench (a submission's rankings)
            plain = resolved(cfg)
            model.check(build(cfg, "task").split(plain["dataset"], plain["split"],
                                                 build(cfg, "dataset"), build(cfg, "split")), cfg)


def launch(overrides: list[str]) -> int:
    """Check every value of the command, open the sweep's parent run, hand the command to
    Hydra, then report the outcomes (counted in MLflow for a sweep)."""
    import hydra
    from hydra.core.global_hydra import GlobalHydra

    from recbench.config import validate_sweep
    from recbench.paths import CONFIG_DIR

    rerun = "--rerun" in overrides
    overrides = [o for o in overrides if o != "--rerun"]
    _Process.store_down, _Process.outcomes = False, []
    sweep = None
    if not any(a.split("=")[0] in HYDRA_INFO_FLAGS for a in overrides):
        plain = [o for o in overrides if not o.startswith("-")]
        n_runs, first = validate_sweep(plain)
        prefetch(plain, first)
        # MLflow (2 s to import) only once the config is known to be good
        from recbench.tracking.store import check_store, check_study_storage, resolve_store
        from recbench.tracking.sweep import Sweep
        check_store(*resolve_store(first.tracking.uri, first.tracking.artifact_root))
        if first.hydra.sweeper.get("storage"):  # an Optuna search kept in a database
            check_study_storage(first.hydra.sweeper.storage)
        if n_runs > 1 or {"-m", "--multirun"} & set(overrides):
            overrides = overrides if {"-m", "--multirun"} & set(overrides) else ["-m", *overrides]
            sweep = Sweep.start(first, plain, n_runs)
    from recbench.tracking.claim import owner  # MLflow: only once the command checked out
    from recbench.tracking.outcomes import Outcomes

    GlobalHydra.instance().clear()
    main = hydra.main(config_path=str(CONFIG_DIR), config_name="run", version_base="1.3")(job)
    saved = sys.argv
    # `kill` ends the current run KILLED, like Ctrl-C (restored when the command ends)
    from recbench import interrupt
    interrupt.requested.clear()
    previous_sigterm = signal.signal(signal.SIGTERM, interrupt.terminate)
    sys.argv = ["recbench run", *overrides, f"sweep.rerun={str(rerun).lower()}",
                f"sweep.owner={owner()}"] + ([f"sweep.parent={sweep.run_id}"] if sweep else [])
    user_full_error = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing a traceback
    stopped = True
    try:
        main()
        stopped = False
    except Exception as err:  # the launcher itself failed, e.g. a worker killed with -9
        if user_full_error == "1" or isinstance(err, RecbenchError):
            raise
        print(f"error: the sweep stopped ({type(err).__name__}: {first_line(err)}); run the "
              f"same command again to finish the missing runs (HYDRA_FULL_ERROR=1 shows the "
              f"traceback).", file=sys.stderr)
        return 1
    finally:
        if user_full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR")
        else:
            os.environ["HYDRA_FULL_ERROR"] = user_full_error
        sys.argv = saved
        GlobalHydra.instance().clear()
        signal.signal(signal.SIGTERM, previous_sigterm)
        outcomes = sweep.end(stopped) if sweep else Outcomes.of(_Process.outcomes)
    if outcomes is None:  # the store could not be read: what the jobs came to is unknown
        return 1
    if not outcomes.complete:
        print(outcomes.describe(), file=sys.stderr)
        return 1
    return 0
