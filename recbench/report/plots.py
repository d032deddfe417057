"""Figures of a board: metric bars, accuracy vs fit time (Pareto front), validation curves,
and accuracy against popularity bias (ARP) and against catalogue coverage.

Each figure is written as PNG and SVG with reproducible bytes: no creation date or software
stamp in the metadata and a fixed ``svg.hashsalt`` (the SVG element ids), so re-running on
the same board gives identical files. Figures are built on :class:`matplotlib.figure.Figure`
(rasterised by Agg) rather than pyplot, so no global figure state is created or leaked.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from recbench.evaluation.registry import info, parse_column, parse_metric
from recbench.report.board import Board
from recbench.report.tables import column_header, display_name, metered

DPI = 150
MIN_TIME_S = 1e-3  # fit times are clipped here so that a log axis can show them
_RC = {"svg.hashsalt": "recbench", "svg.fonttype": "path", "font.size": 9,
       "axes.grid": True, "grid.alpha": 0.3}
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}}


def pareto_front(times, scores) -> list[int]:
    """Indices of the non-dominated points, sorted by time (ties: best score first).

    Point ``j`` dominates ``i`` when it is at least as fast (``times[j] <= times[i]``) and at
    least as good (``scores[j] >= scores[i]``) and strictly better in one of the two; exact
    duplicates do not dominate each other (both are on the front). Points with a NaN time or
    score are never on the front.

    Args:
        times: ``(n,)`` costs, lower is better (e.g. fit time in seconds).
        scores: ``(n,)`` accuracies, higher is better.
    """
    t, s = np.asarray(times, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    finite = [i for i in range(t.size) if math.isfinite(t[i]) and math.isfinite(s[i])]
    front, best, best_time = [], -math.inf, None
    for i in sorted(finite, key=lambda i: (t[i], -s[i], i)):
        if s[i] > best or (s[i] == best and t[i] == best_time):
            front.append(i)
            best, best_time = s[i], t[i]
    return front


def _colors(board: Board) -> dict[str, str]:
    """Model -> colour, stable across a board's figures (table order, default cycle)."""
    return {m: f"C{i % 10}" for i, m in enumerate(board.table["model"])}


def accuracy_columns(metrics: list[str]) -> list[str]:
    """The columns that are plain accuracy metrics (one scale, [0, 1]: bars compare them):
    top-N accuracy, or a CTR run's AUC and gAUC."""
    return [m for m in metrics if parse_column(m)[1] is None
            and (info(m).kind == "accuracy" or m in ("auc", "gauc"))]


def tradeoff_axes(metrics: list[str], against: str) -> tuple[str, str] | None:
    """``(accuracy column, against@K)`` for a trade-off plot: the first accuracy column
    and the ``against`` metric at the same K, when both are columns; else None."""
    accuracy = accuracy_columns(metrics)
    if not accuracy or info(accuracy[0]).kind != "accuracy":  # CTR: no K, no trade-off
        return None
    other = f"{against}@{parse_metric(accuracy[0])[1]}"
    return (accuracy[0], other) if other in metrics else None


def _bars(board: Board, metrics: list[str], fig: Figure) -> None:
    """Grouped bars: one group per accuracy metric, one bar per model (mean, std error bar)."""
    metrics = accuracy_columns(metrics)
    ax = fig.subplots()
    table, colors = board.table, _colors(board)
    x = np.arange(len(metrics), dtype=np.float64)
    width = 0.8 / max(len(table), 1)
    for i, row in enumerate(table.to_dict("records")):
        pos = x - 0.4 + width * (i + 0.5)
        means = np.array([row[m] for m in metrics], dtype=np.float64)
        stds = np.array([row[m + "_std"] for m in metrics], dtype=np.float64)
        ax.bar(pos, means, width, label=row["model"], color=colors[row["model"]])
        ok = np.isfinite(stds)
        if ok.any():
            ax.errorbar(pos[ok], means[ok], yerr=stds[ok], fmt="none", ecolor="black",
                        elinewidth=0.8, capsize=2)
    ax.set_xticks(x, [display_name(m) for m in metrics])
    ax.set_ylabel("test metric (mean ± std over seeds)")
    ax.set_title(f"{board.title}: test metrics")
    ax.legend(fontsize="small", ncols=min(len(table), 4))


#: the cost axes of the Pareto plots: column, how much to scale it, its clip, the axis label
_COSTS = {"pareto": ("fit_time_s", 1.0, MIN_TIME_S, "fit time (s", "fit time"),
          "energy": ("energy_wh", 1.0, 1e-6, "energy of fit + evaluation (Wh", "energy")}


def _pareto(board: Board, metrics: list[str], fig: Figure, cost: str = "pareto") -> None:
    """Accuracy (first metric) vs a cost (fit time or energy, log), the Pareto front as a
    step line."""
    column, scale, clip, label, title = _COSTS[cost]
    ax = fig.subplots()
    metric, table, colors = (accuracy_columns(metrics) or metrics)[0], board.table, _colors(board)
    times = np.maximum(table[column].to_numpy(dtype=np.float64) * scale, clip)
    scores = table[metric].to_numpy(dtype=np.float64)
    stds = table[metric + "_std"].to_numpy(dtype=np.float64)
    for i, model in enumerate(table["model"]):
        if not (math.isfinite(times[i]) and math.isfinite(scores[i])):
            continue
        ax.errorbar(times[i], scores[i], yerr=stds[i] if math.isfinite(stds[i]) else None,
                    fmt="o", color=colors[model], capsize=2, markersize=5)
        ax.annotate(model, (times[i], scores[i]), xytext=(4, 4), textcoords="offset points",
                    fontsize="small")
    front = pareto_front(times, scores)
    if front:
        ax.step(times[front], scores[front], where="post", color="black", linewidth=1,
                linestyle="--", label="Pareto front", zorder=1)
        ax.scatter(times[front], scores[front], s=110, facecolors="none",
                   edgecolors="black", linewidths=1.2, zorder=3)
        ax.legend(fontsize="small", loc="lower right")
    ax.set_xscale("log")
    ax.margins(x=0.12, y=0.1)  # room for the labels of the extreme points
    ax.set_xlabel(f"{label}, mean over seeds, log scale; clipped at {clip:g})")
    ax.set_ylabel(f"{display_name(metric)} (test, mean ± std)")
    ax.set_title(f"{board.title}: accuracy vs {title}")


def _curves(board: Board, metrics: list[str], fig: Figure) -> None:
    """Per-epoch validation metric: mean over seeds, min–max band across seeds."""
    ax = fig.subplots()
    colors = _colors(board)
    for model, frame in board.curves.items():
        by_epoch = frame.groupby("epoch", sort=True)["value"].agg(["mean", "min", "max"])
        color = colors.get(model, "gray")
        ax.plot(by_epoch.index, by_epoch["mean"], label=model, color=color, linewidth=1.2)
        ax.fill_between(by_epoch.index, by_epoch["min"], by_epoch["max"], color=color,
                        alpha=0.2, linewidth=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {display_name(board.valid_metric)}")
    ax.set_title(f"{board.title}: validation curves (mean over seeds, min–max band)")
    ax.legend(fontsize="small")


def _tradeoff(board: Board, metrics: list[str], fig: Figure, against: str) -> None:
    """Accuracy (y) against a beyond-accuracy metric (x), one point per model with error
    bars (std over seeds) on both axes."""
    ax = fig.subplots()
    y_metric, x_metric = tradeoff_axes(metrics, against)
    table, colors = board.table, _colors(board)
    for i, row in enumerate(table.to_dict("records")):
        x, y = row[x_metric], row[y_metric]
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        xerr, yerr = row[x_metric + "_std"], row[y_metric + "_std"]
        ax.errorbar(x, y, xerr=xerr if math.isfinite(xerr) else None,
                    yerr=yerr if math.isfinite(yerr) else None, fmt="o",
                    color=colors[row["model"]], capsize=2, markersize=5)
        # neighbours in the table often sit close: their labels go above and below
        ax.annotate(row["model"], (x, y), xytext=(4, 4 if i % 2 == 0 else -11),
                    textcoords="offset points", fontsize="small")
    ax.margins(x=0.12, y=0.1)
    ax.set_xlabel(f"{column_header(x_metric)} (test, mean ± std over seeds)")
    ax.set_ylabel(f"{column_header(y_metric)} (test, mean ± std over seeds)")
    ax.set_title(f"{board.title}: {display_name(y_metric)} vs {display_name(x_metric)}")


_KINDS = {"bars": _bars, "pareto": _pareto,
          "energy": lambda b, m, f: _pareto(b, m, f, "energy"), "curves": _curves,
          "popularity": lambda b, m, f: _tradeoff(b, m, f, "arp"),
          "coverage": lambda b, m, f: _tradeoff(b, m, f, "coverage")}


def _save(fig: Figure, stem: Path) -> Path:
    """Write ``stem.png`` (``DPI``) and ``stem.svg`` without volatile metadata.

    The extension is appended, not swapped in with ``with_suffix``: a stem such as
    ``ml-1m_ratio0.8_bars`` has a "suffix" of its own, and every kind would share one file.
    """
    for ext, metadata in _METADATA.items():
        fig.savefig(stem.with_name(f"{stem.name}.{ext}"), dpi=DPI, metadata=metadata)
    return stem.with_name(f"{stem.name}.png")


def write_plots(board: Board, metrics: list[str], out_dir: Path) -> dict[str, Path]:
    """Write every figure of ``board`` as ``<slug>_<kind>.png`` and ``.svg`` in ``out_dir``.

    Kinds: ``bars`` (the accuracy ``metrics``), ``pareto`` (``metrics[0]`` vs fit time),
    ``energy`` (``metrics[0]`` vs energy, when the runs logged it),
    ``curves`` when the board has per-epoch validation curves, and the trade-offs
    ``popularity`` (first accuracy metric vs ``arp@K``) and ``coverage`` (vs ``coverage@K``)
    when those columns are among ``metrics``.

    Returns:
        ``{kind: png path}`` in the order above.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    available = {"bars": bool(accuracy_columns(metrics)), "curves": bool(board.curves),
                 "energy": metered(board),
                 "popularity": tradeoff_axes(metrics, "arp") is not None,
                 "coverage": tradeoff_axes(metrics, "coverage") is not None}
    kinds = [k for k in _KINDS if available.get(k, True)]
    written = {}
    with matplotlib.rc_context(_RC):
        for kind in kinds:
            fig = Figure(figsize=(6.4, 4.2), layout="constrained")
            _KINDS[kind](board, metrics, fig)
            written[kind] = _save(fig, out_dir / f"{board.slug}_{kind}")
    return written
