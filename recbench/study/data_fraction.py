"""``recbench study data-fraction EXPERIMENT``: learning curves over the training data.

Which models need data and which do not? Each model a leaderboard reports is run again,
with its chosen configuration, on nested shares ``f`` of every user's train part
(``split.train_fraction``, :mod:`recbench.splits.fraction`) and on several seeds; valid
and test stay the same, so every point of a curve is scored on the same users and items.

The runs are ordinary tracked runs, logged to the MLflow experiment
``<EXPERIMENT>_data_fraction``: a killed study resumes where it stopped (FINISHED runs are
skipped), and each run is in the MLflow UI like any other. The study then publishes
``results/<EXPERIMENT>/data_fraction/``: ``data_fraction.csv`` (model, fraction, seeds,
mean, std, min, max of the metric, train interactions), ``data_fraction.md`` and the plot
``data_fraction.png``/``.svg`` (the metric against f per model, a min–max band over seeds).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from recbench.errors import RecbenchError

FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)
SUFFIX = "_data_fraction"
FOLDER = "data_fraction"


def parse_fractions(text: str) -> list[float]:
    """``"0.1,0.5,1"`` -> ``[0.1, 0.5, 1.0]`` (sorted, each in (0, 1]) or one line."""
    try:
        values = sorted({float(v) for v in text.split(",") if v.strip()})
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) and 0 < v <= 1 for v in values):
        raise RecbenchError(f"--fractions takes fractions in (0, 1], comma-separated, e.g. "
                            f"0.1,0.25,0.5,0.75,1.0; got '{text}'.")
    return values


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        raise RecbenchError(f"--seeds takes non-negative integers, comma-separated, e.g. "
                            f"1,2,3; got '{text}'.")
    return seeds


def check(client, experiment: str, metric: str, filters: dict[str, str], results_dir: Path):
    """Everything that can be wrong before the first run, as one line each: the metric, the
    output folder, the experiment and its boards (top-N only: CTR splits keep every train
    row). Returns the boards."""
    from recbench.evaluation.registry import info, parse_metric
    from recbench.report.board import build_boards
    from recbench.report.runs import finished_runs
    from recbench.safe_names import inside

    parse_metric(metric)
    inside(Path(results_dir) / experiment / FOLDER, Path(results_dir))
    boards = build_boards(finished_runs(client, [experiment], filters), [metric], group=True)
    ctr = [b.title for b in boards if info(b.valid_metric).kind == "ctr"]
    if ctr:
        raise RecbenchError(f"{', '.join(ctr)}: a CTR split keeps every train row "
                            f"(split.train_fraction is for top-N splits); filter with "
                            f"--dataset / --split.")
    return boards


def launch(client, boards, fractions: list[float], seeds: list[int],
           tracking_uri: str | None, target: str) -> int:
    """Run every (model, fraction, seed) of ``boards`` (each model's chosen configuration,
    rebuilt from the ``config.yaml`` of one of its runs and checked against its config
    hash) into the MLflow experiment ``target``, as the jobs of a sweep: a FINISHED run
    is skipped, a failed run is reported in one line and the study goes on. Returns the
    number of failed runs."""
    from omegaconf import OmegaConf

    from recbench.config import compose
    from recbench.launch import _Process, job
    from recbench.study.refit import logged_config

    plumbing = compose().sweep  # a study's runs are nobody's sweep children
    jobs = []
    for board in boards:
        for row in board.table.itertuples(index=False):
            run_id = row.run_ids.split(";")[0]
            cfg = logged_config(client, run_id, client.get_run(run_id).data.tags)
            jobs += [(cfg, f, s) for f in fractions for s in seeds]
    start = len(_Process.outcomes)
    for i, (cfg, fraction, seed) in enumerate(jobs, 1):
        run_cfg = OmegaConf.create(OmegaConf.to_container(cfg))
        run_cfg.name, run_cfg.seed, run_cfg.split.train_fraction = target, seed, float(fraction)
        run_cfg.tracking.uri, run_cfg.sweep = tracking_uri, plumbing
        print(f"[{i}/{len(jobs)}] {cfg.model.name} · {cfg.dataset.name} · {cfg.split.name} "
              f"f={fraction:g} seed={seed}", flush=True)
        job(run_cfg)
    return sum(outcome == "failed" for outcome, _ in _Process.outcomes[start:])


def curves(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (dataset, split, model, fraction): seeds, mean, std (ddof=1), min and max of
    ``metric`` over seeds, and the mean number of train interactions.

    Args:
        runs: :func:`recbench.report.runs.finished_runs` of the study's experiment.
        metric: a test metric such as ``ndcg@10``.
    """
    from recbench.tracking.run_tracker import metric_key

    column = metric_key("test_" + metric)
    if column not in runs:
        raise RecbenchError(f"the study's runs did not log {metric}; pick one they logged "
                            f"(--metric ndcg@10).")
    fraction = pd.to_numeric(runs.get("param.split.train_fraction",
                                      pd.Series(1.0, index=runs.index)), errors="coerce")
    frame = pd.DataFrame({"dataset": runs["tag.dataset"], "split": runs["tag.split"],
                          "model": runs["tag.model"], "fraction": fraction.fillna(1.0),
                          "seed": runs["tag.seed"], "value": runs[column]})
    # the latest run of a (config, seed) counts, as on leaderboards
    frame = frame.loc[runs.sort_values("start_time").drop_duplicates(
        ["tag.config_hash"], keep="last").index]
    grouped = frame.groupby(["dataset", "split", "model", "fraction"], sort=True)["value"]
    out = grouped.agg(seeds="count", mean="mean", std=lambda v: v.std(ddof=1), min="min",
                      max="max").reset_index()
    return out


def _plot(table: pd.DataFrame, metric: str, stem: Path) -> list[Path]:
    import matplotlib
    from matplotlib.figure import Figure

    from recbench.evaluation.registry import display_name
    from recbench.report.plots import _RC, _save

    protocols = list(table.groupby(["dataset", "split"], sort=False).groups)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.4 * len(protocols), 4.4), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(protocols), squeeze=False)[0])
        for ax, (dataset, split) in zip(axes, protocols):
            part = table[(table["dataset"] == dataset) & (table["split"] == split)]
            order = part[part["fraction"] == part["fraction"].max()].sort_values(
                "mean", ascending=False)["model"].tolist()
            for i, model in enumerate(order):
                curve = part[part["model"] == model].sort_values("fraction")
                ax.plot(curve["fraction"], curve["mean"], marker="o", markersize=3.5,
                        color=f"C{i % 10}", label=model, linewidth=1.2)
                ax.fill_between(curve["fraction"], curve["min"], curve["max"],
                                color=f"C{i % 10}", alpha=0.2, linewidth=0)
            ax.set_xlabel("share of each user's train interactions (split.train_fraction)")
            ax.set_ylabel(f"test {display_name(metric)} (mean over seeds, min–max band)")
            ax.set_title(f"{dataset} · {split}: accuracy vs training data")
            ax.legend(fontsize="small", ncols=2)
        png = _save(fig, stem)
    return [png, png.with_suffix(".svg")]


def publish(client, experiment: str, metric: str, results_dir: Path) -> list[Path]:
    """Write ``results_dir/<experiment>/data_fraction/`` from the study's runs."""
    from recbench.report.runs import finished_runs

    table = curves(finished_runs(client, [experiment + SUFFIX]), metric)
    folder = Path(results_dir) / experiment / FOLDER
    try:
        return _write(table, experiment, metric, folder)
    except OSError as err:  # e.g. --out-dir is a file
        raise RecbenchError(f"cannot write the study to {folder}: {err.strerror or err} "
                            f"({err.filename}); pass a writable folder as --out-dir.") from None


def _write(table: pd.DataFrame, experiment: str, metric: str, folder: Path) -> list[Path]:
    from recbench.report.tables import markdown

    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "data_fraction.csv", index=False, float_format="%.6f")
    shown = table.assign(**{
        "fraction": table["fraction"].map(lambda f: f"{f:g}"),
        metric: [f"{m:.4f} ± {s:.4f}" if np.isfinite(s) else f"{m:.4f}"
                 for m, s in zip(table["mean"], table["std"])],
        "min–max": [f"{lo:.4f}–{hi:.4f}" for lo, hi in zip(table["min"], table["max"])]})
    wide = shown.pivot_table(index=["dataset", "split", "model"], columns="fraction",
                             values=metric, aggfunc="first").reset_index()
    wide.columns = [str(c) if c in ("dataset", "split", "model") else f"f={c}"
                    for c in wide.columns]
    text = (f"# {experiment}: data-fraction learning curves\n\n"
            f"Test {metric} (mean ± std over seeds) of each model's chosen configuration on "
            f"the leaderboard of `{experiment}`, trained on a nested share f of every user's "
            f"train interactions (`split.train_fraction`); valid and test untouched. Runs: "
            f"MLflow experiment `{experiment + SUFFIX}`.\n\n" + markdown(wide) +
            "\n![data fraction](data_fraction.png)\n")
    (folder / "data_fraction.md").write_text(text, encoding="utf-8")
    plots = _plot(table, metric, folder / "data_fraction")
    return [folder / "data_fraction.csv", folder / "data_fraction.md", *plots]
