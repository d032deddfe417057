"""Figures of ``--stability`` and ``--aggregate``: the rank interval of each model of a
board, and the performance-profile curves over data sets. Same conventions as
:mod:`recbench.report.plots` (PNG + SVG, reproducible bytes, no pyplot state)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from recbench.evaluation.registry import display_name
from recbench.report.aggregate import TAUS, Aggregate
from recbench.report.board import Board
from recbench.report.plots import _RC, _colors, _save
from recbench.report.stability import TIE_TOLERANCE

#: the file name (before .png / .svg) of the performance-profile figure in plots/
PROFILE_STEM = "aggregate_profiles"


def _ranks(board: Board, fig: Figure) -> None:
    """Per model (table order, best on top): the 95% interval of its rank as a bar with
    caps, the median rank as a dot, the mean as a cross, P(rank 1) written beside."""
    s, colors = board.stability, _colors(board)
    ax = fig.subplots()
    y = np.arange(len(s))[::-1]  # the first row of the table on top
    n = len(s)
    for yi, r in zip(y, s.to_dict("records")):
        color = colors.get(r["model"], "gray")
        ax.plot([r["rank_low"], r["rank_high"]], [yi, yi], color=color, linewidth=4,
                solid_capstyle="butt", alpha=0.45)
        ax.plot([r["rank_low"]] * 2 + [np.nan] + [r["rank_high"]] * 2,
                [yi - 0.2, yi + 0.2, np.nan, yi - 0.2, yi + 0.2], color=color, linewidth=1.2)
        ax.plot(r["rank_median"], yi, "o", color=color, markersize=6)
        ax.plot(r["rank_mean"], yi, "x", color="black", markersize=5)
        ax.annotate(f"P(rank 1) = {r['p_rank_1']:.3f}", (n + 0.6, yi), va="center",
                    fontsize="small")
    ax.set_yticks(y, s["model"])
    ax.set_xlim(0.5, n + 2.6)  # room on the right for the P(rank 1) labels
    ax.set_xticks(np.arange(1, n + 1))
    ax.grid(axis="y", visible=False)
    first = s.iloc[0]
    ax.set_xlabel(f"rank on test {display_name(first['metric'])} (1 = best); bar: 95% "
                  f"interval, dot: median, ×: mean")
    ax.set_title(f"{board.title}: rank over {int(first['n_resamples']):,} resamples\n"
                 f"of test {first['unit']}s, one seed per model drawn each time")


#: vertical shift between consecutive models' profile curves: with few data sets many
#: curves coincide, and the last one drawn would hide the others
OFFSET = 0.006


def _profiles(agg: Aggregate, fig: Figure) -> None:
    """rho_m(tau) per model: a step curve over tau from 0 to past the largest finite gap,
    each shifted by a multiple of :data:`OFFSET` (said in the axis label)."""
    ax = fig.subplots()
    gaps = agg.gaps.to_numpy(np.float64)  # (models, data sets)
    finite = gaps[np.isfinite(gaps)]
    tau_max = max(0.05, 1.1 * float(finite.max()) if finite.size else 0.0)
    taus = np.unique(np.concatenate([np.linspace(0, tau_max, 401), finite]))
    styles = ["-", "--", ":", "-."]
    n = len(agg.gaps)
    for i, model in enumerate(agg.gaps.index):
        rho = (gaps[i][:, None] <= taus + TIE_TOLERANCE).mean(axis=0)
        shift = OFFSET * ((n - 1) / 2 - i)  # the first model (best mean rank) on top
        ax.step(taus, rho + shift, where="post", label=model, color=f"C{i % 10}",
                linestyle=styles[(i // 10) % len(styles)], linewidth=1.4)
    for tau in TAUS[1:]:
        ax.axvline(tau, color="gray", linewidth=0.6, linestyle=":")
    ax.set_xlim(0, tau_max)
    ax.set_ylim(-0.03 - OFFSET * n / 2, 1.03 + OFFSET * n / 2)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.set_xlabel(f"τ: relative gap to the best test {display_name(agg.metric)} of a data set")
    ax.set_ylabel(f"ρ(τ): share of data sets within τ of the best\n(curves shifted by "
                  f"±{OFFSET * (n - 1) / 2:.2g} to stay visible)", fontsize="small")
    ax.set_title(f"Performance profiles over {agg.gaps.shape[1]} data sets")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))


def write_rank_plot(board: Board, out_dir: Path) -> Path:
    """``<slug>_ranks.png`` (+ ``.svg``) in ``out_dir`` from ``board.stability``."""
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.4, 1.6 + 0.35 * len(board.stability)), layout="constrained")
        _ranks(board, fig)
        return _save(fig, Path(out_dir) / f"{board.slug}_ranks")


def write_profile_plot(agg: Aggregate, out_dir: Path) -> Path:
    """``aggregate_profiles.png`` (+ ``.svg``) in ``out_dir``."""
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.4, 4.2), layout="constrained")
        _profiles(agg, fig)
        return _save(fig, Path(out_dir) / PROFILE_STEM)
