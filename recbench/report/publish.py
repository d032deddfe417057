"""Publish leaderboards: ``results/<name>/`` with Markdown, CSV, LaTeX, HTML and plots, and
``results/README.md`` indexing every published leaderboard."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import shutil
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from recbench.errors import RecbenchError
from recbench.report import aggregate as aggregation
from recbench.report.aggregate import Aggregate
from recbench.report.board import Board
from recbench.report.tables import (csv_frame, display_table, latex, legend, markdown,
                                    md_cell, seconds, significance_csv, significance_frame,
                                    stability_legend)
from recbench.safe_names import inside

SELECTION_RULE = ("per model, the configuration with the best mean validation metric among "
                  "those run on the most seeds; test metrics never take part in the choice")
META = "leaderboard.json"
#: the files `publish` writes in its folder (removed first, so none is left over)
OWNED = ("leaderboard.md", "leaderboard.tex", "index.html", "leaderboard.csv",
         "significance.csv", "stability.csv", "aggregate.csv", META)


def context(experiments: list[str], boards: list[Board]) -> dict[str, str]:
    """The page-wide facts shown at the top of every format (no wall-clock time: the same
    store publishes the same files)."""
    valid = ", ".join(sorted({b.valid_metric for b in boards}))
    latest = max((b.latest_run_ms or 0) for b in boards) / 1000
    return {
        "Experiments": ", ".join(experiments),
        "Protocols": "; ".join(b.title for b in boards),
        **{label: text[0].upper() + text[1:] + "."
           for label, text in dict.fromkeys(b.scoring for b in boards)},
        "Selection": SELECTION_RULE + f" (validation metric: {valid})",
        "Latest run": dt.datetime.fromtimestamp(latest, dt.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"),
        "recbench": importlib.metadata.version("recbench"),
    }


def _reproduce(board: Board) -> str:
    rows = []
    for r in board.table.to_dict("records"):
        trials = r.get("n_trials")
        trials = "n/a" if trials is None or trials != trials else int(trials)
        rows.append([r["model"], r["command"], r["config_hash"], r["split_fingerprint"],
                     r["data_fingerprint"], trials, r.get("search_space", "n/a"),
                     seconds(r["tuning_fit_time_s"]), r.get("versions", "n/a")])
    columns = ["Model", "Command", "Config", "Split", "Data", "Trials", "Search space",
               "Tuning fit (s)", "Versions"]
    return markdown(pd.DataFrame(rows, columns=columns), code=("Command", "Search space"))


def _aggregate_markdown(agg: Aggregate, plot: Path | None) -> list[str]:
    """The section of the ranking over every board (``--aggregate``)."""
    out = [f"## Aggregate over {agg.values.shape[1]} data sets\n",
           markdown(aggregation.display_frame(agg)), md_cell(aggregation.legend(agg)) + "\n"]
    out += [f"> {md_cell(note)}\n" for note in agg.notes]
    if plot is not None:
        out.append(f"![performance profiles](plots/{quote(plot.name)})\n")
    return out


def render_markdown(name: str, boards: list[Board], metrics: list[str], alpha: float,
                    facts: dict[str, str], plots: dict[str, dict[str, Path]],
                    aggregate: Aggregate | None = None,
                    aggregate_plot: Path | None = None) -> str:
    # names, labels and notes come from whoever logged the runs: escaped, never markup
    out = [f"# {md_cell(name)}\n", *(f"- **{k}**: {md_cell(v)}" for k, v in facts.items()), ""]
    for board in boards:
        out += [f"## {md_cell(board.title)}\n", markdown(display_table(board, metrics, alpha))]
        if board.significance is not None:
            out.append(legend(alpha, board) + "\n")
        if board.stability is not None:
            out.append(md_cell(stability_legend(board)) + "\n")
        out += [f"> {md_cell(note)}\n" for note in board.notes]
        if board.significance is not None:
            out += ["### Significance (every model vs the best, per metric)\n",
                    markdown(significance_frame(board, alpha))]
        out += ["### Reproduce\n", _reproduce(board)]
        shown = plots.get(board.slug, {})
        if shown:
            out.append("### Plots\n")
            out += [f"![{kind}](plots/{quote(path.name)})\n" for kind, path in shown.items()]
    if aggregate is not None:
        out += _aggregate_markdown(aggregate, aggregate_plot)
    return "\n".join(out)


def publish(name: str, experiments: list[str], boards: list[Board], metrics: list[str],
            alpha: float, results_dir: Path, aggregate: Aggregate | None = None) -> list[Path]:
    """Write every format of ``boards`` to ``results_dir/name/`` and refresh the index.

    Boards with ``stability`` (``--stability``) add its columns, ``stability.csv`` and a
    rank-interval plot each; ``aggregate`` (``--aggregate``) adds its section,
    ``aggregate.csv`` and the performance-profile plot.

    Returns the paths written (plots last).

    Raises:
        RecbenchError: ``name`` leads out of ``results_dir`` (``..``, an absolute path, a
            symbolic link), or the folder cannot be written (e.g. ``results_dir`` is a file).
    """
    results_dir = Path(results_dir)
    try:
        return _publish(results_dir, name, experiments, boards, metrics, alpha, aggregate)
    except OSError as err:  # e.g. --out-dir is a file, or under /proc
        raise RecbenchError(f"cannot write the leaderboard to {results_dir / name}: "
                            f"{err.strerror or err} "
                            f"({err.filename}); pass a writable folder as --out-dir.") from None


def _publish(results_dir: Path, name: str, experiments: list[str], boards: list[Board],
             metrics: list[str], alpha: float, aggregate: Aggregate | None) -> list[Path]:
    from recbench.report.html import render_html
    from recbench.report.plots import write_plots
    from recbench.report.stability_plots import write_profile_plot, write_rank_plot

    target = results_dir / name
    plot_dir = target / "plots"
    for folder in (target, plot_dir):  # checked before anything is removed or written
        inside(folder, results_dir)
    target.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(plot_dir, ignore_errors=True)  # what this command owns: nothing stale
    for old in OWNED:
        (target / old).unlink(missing_ok=True)
    plot_dir.mkdir(exist_ok=True)
    facts = context(experiments, boards)
    plots = {b.slug: write_plots(b, metrics, plot_dir) for b in boards}
    for b in boards:
        if b.stability is not None:
            plots[b.slug]["ranks"] = write_rank_plot(b, plot_dir)
    profile = write_profile_plot(aggregate, plot_dir) if aggregate is not None else None
    written = {
        "leaderboard.md": render_markdown(name, boards, metrics, alpha, facts, plots,
                                          aggregate, profile),
        "leaderboard.tex": latex(boards, metrics, alpha, caption=f"{name}:"),
        "index.html": render_html(boards, metrics, alpha, name, facts, plots, aggregate,
                                  profile),
    }
    paths = []
    for file, text in written.items():
        (target / file).write_text(text, encoding="utf-8")
        paths.append(target / file)
    csv_frame(boards).to_csv(target / "leaderboard.csv", index=False, float_format="%.6f")
    paths.append(target / "leaderboard.csv")
    sig = significance_csv(boards)
    if sig is not None:
        sig.to_csv(target / "significance.csv", index=False, float_format="%.6g")
        paths.append(target / "significance.csv")
    stable = [b.stability.assign(dataset=b.dataset, split=b.split) for b in boards
              if b.stability is not None]
    if stable:
        frame = pd.concat(stable, ignore_index=True)
        first = ["dataset", "split", "model"]
        frame[first + [c for c in frame.columns if c not in first]].to_csv(
            target / "stability.csv", index=False, float_format="%.6g")
        paths.append(target / "stability.csv")
    if aggregate is not None:
        aggregation.csv_frame(aggregate).to_csv(target / "aggregate.csv", index=False,
                                                float_format="%.6g")
        paths.append(target / "aggregate.csv")
    meta = {"name": name, "experiments": experiments, "latest_run": facts["Latest run"],
            "protocols": [b.title for b in boards], "metrics": metrics,
            "models": sorted({m for b in boards for m in b.table["model"]}),
            "seeds": sorted({int(n) for b in boards for n in b.table["seeds"]}),
            "significance": all(b.significance is not None for b in boards)}
    (target / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    paths.append(target / META)
    paths.append(write_index(results_dir))
    return paths + [p for kinds in plots.values() for p in kinds.values()] + (
        [profile] if profile is not None else [])


def write_index(results_dir: Path) -> Path:
    """``results/README.md``: every published leaderboard, then the other tables."""
    results_dir = Path(results_dir)
    lines = ["# Published results\n",
             "Written by `recbench leaderboard` (do not edit by hand: re-run it). Each "
             "leaderboard folder has `leaderboard.md`, `.csv`, `.tex`, `index.html` (open it "
             "in a browser), `significance.csv` and `plots/` (and `stability.csv` / "
             "`aggregate.csv` when published with `--stability` / `--aggregate`).\n",
             "| Leaderboard | Protocols | Models | Seeds | Significance | Latest run |",
             "|---|---|---|---|---|---|"]
    for meta_path in sorted(results_dir.glob(f"*/{META}")):
        m = json.loads(meta_path.read_text(encoding="utf-8"))
        folder = meta_path.parent.name
        link = (f"[{md_cell(m['name'])}]({quote(folder)}/leaderboard.md) "
                f"([html]({quote(folder)}/index.html))")
        cells = ["; ".join(m["protocols"]), ", ".join(m["models"]),
                 ", ".join(map(str, m["seeds"])), "yes" if m["significance"] else "no",
                 m.get("latest_run", "")]
        lines.append("| " + " | ".join([link, *map(md_cell, cells)]) + " |")
    others = [p for p in sorted(results_dir.glob("*/*.md"))
              if not (p.parent / META).exists() and p.name != "README.md"]
    readmes = sorted(p for p in results_dir.glob("*/README.md") if not (p.parent / META).exists())
    if others or readmes:
        lines += ["", "## Other tables\n"]
        lines += [f"- [{md_cell(f'{p.parent.name}/{p.name}')}]"
                  f"({quote(p.parent.name)}/{quote(p.name)})"
                  for p in readmes + others
                  if not (p.name != "README.md" and (p.parent / "README.md").exists())]
    index = results_dir / "README.md"
    index.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return index
