"""What leaderboards read from the MLflow store: finished runs and, for the chosen
configurations, per-user metrics, per-epoch curves, tuning budgets and package versions."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from recbench.errors import RecbenchError, unknown_choice
from recbench.evaluation.registry import column_is_per_user
from recbench.report import bootstrap
from recbench.report.board import Board
from recbench.report.significance import compare_to_best, seed_mean
from recbench.safe_names import file_component
from recbench.tasks.ctr import PREDICTIONS_ARTIFACT
from recbench.tracking.run_tracker import metric_key
from recbench.tracking.store import search_all_runs

PER_USER_ARTIFACT = "per_user_test_metrics.parquet"
#: CTR columns tested by the paired user bootstrap (:mod:`recbench.report.bootstrap`)
BOOTSTRAPPED = ("auc", "logloss", "gauc")
ENVIRONMENT_ARTIFACT = "environment.json"
#: packages whose versions a leaderboard row states
VERSION_PACKAGES = ("recbench", "torch", "numpy", "scipy", "recbole")
#: tags every run of `recbench run` has; runs without them (logged by hand) are left out
REQUIRED_TAGS = ("dataset", "split", "model", "seed", "config_hash", "seedless_config_hash")


def finished_runs(client, experiments: list[str], filters: dict[str, str] | None = None
                  ) -> pd.DataFrame:
    """One row per FINISHED run (sweep parents left out) of the named experiments.

    Columns: ``run_id``, ``experiment``, ``start_time``, ``tag.<name>`` for every tag,
    ``param.<name>`` for every param, ``valid_metric`` and every metric by its MLflow key.

    Args:
        filters: ``{name: value}`` kept only where tag ``name`` or param ``name`` equals
            ``value`` (e.g. ``{"dataset": "ml-100k", "split": "leave_one_out"}``).
    """
    ids = {}
    for name in experiments:
        found = client.get_experiment_by_name(name)
        if found is None:
            names = [e.name for e in client.search_experiments()]
            raise unknown_choice("experiment", name, names or ["(none: run an experiment first)"])
        ids[found.experiment_id] = name
    rows = []
    for r in search_all_runs(client, list(ids), "attributes.status = 'FINISHED'"):
        if r.data.tags.get("recbench.sweep") == "true":
            continue  # a sweep's parent run: no model, no metrics of its own
        rows.append({"run_id": r.info.run_id, "experiment": ids[r.info.experiment_id],
                     "start_time": r.info.start_time,
                     **{f"tag.{k}": v for k, v in r.data.tags.items()},
                     **{f"param.{k}": v for k, v in r.data.params.items()},
                     # tagged by the task since task=ctr; earlier runs: the metrics param
                     "valid_metric": r.data.tags.get("valid_metric") or r.data.params.get(
                         "metrics.valid_metric", "ndcg@10"),
                     **r.data.metrics})
    where = " + ".join(experiments)
    if not rows:
        raise RecbenchError(f"experiment {where} has no FINISHED runs; run it first "
                            f"(recbench run -m experiment=<name>).")
    runs = pd.DataFrame(rows)
    required = [f"tag.{t}" for t in REQUIRED_TAGS]
    complete = runs.reindex(columns=required).notna().all(axis=1)
    runs.attrs["dropped"] = int((~complete).sum())
    if not complete.any():
        raise RecbenchError(f"no run of {where} was logged by `recbench run` (they lack the "
                            f"tags {', '.join(REQUIRED_TAGS)}); nothing to rank.")
    runs = runs[complete]
    for key, value in (filters or {}).items():
        columns = [c for c in (f"tag.{key}", f"param.{key}") if c in runs]
        if not columns:
            raise RecbenchError(f"filter '{key}': no run of {where} has a tag or param "
                                f"called {key}; e.g. --dataset, --split, --tag model=ease.")
        keep = pd.Series(False, index=runs.index)
        for c in columns:
            keep |= runs[c].astype(str) == str(value)
        if not keep.any():
            present = sorted({str(v) for c in columns for v in runs[c].dropna()})
            raise unknown_choice(key, str(value), present)
        runs = runs[keep]
    dropped = runs.attrs.get("dropped", 0)
    runs = runs.reset_index(drop=True)
    runs.attrs["dropped"] = dropped
    return runs


def _artifact(client, run_id: str, path: str, tmp: str) -> Path | None:
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # one bar per file: noise
    try:
        return Path(client.download_artifacts(run_id, path, tmp))
    except Exception:  # MLflow raises several types for "no such artifact"
        return None


def _budget(client, parent_ids: str) -> dict:
    """Trials, search space and sampler recorded by the sweep(s) a model's runs came from.

    A study resumed or re-seeded by several sweeps counts once (its largest ``n_trials``:
    the trials it holds); different studies add up.
    """
    budget = {"n_trials": None, "search_space": "none (defaults or a grid)", "sampler": ""}
    trials_per_study: dict[str, int] = {}
    for parent in filter(None, parent_ids.split(";")):
        params = client.get_run(parent).data.params
        if "n_trials" not in params:
            continue
        study = params.get("study_name", parent)
        trials_per_study[study] = max(trials_per_study.get(study, 0), int(params["n_trials"]))
        try:
            space = json.loads(params.get("search_space", "{}"))
        except json.JSONDecodeError:  # longer than an MLflow param holds: shown cut
            space = params["search_space"]
        budget["search_space"] = (space if isinstance(space, str) else json.dumps(space)) \
            if space else "none (nothing to tune)"
        budget["sampler"] = params.get("sampler", "")
    if trials_per_study:
        budget["n_trials"] = sum(trials_per_study.values())
    return budget


def _curves(client, run_ids: list[str], key: str) -> pd.DataFrame | None:
    frames = []
    for seed, run_id in enumerate(run_ids):
        history = client.get_metric_history(run_id, key)
        if history:
            frames.append(pd.DataFrame({"seed": seed, "epoch": [m.step for m in history],
                                        "value": [m.value for m in history]}))
    return pd.concat(frames, ignore_index=True) if frames else None


def attach_details(board: Board, client, metrics: list[str], keep_seeds: bool = False) -> Board:
    """Add what lives outside the run table: tuning budget, versions, per-epoch curves and
    the significance tests (from the per-user artifacts of the chosen runs; CTR columns:
    from their test predictions, by the paired user bootstrap).

    With ``keep_seeds`` the artifacts are also kept per seed in ``board.per_seed`` (per-user
    frames cut to ``user`` and the metric columns; CTR predictions whole, so only when
    asked): the tests use the per-user mean over seeds, :mod:`recbench.report.stability`
    draws single seeds."""
    table = board.table
    tested = [m for m in metrics if column_is_per_user(m)]  # catalogue metrics: no pairs
    bootstrapped = [m for m in metrics if m in BOOTSTRAPPED]
    artifact = PREDICTIONS_ARTIFACT if bootstrapped else PER_USER_ARTIFACT
    budgets = [_budget(client, p) for p in table["parent_ids"]]
    for key in ("n_trials", "search_space", "sampler"):
        table[key] = [b[key] for b in budgets]
    per_user, predictions, missing = {}, {}, []
    with tempfile.TemporaryDirectory() as tmp:
        versions = []
        for row in table.itertuples(index=False):
            run_ids = row.run_ids.split(";")
            env_path = _artifact(client, run_ids[0], ENVIRONMENT_ARTIFACT, tmp)
            packages = json.loads(env_path.read_text())["packages"] if env_path else {}
            versions.append(" ".join(f"{p}=={packages[p]}" for p in VERSION_PACKAGES
                                     if packages.get(p)) or "n/a")
            frames = []
            for i, run_id in enumerate(run_ids):
                # a folder per run: the label is a tag, made a safe name to stay under tmp
                folder = f"{tmp}/{file_component(row.model)}-{i}"
                path = _artifact(client, run_id, artifact, folder)
                if path is not None:
                    frames.append(pd.read_parquet(path))
            if keep_seeds and len(frames) == len(run_ids):  # every seed: rank stability
                board.per_seed[row.model] = frames if bootstrapped else [
                    f[[c for c in f.columns if c == "user" or c in metrics]] for f in frames]
            if len(frames) < len(run_ids) or any(m not in f for f in frames for m in tested):
                missing.append(row.model)
            elif bootstrapped:
                predictions[row.model] = frames
            else:
                per_user[row.model] = seed_mean(frames, tested)
            curve = _curves(client, run_ids, metric_key("epoch_valid_" + board.valid_metric))
            if curve is not None:
                board.curves[row.model] = curve
        table["versions"] = versions
    if not tested and not bootstrapped:
        board.notes.append("No significance tests: no column is a per-user or CTR metric.")
    elif len(table) < 2:
        board.notes.append("No significance tests: the table has a single model.")
    elif missing:
        board.notes.append(
            f"No significance tests: the runs of {', '.join(missing)} have no {artifact}"
            f"{'' if bootstrapped else ' with every reported metric'}; re-run them with "
            f"this recbench to get them.")
    elif bootstrapped:
        board.significance = bootstrap.compare_to_best(predictions, bootstrapped, table)
    else:
        board.significance = compare_to_best(per_user, tested, table)
    return board
