"""Reproduction tables: our runs of published settings next to the published numbers, and
per-model fit times (``recbench reproductions``, written to ``results/zoo/``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from recbench.config import NOT_RESULT_OVERRIDES
from recbench.errors import RecbenchError
from recbench.report.board import reproduce_command
from recbench.report.publish import write_index
from recbench.report.runs import finished_runs
from recbench.report.tables import display_name, markdown

#: relative gap within which a reproduction counts as matching the published number
TOLERANCE = 0.03
#: hand-written explanation of the gaps, linked from the generated page when present
GAPS = "gaps.md"
#: test metrics shown beside the fit times (every zoo model's result, published or not)
TIME_TABLE_METRICS = ("recall@20", "ndcg@20", "ndcg@10")


def load_published(path: Path) -> pd.DataFrame:
    """``results/published.yaml`` as rows ``dataset, model, params, metric, published,
    source``; ``params`` (``{"model.loss": "bce"}``) picks which of our runs of that model
    reproduces the published setting."""
    if not path.is_file():
        raise RecbenchError(f"published results file {path} not found; pass --published PATH.")
    entries = yaml.safe_load(path.read_text()) or []
    rows = []
    for n, entry in enumerate(entries):
        missing = {"dataset", "model", "metrics", "source"} - set(entry or {})
        if missing:
            raise RecbenchError(f"{path}: entry {n + 1} lacks {sorted(missing)}.")
        params = {str(k): str(v) for k, v in (entry.get("params") or {}).items()}
        rows += [{"dataset": entry["dataset"], "model": entry["model"], "params": params,
                  "metric": metric, "published": float(value), "source": entry["source"]}
                 for metric, value in entry["metrics"].items()]
    return pd.DataFrame(rows, columns=["dataset", "model", "params", "metric", "published",
                                       "source"])


def latest_runs(client, experiments: list[str]) -> pd.DataFrame:
    """The most recent FINISHED run of each configuration (dataset, model, overrides) in
    the experiments; column ``settings`` holds the overrides beyond experiment and model."""
    runs = finished_runs(client, experiments)
    if runs.empty:
        raise RecbenchError(f"no finished runs in {', '.join(experiments)}; run them first "
                            f"(the commands are in experiments/repro_*.yaml).")
    runs = runs.sort_values("start_time").copy()
    runs["settings"] = [_settings(o) for o in runs.get("tag.recbench.overrides",
                                                         pd.Series(None, index=runs.index))]
    return runs.groupby(["tag.dataset", "tag.model", "settings"], as_index=False).tail(1)


def _settings(overrides) -> str:
    if not isinstance(overrides, str):
        return ""
    skip = NOT_RESULT_OVERRIDES + ("experiment=", "model=", "seed=", "hydra.")
    return " ".join(o for o in json.loads(overrides) if not o.startswith(skip))


def _command(run: pd.Series) -> str:
    overrides = run.get("tag.recbench.overrides")
    choices = run.get("tag.recbench.choices")
    seed = int(run.get("tag.seed", run.get("param.seed", 0)))
    return reproduce_command(json.loads(overrides) if isinstance(overrides, str) else None,
                             [seed], json.loads(choices) if isinstance(choices, str) else None)


def reproduction_table(runs: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """One row per published number: ours (test), published, relative gap, command.

    A published number without a run of ours is listed with ``ours`` NaN ("not run")."""
    rows = []
    for pub in published.itertuples():
        match = runs[(runs["tag.dataset"] == pub.dataset) & (runs["tag.model"] == pub.model)]
        for name, value in pub.params.items():  # the published setting, e.g. model.loss=bce
            column = match.get(f"param.{name}", pd.Series(None, index=match.index))
            match = match[column.astype(str) == value]
        match = match.sort_values("start_time", ascending=False)
        key = "test_" + pub.metric.replace("@", "_")
        ours = float(match.iloc[0][key]) if len(match) and key in match and \
            pd.notna(match.iloc[0][key]) else np.nan
        rows.append({"dataset": pub.dataset,
                     "model": " ".join([pub.model, *(f"{k}={v}" for k, v in pub.params.items())]),
                     "metric": pub.metric,
                     "ours": ours, "published": pub.published,
                     "gap": ours / pub.published - 1 if np.isfinite(ours) else np.nan,
                     "epochs": float(match.iloc[0].get("epochs_trained", np.nan)) if len(match)
                     else np.nan,
                     "source": pub.source,
                     "command": _command(match.iloc[0]) if len(match) else "not run"})
    return pd.DataFrame(rows)


def fit_time_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model): fit and evaluation seconds, epochs, seconds per epoch."""
    frame = pd.DataFrame({
        "dataset": runs["tag.dataset"], "model": runs["tag.model"],
        "settings": runs.get("settings", pd.Series("", index=runs.index)),
        "fit_s": runs["fit_time_s"], "eval_s": runs["eval_time_s"],
        "epochs": runs.get("epochs_trained", pd.Series(np.nan, index=runs.index)),
        "valid_metric": runs["valid_metric"],
        **{f"test_{m}": runs.get("test_" + m.replace("@", "_"), pd.Series(np.nan, index=runs.index))
           for m in TIME_TABLE_METRICS}})
    frame["s_per_epoch"] = frame["fit_s"] / frame["epochs"]
    return frame.sort_values(["dataset", "fit_s"]).reset_index(drop=True)


def render(repro: pd.DataFrame, times: pd.DataFrame, experiments: list[str]) -> str:
    """The markdown page ``results/zoo/README.md``."""
    def number(x, fmt="{:.4f}"):
        return "not run" if not np.isfinite(x) else fmt.format(x)

    lines = [f"# Reproductions and fit times", "",
             f"Generated by `recbench reproductions {' '.join(experiments)}` from the MLflow "
             f"store. Test metrics of one seed (0), full ranking over all items with the "
             f"user's train (and, for test, valid) items masked; validation carved from the "
             f"published train files (or the second-to-last item). Gap = ours / published - 1; "
             f"✓ within ±{TOLERANCE:.0%}.", "", "## Ours vs published", ""]
    shown = pd.DataFrame({
        "data set": repro["dataset"], "model": repro["model"],
        "metric": [display_name(m) for m in repro["metric"]],
        "ours": [number(x) for x in repro["ours"]],
        "published": [number(x) for x in repro["published"]],
        "gap": [("n/a" if not np.isfinite(g) else f"{g:+.1%}" + (" ✓" if abs(g) <= TOLERANCE + 1e-9
                                                                 else "")) for g in repro["gap"]],
        "epochs": [number(e, "{:.0f}") if np.isfinite(e) else "-" for e in repro["epochs"]],
        "source": repro["source"], "command": repro["command"]})
    lines += [markdown(shown, code=("command",)), "",
              "## Every model: fit time and test metrics", "",
              "Wall-clock seconds on this machine (2 CPU cores, no GPU) while other jobs may "
              "share it; neural models: fit = all epochs run, each followed by validation "
              "on `trainer.valid_every` epochs.", ""]
    shown = pd.DataFrame({
        "data set": times["dataset"], "model": times["model"],
        "settings": times["settings"],
        "fit (s)": [number(x, "{:.1f}") for x in times["fit_s"]],
        "epochs": [number(e, "{:.0f}") if np.isfinite(e) else "-" for e in times["epochs"]],
        "s / epoch": [number(x, "{:.1f}") if np.isfinite(x) else "-" for x in times["s_per_epoch"]],
        "evaluation (s)": [number(x, "{:.1f}") for x in times["eval_s"]],
        **{f"test {display_name(m)}": [number(x) if np.isfinite(x) else "-"
                                       for x in times[f"test_{m}"]] for m in TIME_TABLE_METRICS}})
    lines += [markdown(shown, code=("settings",)), ""]
    return "\n".join(lines)


def write_reproductions(client, experiments: list[str], published_path: Path,
                        out_dir: Path) -> list[Path]:
    """Write ``README.md``, ``reproductions.csv`` and ``fit_times.csv`` to ``out_dir``."""
    runs = latest_runs(client, experiments)
    repro = reproduction_table(runs, load_published(published_path))
    repro = repro[repro["dataset"].isin(set(runs["tag.dataset"]))]
    times = fit_time_table(runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "README.md", out_dir / "reproductions.csv", out_dir / "fit_times.csv"]
    page = render(repro, times, experiments)
    if (out_dir / GAPS).is_file():  # hand-written: what the gaps mean, measured
        page = page.replace("\n## Ours vs published\n",
                            f"\nWhy ours differ where they do: [{GAPS}]({GAPS}).\n\n"
                            f"## Ours vs published\n", 1)
    paths[0].write_text(page)
    repro.to_csv(paths[1], index=False, float_format="%.6g")
    times.to_csv(paths[2], index=False, float_format="%.6g")
    if (out_dir.parent / "README.md").is_file():  # a results/ folder: refresh its index
        paths.append(write_index(out_dir.parent))
    return paths
