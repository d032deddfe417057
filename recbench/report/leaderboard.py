"""Leaderboards built from what the MLflow store holds (no re-training).

For every (dataset, split, model) the configuration with the best mean *validation* metric
is chosen (test metrics never take part in the choice); its test metrics are reported as
mean ± std over seeds. When a (config, seed) was run more than once, the latest run counts.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recbench.errors import RecbenchError
from recbench.evaluation.metrics import parse_metric
from recbench.tracking.run_tracker import metric_key

DISPLAY = {"precision": "Precision", "recall": "Recall", "ndcg": "NDCG", "map": "MAP",
           "mrr": "MRR", "hit": "HitRate", "f1": "F1"}


def display_name(metric: str) -> str:
    """``"ndcg@10" -> "NDCG@10"``."""
    name, k = parse_metric(metric)
    return f"{DISPLAY[name]}@{k}"


def finished_runs(client, experiment: str) -> pd.DataFrame:
    """One row per FINISHED run of an MLflow experiment: tags, params we need, all metrics."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = [e.name for e in client.search_experiments()]
        from recbench.errors import unknown_choice
        raise unknown_choice("experiment", experiment, names or ["(none: run an experiment first)"])
    rows, token = [], None
    while True:
        page = client.search_runs([found.experiment_id], "attributes.status = 'FINISHED'",
                                  max_results=1000, page_token=token)
        for r in page:
            if r.data.tags.get("recbench.sweep") == "true":
                continue  # a sweep's parent run: no model, no metrics of its own
            rows.append({"run_id": r.info.run_id, "start_time": r.info.start_time,
                         **{f"tag.{k}": v for k, v in r.data.tags.items()},
                         "valid_metric": r.data.params.get("metrics.valid_metric", "ndcg@10"),
                         **r.data.metrics})
        token = page.token
        if not token:
            break
    if not rows:
        raise RecbenchError(f"experiment '{experiment}' has no FINISHED runs; run it first "
                            f"(recbench run -m experiment={experiment}).")
    return pd.DataFrame(rows)


def build_leaderboard(runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Aggregate runs into one row per (dataset, split, model), best config by validation.

    Returns columns: dataset, split, model, seeds, configs_tried, config_hash,
    ``<metric>`` and ``<metric>_std`` for each metric, fit_time_s, n_parameters.
    """
    keys = ["tag.dataset", "tag.split", "tag.model"]
    runs = runs.sort_values("start_time").drop_duplicates(["tag.config_hash", "tag.seed"],
                                                          keep="last")
    rows = []
    for (dataset, split, model), group in runs.groupby(keys, sort=False):
        valid_key = metric_key("valid_" + group["valid_metric"].iloc[0])
        by_config = group.groupby("tag.seedless_config_hash")
        means = by_config[valid_key].mean() if valid_key in group else by_config.size() * 0.0
        best = means.fillna(float("-inf")).idxmax()  # no validation data: any config, say so
        chosen = group[group["tag.seedless_config_hash"] == best]
        row = {"dataset": dataset, "split": split, "model": model, "seeds": len(chosen),
               "chosen_on": "validation" if means.notna().any() else "none (no valid data)",
               "configs_tried": by_config.ngroups, "config_hash": best[:12]}
        for m in metrics:
            col = metric_key("test_" + m)
            if col not in chosen:
                raise RecbenchError(f"metric {m} was not logged by the runs of model '{model}'; "
                                    f"pick from the run's metrics.names / metrics.ks.")
            row[m] = chosen[col].mean()
            row[m + "_std"] = chosen[col].std(ddof=1) if len(chosen) > 1 else float("nan")
        row["fit_time_s"] = chosen["fit_time_s"].mean()
        row["n_parameters"] = int(chosen["n_parameters"].iloc[0])
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(metrics[0], ascending=False, kind="stable")
    return table.reset_index(drop=True)


def _cell(mean: float, std: float) -> str:
    return f"{mean:.4f}" if pd.isna(std) else f"{mean:.4f} ± {std:.4f}"


def formatted(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Human-readable version: ``mean ± std`` cells, display names."""
    out = pd.DataFrame({"Model": table["model"], "Dataset": table["dataset"],
                        "Split": table["split"], "Seeds": table["seeds"]})
    for m in metrics:
        out[display_name(m)] = [_cell(a, b) for a, b in zip(table[m], table[m + "_std"])]
    out["Fit time (s)"] = table["fit_time_s"].map(lambda s: f"{s:.2f}")
    out["Params"] = table["n_parameters"].map(lambda n: f"{n:,}")
    out["Config"] = table["config_hash"]
    return out


def to_markdown(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_leaderboard(table: pd.DataFrame, metrics: list[str], experiment: str,
                      out_dir: Path) -> list[Path]:
    """Write ``leaderboard.md`` (formatted) and ``leaderboard.csv`` (raw numbers)."""
    target = Path(out_dir) / experiment
    target.mkdir(parents=True, exist_ok=True)
    md, csv = target / "leaderboard.md", target / "leaderboard.csv"
    note = ("Full ranking over all items, train (and valid) items masked; test metrics of the "
            "configuration with the best mean validation metric, mean ± std over seeds.\n\n")
    md.write_text(f"# {experiment}\n\n{note}{to_markdown(formatted(table, metrics))}")
    table.to_csv(csv, index=False, float_format="%.6f")
    return [md, csv]


def print_leaderboard(table: pd.DataFrame, metrics: list[str], experiment: str) -> None:
    from rich.console import Console
    from rich.table import Table

    pretty = formatted(table, metrics)
    title = f"recbench leaderboard: {experiment}"
    for col in ("Dataset", "Split"):  # one value for every row: say it once, in the title
        if pretty[col].nunique() == 1:
            title += f" · {pretty[col].iloc[0]}"
            pretty = pretty.drop(columns=col)
    rich_table = Table(title=title)
    for col in pretty.columns:
        numeric = col not in ("Model", "Dataset", "Split", "Config")
        rich_table.add_column(col, justify="right" if numeric else "left")
    for row in pretty.itertuples(index=False):
        rich_table.add_row(*map(str, row))
    console = Console()
    if not console.is_terminal:  # piped or logged: don't squeeze the table into 80 columns
        console = Console(width=200)
    console.print(rich_table)
