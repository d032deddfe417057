"""Publish a sampled-vs-full study: ``results/<name>/sampled_vs_full/`` with
``sampled_vs_full.md``, ``agreement.csv``, ``models.csv``, ``runs.csv`` and, per board,
``plots/<dataset>_<split>_agreement.png`` and ``.svg`` (Kendall's tau per metric and
protocol, each against its reference; reproducible bytes: :func:`recbench.report.plots._save`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from recbench.errors import RecbenchError
from recbench.evaluation.registry import display_name
from recbench.report.tables import markdown, md_cell
from recbench.safe_names import check_name, file_component, inside
from recbench.study.agreement import order
from recbench.study.sampled_vs_full import FULL, PER_ITEM, StudyResult

FOLDER = "sampled_vs_full"
PER_LIST = "full (per list)"  #: how tables name the data's ``full``

DEFINITIONS = """\
- **Runs**: those `recbench leaderboard {experiment}` reports (per model the configuration \
chosen on validation, each of its seeds), re-fitted from their logged `config.yaml` and \
seed and scored once under every protocol; nothing is logged back. A model's value is its \
mean over seeds; the orders compared are those of these means.
- **Full (per list)**: the leaderboard's metric: one top-K list per user among every item \
outside its train and valid parts (its test items and the items it never interacted with), \
scored against all the user's test items at once.
- **Full (per item)**: each test item ranked against itself and every item its user never \
interacted with in any part of the split (the other test items excluded): rank = 1 + the \
number of those scored higher, or equal with a lower item id; the metric of one relevant \
item at that rank, averaged over the user's test items, then over users. It is the sampled \
metric with every free item drawn, what sampling and its correction approximate. With one \
test item per user (leave-one-out) it equals full (per list); with several it differs \
(hit@K = recall@K per item, and no other test item competes).
- **Sampled (n, sampler)**: the same, against n items drawn among those free items (the \
same items for every model; `uniform`, or `popularity` in proportion to train users per \
item; `recbench/evaluation/sampled.py`).
- **Corrected sampled**: Krichene & Rendle's correction (KDD 2020): per (catalogue size N, \
draws m) a value per sampled rank fitted by least squares so that its expectation under \
Binomial(m, (R-1)/(N-1)) matches the metric at every full rank R; minimal bias, or a \
bias-variance trade-off of weight γ (`recbench/evaluation/correction.py`). It estimates \
full (per item).
- **Agreement** of a protocol with its **reference**, per metric: Kendall's τ (tau-b) and \
Spearman's ρ of the model means; a flipped pair is two models the reference orders one way \
and the protocol the other (`a > b`: the reference order). The reference of every sampled \
and corrected protocol is full (per item), so the numbers measure sampling alone; full \
(per item) against full (per list) is shown apart, for information: how far the metric's \
definition alone moves the order.
"""


def study_folder(out_dir: Path, name: str) -> Path:
    """``out_dir/name/sampled_vs_full``, after checking ``name`` (``--name``) and that the
    folder stays inside ``out_dir``: called before any re-fit, so a bad name costs nothing."""
    check_name(name, "--name (default: the experiment)", "--name my_study")
    folder = Path(out_dir) / name / FOLDER
    inside(folder, Path(out_dir))
    return folder


def _shown(label: str) -> str:
    """How tables name a protocol: the data's ``full`` is the per-list metric."""
    return PER_LIST if label == FULL else label


def _cell(value: float, digits: int = 3) -> str:
    return "n/a" if pd.isna(value) else f"{value:.{digits}f}"


def _agreement_table(part: pd.DataFrame) -> str:
    frame = pd.DataFrame({
        "Metric": part["metric"].map(display_name), "Protocol": part["protocol"],
        "Reference": part["reference"].map(_shown), "Models": part["n_models"],
        "Kendall τ": part["kendall_tau"].map(_cell),
        "Spearman ρ": part["spearman_rho"].map(_cell),
        "Flipped pairs": [f"{n} ({_cell(s, 2)})" for n, s in zip(part["n_flipped"],
                                                                 part["flipped_share"])],
        "Which (reference order)": part["flipped_pairs"].fillna("").replace("", "-")})
    return markdown(frame)


def _order_table(models: pd.DataFrame, metric: str, labels: list[str]) -> str:
    """Model means (rank) per protocol, sorted by the per-item reference."""
    part = models[models["metric"] == metric]
    wide = part.pivot(index="model", columns="protocol", values="mean")
    ranks = part.pivot(index="model", columns="protocol", values="rank")
    wide = wide.loc[wide[PER_ITEM].sort_values(ascending=False).index]
    frame = pd.DataFrame({"Model": wide.index})
    for label in labels:
        shown = zip(wide[label], ranks.loc[wide.index, label])
        frame[_shown(label)] = [f"{v:.4f} ({int(r)})" for v, r in shown]
    return markdown(frame)


def _plot(result: StudyResult, part: pd.DataFrame, title: str, stem: Path) -> Path:
    """Grouped bars of Kendall's τ: one group per metric, one bar per protocol (the first,
    full per item against per list); returns the PNG path (the SVG lies beside it)."""
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    from recbench.report.plots import _RC, _save

    protocols = [p.label for p in result.protocols if p.label != FULL]
    metrics = list(dict.fromkeys(part["metric"]))
    with matplotlib.rc_context(_RC):
        # the legend sits right of the axes: inside, it hides the bars of the first metrics
        fig = Figure(figsize=(max(6.0, 0.9 * len(metrics) + 2) + 3.0, 3.6),
                     layout="constrained")
        ax = fig.subplots()
        width = 0.8 / max(len(protocols), 1)
        x = np.arange(len(metrics), dtype=np.float64)
        for i, label in enumerate(protocols):
            rows = part[part["protocol"] == label].set_index("metric").reindex(metrics)
            shown = f"{label} vs {PER_LIST}" if label == PER_ITEM else label
            ax.bar(x + (i - (len(protocols) - 1) / 2) * width,
                   rows["kendall_tau"].fillna(0).to_numpy(), width, label=shown,
                   hatch="//" if label == PER_ITEM else None)
        ax.set_xticks(x, [display_name(m) for m in metrics], rotation=30, ha="right")
        ax.set_ylim(-1.05, 1.05)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_ylabel(f"Kendall's τ with the {PER_ITEM} order")
        ax.set_title(f"{title}: model order, sampled vs full ranking")
        fig.legend(fontsize=7, loc="outside right upper")
        return _save(fig, stem)


def _board_lines(result: StudyResult, dataset: str, split: str, part: pd.DataFrame,
                 plot: Path) -> list[str]:
    """The Markdown section of one board."""
    title = f"{dataset} · {split}"
    models = result.models[(result.models["dataset"] == dataset)
                           & (result.models["split"] == split)]
    labels = [p.label for p in result.protocols]
    lines = [f"## {md_cell(title)}", ""]
    lines += [f"> {md_cell(note)}" for note in result.notes.get((dataset, split), [])]
    informational = part[part["protocol"] == PER_ITEM]
    sampled = part[part["protocol"] != PER_ITEM]
    head = models[models["metric"] == result.headline]
    for protocol in (FULL, PER_ITEM):
        rows = head[head["protocol"] == protocol]
        shown = " > ".join(order(dict(zip(rows["model"], rows["mean"]))))
        lines += ["", f"Order by {display_name(result.headline)}, {_shown(protocol)}: "
                      f"{md_cell(shown)}."]
    lines += ["", f"### Agreement of sampled protocols with {PER_ITEM}", "",
              "What sampling changes: each row against full ranking per item (the same "
              "metric, every free item a candidate).", "",
              _agreement_table(sampled) if len(sampled) else "(no sampled protocol)\n",
              f"### Informational: {PER_ITEM} vs {PER_LIST}", "",
              "What the metric's definition alone changes (equal with one test item per "
              "user).", "", _agreement_table(informational),
              f"![Kendall's tau per metric](plots/{plot.name})", "",
              f"### Models by {display_name(result.headline)} (mean over seeds, rank)", "",
              _order_table(models, result.headline, labels)]
    return lines


def write_study(result: StudyResult, out_dir: Path, name: str) -> list[Path]:
    """Write the study's files (folder emptied of what a previous study wrote); returns
    their paths. A file that cannot be written is one line (:class:`RecbenchError`)."""
    folder = study_folder(out_dir, name)
    try:
        return _write(result, folder)
    except OSError as err:  # e.g. --out-dir is a file, read-only or full
        raise RecbenchError(f"cannot write the study to {folder}: {err.strerror or err} "
                            f"({err.filename}); pass a writable folder as --out-dir.") from None


def _write(result: StudyResult, folder: Path) -> list[Path]:
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    labels = [p.label for p in result.protocols]
    lines = [f"# Sampled vs full ranking: {md_cell(result.experiment)}", "",
             DEFINITIONS.format(experiment=md_cell(result.experiment)),
             f"- **Protocols**: {', '.join(md_cell(_shown(label)) for label in labels)} "
             f"(`full` in the CSV files is full (per list)).",
             f"- **Metrics**: {', '.join(display_name(m) for m in result.metrics)}.", ""]
    plots = []
    for (dataset, split), part in result.agreement.groupby(["dataset", "split"], sort=False):
        slug = f"{file_component(dataset)}_{file_component(split)}"
        plot = _plot(result, part, f"{dataset} · {split}", folder / "plots" / f"{slug}_agreement")
        plots += [plot, plot.with_suffix(".svg")]
        lines += _board_lines(result, dataset, split, part, plot)
    (folder / "sampled_vs_full.md").write_text("\n".join(lines), encoding="utf-8")
    written = [folder / "sampled_vs_full.md"]
    for frame, path_name in ((result.agreement, "agreement.csv"), (result.models, "models.csv"),
                             (result.runs, "runs.csv")):
        frame.to_csv(folder / path_name, index=False, encoding="utf-8")
        written.append(folder / path_name)
    return written + plots
