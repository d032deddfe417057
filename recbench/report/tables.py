"""Text formats of a board: cells with significance marks, Markdown, LaTeX (booktabs), CSV."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from recbench.evaluation.registry import display_name, higher_is_better
from recbench.report.board import Board

T_MARK, W_MARK = "†", "‡"  # significantly worse than the best: paired t-test, Wilcoxon
UP, DOWN = "↑", "↓"


def arrow(metric: str) -> str:
    """``↑`` where a higher value is better, ``↓`` where lower is (ARP, Gini, gaps)."""
    return UP if higher_is_better(metric) else DOWN


def column_header(metric: str) -> str:
    """``"ndcg@10" -> "NDCG@10 ↑"``: the display name and the better direction."""
    return f"{display_name(metric)} {arrow(metric)}"


def bootstrapped(board: Board) -> bool:
    """True where the board's tests are the paired user bootstrap of CTR metrics."""
    return board.significance is not None and "boot_p_holm" in board.significance


def tests(board: Board) -> list[tuple[str, str, str]]:
    """``(column of Holm-corrected p-values, mark, test name)`` of each test of the board."""
    if bootstrapped(board):
        return [("boot_p", T_MARK, "paired bootstrap")]
    return [("t_p", T_MARK, "t-test"), ("w_p", W_MARK, "Wilcoxon")]


def legend(alpha: float, board: Board) -> str:
    if bootstrapped(board):
        s = board.significance
        unit, n = (s["unit"].iloc[0], int(s["n_resamples"].iloc[0])) if len(s) else ("user", 0)
        return (f"{T_MARK}: significantly different from the best model of that column (paired "
                f"bootstrap over test {unit}s, {n:,} resamples, each run's metric recomputed "
                f"and averaged over seeds; Holm–Bonferroni-corrected p < {alpha:g} over every "
                f"comparison in the table). {UP} higher is better, {DOWN} lower is better.")
    return (f"{T_MARK} / {W_MARK}: significantly different from the best model of that column "
            f"(paired t-test / Wilcoxon signed-rank over per-user test metrics averaged over "
            f"seeds, Holm–Bonferroni-corrected p < {alpha:g} over every comparison in the "
            f"table; per-user metrics only). {UP} higher is better, {DOWN} lower is better.")


def marks(board: Board, alpha: float) -> dict[tuple[str, str], str]:
    """``(model, metric) -> "†‡"`` for the comparisons significant after correction."""
    found: dict[tuple[str, str], str] = {}
    if board.significance is None:
        return found
    for r in board.significance.to_dict("records"):
        text = "".join(mark for column, mark, _ in tests(board) if r[column + "_holm"] < alpha)
        if text:
            found[(r["model"], r["metric"])] = text
    return found


def mean_std(mean: float, std: float) -> str:
    """``"0.3373 ± 0.0045"``; ``"0.3373 ± n/a"`` for a single seed."""
    return f"{mean:.4f} ± {'n/a' if pd.isna(std) else f'{std:.4f}'}"


def seconds(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.2f}"


#: user-supplied text (labels, names, tags) shown as text, never as HTML, a link or code
_MD_ESCAPES = {"\\": "\\\\", "`": "\\`", "[": "\\[", "]": "\\]", "|": "\\|", "&": "&amp;",
               "<": "&lt;", ">": "&gt;", "\n": " ", "\r": " "}


def md_cell(value) -> str:
    """Text safe in Markdown, a table cell included: no HTML, link, code span or cell break."""
    return "".join(_MD_ESCAPES.get(c, c) for c in str(value))


def md_code(value) -> str:
    """``value`` as a Markdown code span safe in a table cell (shown verbatim: inside a code
    span ``<`` is not HTML; the fence is longer than any run of backticks in ``value``)."""
    text = str(value).replace("\n", " ").replace("\r", " ")
    if not text:
        return ""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|")  # GFM: a cell's pipe


def ranks(board: Board, metric: str) -> dict[str, int]:
    """Model -> rank (1 = best, by the metric's direction) of the mean of ``metric`` (ties
    share the better rank; a NaN mean ranks last)."""
    values = board.table.set_index("model")[metric]
    ranked = values.rank(ascending=not higher_is_better(metric), method="min",
                         na_option="bottom")
    return ranked.astype(int).to_dict()


def budget(row) -> str:
    """``"20 trials (tpe)"``, ``"nothing to tune"``, ``"no search (3 configs)"`` (the
    configurations found in the store): the tuning budget of one row."""
    trials = getattr(row, "n_trials", None)
    if str(getattr(row, "search_space", "")).startswith("none (nothing"):
        return "nothing to tune"
    if trials is not None and not (isinstance(trials, float) and math.isnan(trials)):
        sampler = getattr(row, "sampler", "")
        return f"{int(trials)} trial{'s' if trials != 1 else ''}" + (
            f" ({sampler})" if sampler else "")
    n = int(row.configs_tried)
    return f"no search ({n} config{'s' if n != 1 else ''})"


def metered(board: Board, column: str = "energy_wh") -> bool:
    """Whether any run of the board logged this cost (:mod:`recbench.tracking.cost`): its
    column is shown then (runs logged before: n/a)."""
    t = board.table
    return column in t and bool(np.isfinite(t[column].to_numpy(float)).any())


def _significant(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3g}"


P_RANK_1, RANK_CI = "P(rank 1)", "Rank 95% CI"  #: the columns of --stability


def stability_rows(board: Board) -> pd.DataFrame | None:
    """``board.stability`` (:mod:`recbench.report.stability`) in the table's model order;
    None without --stability."""
    if board.stability is None:
        return None
    return board.stability.set_index("model").loc[board.table["model"]]


def stability_cells(board: Board) -> dict[str, list[str]]:
    """``{"P(rank 1)": [...], "Rank 95% CI": ["[1, 2]", ...]}`` in table order, from
    ``board.stability``; ``{}`` without it."""
    s = stability_rows(board)
    if s is None:
        return {}
    return {P_RANK_1: [f"{p:.3f}" for p in s["p_rank_1"]],
            RANK_CI: [f"[{lo}, {hi}]" for lo, hi in zip(s["rank_low"], s["rank_high"])]}


def stability_legend(board: Board) -> str:
    """What the --stability columns mean (resamples, seed, ties)."""
    s = board.stability.iloc[0]
    return (f"{P_RANK_1}, {RANK_CI}: the model's rank on test {display_name(s['metric'])} "
            f"over {int(s['n_resamples']):,} paired bootstrap resamples of the "
            f"{int(s['n_units']):,} test {s['unit']}s (seed {int(s['bootstrap_seed'])}), "
            f"each model's value on a resample taken from one of its seeds drawn at random; "
            f"rank 1 = best, tied models share the better rank. {P_RANK_1}: share of "
            f"resamples ranked first; {RANK_CI}: 2.5% and 97.5% quantiles of the rank.")


def display_table(board: Board, metrics: list[str], alpha: float) -> pd.DataFrame:
    """The human-readable table: ``mean ± std`` cells with marks, times, params, budget."""
    t = board.table
    found = marks(board, alpha)
    submitted = t["submission"] if "submission" in t else pd.Series(False, index=t.index)
    out = pd.DataFrame({"Model": [f"{m} (submission)" if s else m
                                  for m, s in zip(t["model"], submitted)], "Seeds": t["seeds"]})
    for m in metrics:
        out[column_header(m)] = [mean_std(a, s) + found.get((model, m), "")
                                for model, a, s in zip(t["model"], t[m], t[m + "_std"])]
    out["Fit (s)"] = t["fit_time_s"].map(seconds)
    out["Eval (s)"] = t["eval_time_s"].map(seconds)
    if metered(board):
        out["Energy (Wh)"] = t["energy_wh"].map(_significant)
    if metered(board, "max_rss_mb"):  # also with tracking.energy=false
        out["Memory (MB)"] = t["max_rss_mb"].map(lambda v: "n/a" if math.isnan(v) else f"{v:,.0f}")
    out["Params"] = t["n_parameters"].map(lambda n: f"{n:,}")
    out["Tuning"] = ["submitted" if s else budget(r)
                     for r, s in zip(t.itertuples(index=False), submitted)]
    for column, cells in stability_cells(board).items():  # --stability: appended
        out[column] = cells
    out["Config"] = t["config_hash"]
    return out


def markdown(frame: pd.DataFrame, code: tuple[str, ...] = ()) -> str:
    """A Markdown table of ``frame``; the ``code`` columns as code spans, the rest as text
    (every cell escaped: labels and tags come from whoever logged the runs)."""
    cols = list(frame.columns)
    cell = [md_code if c in code else md_cell for c in cols]
    lines = ["| " + " | ".join(map(md_cell, cols)) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(f(v) for f, v in zip(cell, row)) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def significance_frame(board: Board, alpha: float) -> pd.DataFrame:
    """Readable significance results: p-values (raw and Holm-corrected), effect size."""
    s = board.significance
    out = pd.DataFrame({
        "Metric": s["metric"].map(display_name), "Model": s["model"], "vs best": s["best"],
        "Users": s["n_users"], "Mean diff": s["mean_diff"].map(lambda v: f"{v:+.4f}")})
    if bootstrapped(board):
        out["95% interval"] = [f"[{lo:+.4f}, {hi:+.4f}]" for lo, hi in zip(s["ci_low"],
                                                                          s["ci_high"])]
    else:
        out["d_z"] = s["effect_size_dz"].map(lambda v: f"{v:.3f}")
    for column, _, name in tests(board):
        out[f"{name} p"] = s[column].map(_p)
        out[f"{name} p (Holm)"] = s[column + "_holm"].map(_p)
    out[f"Significant (α={alpha:g})"] = [
        " + ".join(name for column, _, name in tests(board) if r[column + "_holm"] < alpha)
        or "no" for r in s.to_dict("records")]
    return out


def _p(p: float) -> str:
    return "<1e-16" if p < 1e-16 else f"{p:.2e}" if p < 1e-3 else f"{p:.4f}"


# ------------------------------------------------------------------------------ LaTeX
_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
                  "|": r"\textbar{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(c, c) for c in str(text))


def latex(boards: list[Board], metrics: list[str], alpha: float, caption: str) -> str:
    """A booktabs ``table`` per board: best mean of each metric in bold, second underlined,
    ``$^\\dagger$`` / ``$^\\ddagger$`` for significance (needs ``\\usepackage{booktabs}``)."""
    parts = []
    for board in boards:
        found = marks(board, alpha)
        rank_of = {m: ranks(board, m) for m in metrics}
        spec = "l" + "c" * len(metrics) + "r"
        head = " & ".join(["Model", *(latex_escape(display_name(m)) + (
            r" $\uparrow$" if higher_is_better(m) else r" $\downarrow$") for m in metrics),
            "Seeds"]) + r" \\"
        lines = [r"\begin{table}[t]", r"\centering", r"\small",
                 rf"\begin{{tabular}}{{{spec}}}", r"\toprule", head, r"\midrule"]
        for r in board.table.to_dict("records"):
            cells = [latex_escape(r["model"])]
            for m in metrics:
                mean, std = r[m], r[m + "_std"]
                value = f"{mean:.4f}"
                rank = rank_of[m][r["model"]]
                value = rf"\textbf{{{value}}}" if rank == 1 else (
                    rf"\underline{{{value}}}" if rank == 2 else value)
                cell = value + ("" if pd.isna(std) else rf" $\pm$ {std:.4f}")
                mark = found.get((r["model"], m), "")
                sup = (r"\dagger" if T_MARK in mark else "") + (r"\ddagger" if W_MARK in mark
                                                                  else "")
                cells.append(cell + (f"$^{{{sup}}}$" if sup else ""))
            cells.append(str(r["seeds"]))
            lines.append(" & ".join(cells) + r" \\")
        note = latex_escape(f"{caption} {board.title}. Mean ± std over seeds; best in bold, "
                            f"second underlined; arrows: the better direction.") + (
            " " + "/".join(f"$\\{'d' if mark == W_MARK else ''}dagger$"
                           for _, mark, _ in tests(board)) + ": " + latex_escape(
                f"significantly different from the best ("
                f"{' / '.join(name for _, _, name in tests(board))}, "
                f"Holm-corrected p < {alpha:g}).") if board.significance is not None else "")
        lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{note}}}",
                  rf"\label{{tab:{latex_escape(board.slug).replace(chr(92), '')}}}",
                  r"\end{table}"]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


# -------------------------------------------------------------------------------- CSV
def _raw(board: Board) -> pd.DataFrame:
    """The board's table, with the --stability columns (P(rank 1) as a number) when run."""
    s = stability_rows(board)
    if s is None:
        return board.table
    return board.table.assign(**{P_RANK_1: s["p_rank_1"].to_numpy(),
                                 RANK_CI: stability_cells(board)[RANK_CI]})


def csv_frame(boards: list[Board]) -> pd.DataFrame:
    """Every board's raw table, one row per (dataset, split, model), all columns."""
    frames = [_raw(b).assign(dataset=b.dataset, split=b.split) for b in boards]
    table = pd.concat(frames, ignore_index=True)
    metrics = [c[:-4] for c in table.columns if c.endswith("_std") and c[:-4] in table]
    table = table.rename(columns={m: f"{m} {arrow(m)}" for m in metrics})
    first = ["dataset", "split", "model"]
    return table[first + [c for c in table.columns if c not in first]]


def significance_csv(boards: list[Board]) -> pd.DataFrame | None:
    frames = [b.significance.assign(dataset=b.dataset, split=b.split) for b in boards
              if b.significance is not None]
    return pd.concat(frames, ignore_index=True) if frames else None
