"""Aggregate finished runs into leaderboards: one :class:`Board` per protocol.

Rules (the same for every model):

- A *protocol* is a (dataset, split) pair; one table compares models under one protocol
  only. Runs spanning several are refused unless ``group=True`` (one board each).
- For each model the configurations are the distinct ``seedless_config_hash`` values. Only
  configurations evaluated on as many seeds as the best-covered one are eligible (a config
  run on one lucky seed must not beat one averaged over five: the winner's curse). Among
  them the one with the best mean *validation* metric is chosen; the test metrics never
  take part in the choice.
- A configuration re-run on fresh seeds after a search (runs tagged ``recbench.final``,
  see ``tuning.seeds``) is reported from those runs only: the trial that won the selection
  is not averaged in.
- The chosen configuration's test metrics are reported as mean ± std (ddof=1) over its
  seeds; with one seed the std is NaN (shown as n/a). When a (config, seed) ran more than
  once, the latest run counts.
- All chosen configurations of a board must have been tested on the same splits (equal
  sets of split fingerprints); otherwise the comparison would not be paired and is refused.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recbench.config import NOT_RESULT_OVERRIDES
from recbench.errors import RecbenchError
from recbench.evaluation.registry import higher_is_better, info, sampled_ranking
from recbench.safe_names import file_component
from recbench.tracking.run_tracker import metric_key

#: overrides a reproduce command leaves out: those that never change a result, the seed
#: (given by the command itself), Hydra's plumbing, the search (replaced by its model) and
#: the experiment name
_NOT_RESULT = NOT_RESULT_OVERRIDES + ("seed=", "hydra.", "hparams_search=", "name=")
#: what a run cost (:mod:`recbench.tracking.cost`): logged metric -> board column and its
#: scale (a MostPop run takes about a milliwatt-hour: kWh would round to 0 in the CSV)
COST_COLUMNS = {"energy_kwh": ("energy_wh", 1000.0), "co2_kg": ("co2_g", 1000.0),
                "max_rss_mb": ("max_rss_mb", 1.0)}


@dataclass
class Board:
    """One leaderboard table: every model under one protocol.

    Attributes:
        dataset, split: the protocol (MLflow tags ``dataset`` and ``split``).
        table: one row per model, best first by the first metric (by its direction). Columns: ``model``,
            ``seeds`` (n), ``seed_list``, ``configs_tried``, ``chosen_on``, ``config_hash``,
            ``<metric>`` and ``<metric>_std`` per metric, ``fit_time_s``, ``eval_time_s``
            (means over seeds, seconds), ``energy_wh``, ``co2_g``, ``max_rss_mb`` (means
            over seeds of fit + evaluation; NaN for runs logged without them),
            ``n_parameters``, ``tuning_fit_time_s`` (sum over
            every run of the model: the tuning cost), ``split_fingerprint``,
            ``data_fingerprint``, ``command``, ``run_ids`` (``;``-joined) and, once
            :func:`recbench.report.runs.attach_details` ran, ``n_trials``,
            ``search_space``, ``sampler`` and ``versions``.
        significance: :func:`recbench.report.significance.compare_to_best` output, or None.
        notes: why something is missing (e.g. no per-user artifacts: no significance).
        curves: model -> frame (``seed``, ``epoch``, ``value``) of per-epoch validation
            metrics of the chosen configuration (neural models only).
        per_seed: model -> one frame per seed (in ``run_ids`` order) of per-user test
            metrics (``user`` + metric columns) or, on CTR boards, test predictions; models
            whose runs lack the artifact are absent (see :mod:`recbench.report.runs`).
        stability: :func:`recbench.report.stability.board_stability` output, or None.
    """

    dataset: str
    split: str
    table: pd.DataFrame
    valid_metric: str
    significance: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    latest_run_ms: int | None = None  #: start time of the newest run (ms since the epoch)
    per_seed: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    stability: pd.DataFrame | None = None

    @property
    def title(self) -> str:
        return f"{self.dataset} · {self.split}"

    @property
    def scoring(self) -> tuple[str, str]:
        """``(label, text)``: how the board's test metrics were computed."""
        if info(self.valid_metric).kind == "ctr":
            return "Scoring", "a click probability per test row (task=ctr): AUC, LogLoss, gAUC"
        sampled = sorted({r.label for r in map(sampled_ranking, self.table.columns) if r})
        if sampled:  # sampled metric columns (recbench.evaluation.sampled)
            return "Ranking", f"{' and '.join(sampled)}: each test item ranked against that " \
                              f"many items drawn among those the user never interacted " \
                              f"with, not the whole catalogue; selection on full-ranking " \
                              f"validation {self.valid_metric}"
        return "Ranking", "full ranking over all items, the user's train (and validation) " \
                          "items masked"

    @property
    def slug(self) -> str:
        """``<dataset>_<split>``: names the board's plot files and HTML anchors, so each
        part is made a safe file name (the tags may come from any client of the store)."""
        return f"{file_component(self.dataset)}_{file_component(self.split)}"


def reproduce_command(overrides: list[str] | None, seeds: list[int],
                      choices: dict[str, str | None] | None = None) -> str:
    """The ``recbench run`` command that re-runs a chosen configuration on its seeds.

    Args:
        overrides: the Hydra overrides of one of its runs (MLflow tag
            ``recbench.overrides``); bookkeeping that never changes results (tracking,
            seed, sweep, the search itself) is dropped, the sampled values are kept.
        choices: the run's config group choices (tag ``recbench.choices``): the model
            option is named explicitly, and a search picked by an experiment's defaults is
            switched off (``~hparams_search``), so the command runs the configuration
            instead of searching again.

    Returns:
        A shell-quoted command line (in the same MLflow store add ``--rerun``: finished
        configurations are skipped).
    """
    if overrides is None:
        return "n/a (runs logged before recbench recorded their overrides)"
    choices = choices or {}
    kept = [o for o in overrides if not o.startswith(_NOT_RESULT)]
    at = 1 if kept and kept[0].startswith("experiment=") else 0
    model = choices.get("model") or next((o.split("=", 1)[1] for o in overrides
                                          if o.startswith("hparams_search=")), None)
    if model and not any(o.startswith("model=") for o in kept):
        kept.insert(at, f"model={model}")
    if choices.get("hparams_search") and not any(o.startswith("hparams_search=")
                                                 for o in overrides):
        kept.insert(at, "~hparams_search")  # the experiment's own search: off
    seed_arg = "seed=" + ",".join(str(s) for s in sorted(seeds))
    return shlex.join(["recbench", "run", "-m", *kept, seed_arg])


def _latest(runs: pd.DataFrame) -> pd.DataFrame:
    return runs.sort_values("start_time", kind="stable").drop_duplicates(
        ["tag.config_hash", "tag.seed"], keep="last")


def protocols(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """The (dataset, split) pairs the runs span, in the order they were first run."""
    pairs = runs.sort_values("start_time", kind="stable")[["tag.dataset", "tag.split"]]
    pairs = pairs.drop_duplicates()
    return list(pairs.itertuples(index=False, name=None))


def _column(frame: pd.DataFrame, name: str, default=np.nan) -> pd.Series:
    return frame[name] if name in frame else pd.Series(default, index=frame.index)


def _reported(group: pd.DataFrame) -> pd.DataFrame:
    """The runs a model's numbers come from: for a configuration re-run on final seeds
    after a search (tag ``recbench.final``), only those runs, not the selection trial."""
    final = _column(group, "tag.recbench.final", "").fillna("") == "true"
    tuned = set(group.loc[final, "tag.seedless_config_hash"])
    return group[final | ~group["tag.seedless_config_hash"].isin(tuned)]


def _row(model: str, group: pd.DataFrame, metrics: list[str], valid_key: str) -> dict:
    group_all = group
    tuning_fit_time = _column(group, "fit_time_s").sum(min_count=1)
    configs_tried = int(group["tag.seedless_config_hash"].nunique())
    group = _reported(group)
    by_config = group.groupby("tag.seedless_config_hash")
    n_seeds = by_config.size()
    eligible = n_seeds[n_seeds == n_seeds.max()].index
    valid = by_config[valid_key].mean() if valid_key in group else pd.Series(
        np.nan, index=n_seeds.index)
    valid = valid.loc[eligible]
    # no validation data at all: the choice cannot be made honestly; any config, said so
    best = valid.fillna(-np.inf).idxmax()
    chosen = group[group["tag.seedless_config_hash"] == best]
    chosen = chosen.iloc[np.argsort(chosen["tag.seed"].astype(int).to_numpy(), kind="stable")]
    row = {"model": model, "seeds": len(chosen),
           "seed_list": ",".join(chosen["tag.seed"].astype(str)),
           "configs_tried": configs_tried,
           "chosen_on": "validation" if valid.notna().any() else "none (no validation data)",
           "config_hash": best[:12]}
    for m in metrics:
        col = metric_key("test_" + m)
        if col not in chosen or chosen[col].isna().all():
            raise RecbenchError(f"metric {m} was not logged by the runs of model '{model}'; "
                                f"pick from the run's metrics.names x metrics.ks "
                                f"(--metrics ndcg@10,recall@10).")
        row[m] = float(chosen[col].mean())
        row[m + "_std"] = float(chosen[col].std(ddof=1)) if len(chosen) > 1 else np.nan
    row["fit_time_s"] = float(_column(chosen, "fit_time_s").mean())
    row["eval_time_s"] = float(_column(chosen, "eval_time_s").mean())
    for logged, (column, scale) in COST_COLUMNS.items():  # NaN: logged before metering
        row[column] = float(_column(chosen, logged).mean()) * scale
    row["n_parameters"] = int(_column(chosen, "n_parameters", 0).fillna(0).iloc[0])
    row["tuning_fit_time_s"] = float(tuning_fit_time)
    fingerprints = sorted(set(_column(chosen, "tag.split_fingerprint", "").fillna("")))
    row["split_fingerprint"] = ";".join(f[:12] for f in fingerprints)
    row["data_fingerprint"] = ";".join(sorted({f[:12] for f in _column(
        chosen, "tag.data_fingerprint", "").fillna("")}))
    first = chosen.iloc[0]
    overrides, choices = first.get("tag.recbench.overrides"), first.get("tag.recbench.choices")
    row["command"] = reproduce_command(
        json.loads(overrides) if isinstance(overrides, str) else None,
        [int(s) for s in chosen["tag.seed"]],
        json.loads(choices) if isinstance(choices, str) else None)
    row["run_ids"] = ";".join(chosen["run_id"])
    # rankings made outside recbench (recbench.models.submission), scored here
    row["submission"] = bool((_column(chosen, "tag.submission", "").fillna("") == "true").any())
    about = [f"{key} {value}" for key, value in (
        ("sha256", str(first.get("tag.submission.sha256", ""))[:12]),
        ("", first.get("tag.submission.description")), ("", first.get("tag.submission.url")))
        if isinstance(value, str) and value]
    row["submission_about"] = "; ".join(a.strip() for a in about) if row["submission"] else ""
    row["parent_ids"] = ";".join(sorted(set(_column(group_all, "tag.mlflow.parentRunId", None)
                                            .dropna())))
    row["_fingerprints"] = tuple(fingerprints)
    return row


def build_board(runs: pd.DataFrame, metrics: list[str], dataset: str, split: str) -> Board:
    """The board of one protocol from its runs (columns as :func:`store.finished_runs`)."""
    runs = _latest(runs)
    valid_metrics = sorted(set(runs["valid_metric"].astype(str)))
    if len(valid_metrics) > 1:
        raise RecbenchError(
            f"{dataset} · {split}: the runs were selected on different validation metrics "
            f"({', '.join(valid_metrics)}); filter them, e.g. --tag metrics.valid_metric="
            f"{valid_metrics[0]}.")
    valid_metric = valid_metrics[0]
    valid_key = metric_key("valid_" + valid_metric)
    rows = [_row(model, group, metrics, valid_key)
            for model, group in runs.groupby("tag.model", sort=False)]
    table = pd.DataFrame(rows).sort_values(metrics[0], ascending=not higher_is_better(metrics[0]),
                                           kind="stable", na_position="last")
    splits = {r["model"]: r["_fingerprints"] for r in rows}
    if len(set(splits.values())) > 1:
        detail = "; ".join(f"{m}: {','.join(f[:8] for f in fp) or '?'}"
                           for m, fp in splits.items())
        raise RecbenchError(
            f"{dataset} · {split}: the chosen configurations were tested on different splits "
            f"(split fingerprints {detail}); a table must compare models on the same test "
            f"data. Filter the runs (--tag split_fingerprint=...) or re-run with one split.seed.")
    table = table.drop(columns="_fingerprints").reset_index(drop=True)
    board = Board(dataset=dataset, split=split, table=table, valid_metric=valid_metric,
                  latest_run_ms=int(runs["start_time"].max()))
    unchosen = table.loc[table["chosen_on"] != "validation", "model"].tolist()
    if unchosen:
        board.notes.append(f"No validation metric was logged for {', '.join(unchosen)}: "
                           f"the configuration shown was not chosen on validation.")
    for r in table[table["submission"]].itertuples(index=False):
        board.notes.append(f"{r.model} is a submission: rankings (or probabilities) made "
                           f"outside recbench, scored here by the same protocol "
                           f"({r.submission_about}).")
    single = table.loc[(table["seeds"] < 2) & ~table["submission"], "model"].tolist()
    if single:
        board.notes.append(f"{', '.join(single)} ran on a single seed: no std (n/a); run "
                           f"more seeds (seed=1,2,3 or tuning.seeds) for mean ± std.")
    return board


def build_boards(runs: pd.DataFrame, metrics: list[str], group: bool = False) -> list[Board]:
    """One board per protocol; several protocols need ``group=True``."""
    found = protocols(runs)
    if len(found) > 1 and not group:
        names = ", ".join(f"{d} · {s}" for d, s in found)
        raise RecbenchError(
            f"the runs span {len(found)} protocols ({names}); one table compares models under "
            f"one protocol. Pass --group for one table per protocol, or filter with "
            f"--dataset / --split.")
    boards = []
    for dataset, split in found:
        part = runs[(runs["tag.dataset"] == dataset) & (runs["tag.split"] == split)]
        boards.append(build_board(part, metrics, dataset, split))
    return boards
