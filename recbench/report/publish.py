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
from recbench.report.board import Board
from recbench.report.tables import (csv_frame, display_table, latex, legend, markdown,
                                    md_cell, seconds, significance_csv, significance_frame)
from recbench.safe_names import inside

SELECTION_RULE = ("per model, the configuration with the best mean validation metric among "
                  "those run on the most seeds; test metrics never take part in the choice")
META = "leaderboard.json"
#: the files `publish` writes in its folder (removed first, so none is left over)
OWNED = ("leaderboard.md", "leaderboard.tex", "index.html", "leaderboard.csv",
         "significance.csv", META)


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


def render_markdown(name: str, boards: list[Board], metrics: list[str], alpha: float,
                    facts: dict[str, str], plots: dict[str, dict[str, Path]]) -> str:
    # names, labels and notes come from whoever logged the runs: escaped, never markup
    out = [f"# {md_cell(name)}\n", *(f"- **{k}**: {md_cell(v)}" for k, v in facts.items()), ""]
    for board in boards:
        out += [f"## {md_cell(board.title)}\n", markdown(display_table(board, metrics, alpha))]
        if board.significance is not None:
            out.append(legend(alpha, board) + "\n")
        out += [f"> {md_cell(note)}\n" for note in board.notes]
        if board.significance is not None:
            out += ["### Significance (every model vs the best, per metric)\n",
                    markdown(significance_frame(board, alpha))]
        out += ["### Reproduce\n", _reproduce(board)]
        shown = plots.get(board.slug, {})
        if shown:
            out.append("### Plots\n")
            out += [f"![{kind}](plots/{quote(path.name)})\n" for kind, path in shown.items()]
    return "\n".join(out)


def publish(name: str, experiments: list[str], boards: list[Board], metrics: list[str],
            alpha: float, results_dir: Path) -> list[Path]:
    """Write every format of ``boards`` to ``results_dir/name/`` and refresh the index.

    Returns the paths written (plots last).

    Raises:
        RecbenchError: ``name`` leads out of ``results_dir`` (``..``, an absolute path, a
            symbolic link), or the folder cannot be written (e.g. ``results_dir`` is a file).
    """
    results_dir = Path(results_dir)
    try:
        return _publish(results_dir, name, experiments, boards, metrics, alpha)
    except OSError as err:  # e.g. --out-dir is a file, or under /proc
        raise RecbenchError(f"cannot write the leaderboard to {results_dir / name}: "
                            f"{err.strerror or err} "
                            f"({err.filename}); pass a writable folder as --out-dir.") from None


def _publish(results_dir: Path, name: str, experiments: list[str], boards: list[Board],
             metrics: list[str], alpha: float) -> list[Path]:
    from recbench.report.html import render_html
    from recbench.report.plots import write_plots

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
    written = {
        "leaderboard.md": render_markdown(name, boards, metrics, alpha, facts, plots),
        "leaderboard.tex": latex(boards, metrics, alpha, caption=f"{name}:"),
        "index.html": render_html(boards, metrics, alpha, name, facts, plots),
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
    meta = {"name": name, "experiments": experiments, "latest_run": facts["Latest run"],
            "protocols": [b.title for b in boards], "metrics": metrics,
            "models": sorted({m for b in boards for m in b.table["model"]}),
            "seeds": sorted({int(n) for b in boards for n in b.table["seeds"]}),
            "significance": all(b.significance is not None for b in boards)}
    (target / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    paths.append(target / META)
    paths.append(write_index(results_dir))
    return paths + [p for kinds in plots.values() for p in kinds.values()]


def write_index(results_dir: Path) -> Path:
    """``results/README.md``: every published leaderboard, then the other tables."""
    results_dir = Path(results_dir)
    lines = ["# Published results\n",
             "Written by `recbench leaderboard` (do not edit by hand: re-run it). Each "
             "leaderboard folder has `leaderboard.md`, `.csv`, `.tex`, `index.html` (open it "
             "in a browser), `significance.csv` and `plots/`.\n",
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
