"""Publish a sampled-vs-full study: ``results/<name>/sampled_vs_full/`` with
``sampled_vs_full.md``, ``agreement.csv``, ``models.csv``, ``runs.csv`` and, per board,
``plots/<dataset>_<split>_agreement.png`` (Kendall's tau per metric and protocol)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from recbench.errors import RecbenchError
from recbench.evaluation.registry import display_name
from recbench.report.tables import markdown, md_cell
from recbench.safe_names import check_name, file_component, inside
from recbench.study.sampled_vs_full import FULL, StudyResult

FOLDER = "sampled_vs_full"
DPI = 150
_RC = {"font.size": 9, "axes.grid": True, "grid.alpha": 0.3}

DEFINITIONS = """\
- **Runs**: those `recbench leaderboard {experiment}` reports (per model the configuration \
chosen on validation, each of its seeds), re-fitted from their logged `config.yaml` and \
seed and scored once under every protocol; nothing is logged back. A model's value is its \
mean over seeds; the orders compared are those of these means.
- **Sampled (n, sampler)**: each test item ranked against n items drawn among those its \
user never interacted with (the same items for every model; `uniform`, or `popularity` in \
proportion to train users per item); its metric is the full-ranking formula with one \
relevant item, averaged over the user's test items (so hit@K = recall@K), then over users \
(`recbench/evaluation/sampled.py`).
- **Corrected sampled**: Krichene & Rendle's correction (KDD 2020): per (catalogue size N, \
draws m) a value per sampled rank fitted by least squares so that its expectation under \
Binomial(m, (R-1)/(N-1)) matches the metric at every full rank R; minimal bias, or a \
bias-variance trade-off of weight γ (`recbench/evaluation/correction.py`). It estimates \
each test item's full-ranking metric among the items its user never interacted with.
- **Agreement** with full ranking, per metric: Kendall's τ (tau-b) and Spearman's ρ of the \
model means; a flipped pair is two models full ranking orders one way and the protocol \
the other (`a > b`: the full order).
"""


def _cell(value: float, digits: int = 3) -> str:
    return "n/a" if pd.isna(value) else f"{value:.{digits}f}"


def _agreement_table(part: pd.DataFrame) -> str:
    frame = pd.DataFrame({
        "Metric": part["metric"].map(display_name), "Protocol": part["protocol"],
        "Models": part["n_models"], "Kendall τ": part["kendall_tau"].map(_cell),
        "Spearman ρ": part["spearman_rho"].map(_cell),
        "Flipped pairs": [f"{n} ({_cell(s, 2)})" for n, s in zip(part["n_flipped"],
                                                                 part["flipped_share"])],
        "Which (full order)": part["flipped_pairs"].replace("", "-")})
    return markdown(frame)


def _order_table(models: pd.DataFrame, metric: str, labels: list[str]) -> str:
    part = models[models["metric"] == metric]
    wide = part.pivot(index="model", columns="protocol", values="mean")
    ranks = part.pivot(index="model", columns="protocol", values="rank")
    wide = wide.loc[wide[FULL].sort_values(ascending=False).index]
    frame = pd.DataFrame({"Model": wide.index})
    for label in labels:
        frame[label] = [f"{v:.4f} ({int(r)})" for v, r in zip(wide[label], ranks.loc[wide.index,
                                                                                   label])]
    return markdown(frame)


def _plot(result: StudyResult, part: pd.DataFrame, title: str, path: Path) -> None:
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    protocols = [p.label for p in result.protocols[1:]]
    metrics = list(dict.fromkeys(part["metric"]))
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(max(6.0, 0.9 * len(metrics) + 2), 3.6))
        ax = fig.subplots()
        width = 0.8 / max(len(protocols), 1)
        x = np.arange(len(metrics), dtype=np.float64)
        for i, label in enumerate(protocols):
            rows = part[part["protocol"] == label].set_index("metric").reindex(metrics)
            ax.bar(x + (i - (len(protocols) - 1) / 2) * width,
                   rows["kendall_tau"].fillna(0).to_numpy(), width, label=label)
        ax.set_xticks(x, [display_name(m) for m in metrics], rotation=30, ha="right")
        ax.set_ylim(-1.05, 1.05)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_ylabel("Kendall's τ with the full-ranking order")
        ax.set_title(f"{title}: model order, sampled vs full ranking")
        ax.legend(fontsize=7, loc="lower left")
        fig.tight_layout()
        fig.savefig(path, dpi=DPI, metadata={"Software": None})


def write_study(result: StudyResult, out_dir: Path, name: str) -> list[Path]:
    """Write the study's files (folder emptied of what a previous study wrote); returns
    their paths."""
    check_name(name, "--name (default: the experiment)", "--name my_study")
    out_dir = Path(out_dir)
    folder = out_dir / name / FOLDER
    if folder.exists():
        shutil.rmtree(inside(folder, out_dir))
    try:
        (folder / "plots").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RecbenchError(f"cannot write to {folder}: {err.strerror or err}; pick another "
                            f"--out-dir.") from None
    labels = [p.label for p in result.protocols]
    lines = [f"# Sampled vs full ranking: {md_cell(result.experiment)}", "",
             DEFINITIONS.format(experiment=md_cell(result.experiment)),
             f"- **Protocols**: {', '.join(md_cell(label) for label in labels)}.",
             f"- **Metrics**: {', '.join(display_name(m) for m in result.metrics)}.", ""]
    written = []
    for (dataset, split), part in result.agreement.groupby(["dataset", "split"], sort=False):
        title = f"{dataset} · {split}"
        slug = f"{file_component(dataset)}_{file_component(split)}"
        plot = folder / "plots" / f"{slug}_agreement.png"
        _plot(result, part, title, plot)
        written.append(plot)
        models = result.models[(result.models["dataset"] == dataset)
                               & (result.models["split"] == split)]
        lines += [f"## {md_cell(title)}", ""]
        lines += [f"> {md_cell(note)}" for note in result.notes.get((dataset, split), [])]
        head = part[part["metric"] == result.headline]
        full_order = head["full_order"].iloc[0] if len(head) else ""
        lines += ["", f"Full-ranking order by {display_name(result.headline)}: "
                      f"{md_cell(full_order)}.", "",
                  "### Agreement with the full-ranking order", "", _agreement_table(part),
                  f"![Kendall's tau per metric](plots/{plot.name})", "",
                  f"### Models by {display_name(result.headline)} (mean over seeds, rank)",
                  "", _order_table(models, result.headline, labels)]
    files = {"sampled_vs_full.md": "\n".join(lines)}
    for path_name, text in files.items():
        (folder / path_name).write_text(text)
        written.insert(0, folder / path_name)
    for frame, path_name in ((result.agreement, "agreement.csv"), (result.models, "models.csv"),
                             (result.runs, "runs.csv")):
        frame.to_csv(folder / path_name, index=False)
        written.insert(1, folder / path_name)
    return written
