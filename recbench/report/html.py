"""One self-contained HTML page of leaderboards: inline CSS and JS, plots as data URIs.

The page references nothing outside itself (no fonts, scripts or images to fetch), so it
can be opened from disk, attached to a mail or archived as is. Leaderboard tables sort by
clicking a column header (numeric columns on their raw value, the others as text).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from recbench.report.board import Board
from recbench.report.tables import (budget, column_header, display_name, display_table,
                                    legend, ranks,
                                    significance_frame)

from recbench.report.aggregate import Aggregate, display_frame
from recbench.report.aggregate import legend as aggregate_legend
from recbench.report.tables import P_RANK_1, RANK_CI, stability_legend, stability_rows

#: display_table column -> raw board.table column holding its numeric value
_NUMERIC = {"Seeds": "seeds", "Fit (s)": "fit_time_s", "Eval (s)": "eval_time_s",
            "Energy (Wh)": "energy_wh", "Memory (MB)": "max_rss_mb", "Params": "n_parameters"}

_CSS = """
:root { color-scheme: light; --line: #d0d7de; --muted: #57606a; --head: #f6f8fa; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       max-width: 1800px; margin: 0 auto; padding: 1.5rem; }
h1, h2, h3 { line-height: 1.2; }
section { border-top: 2px solid var(--line); margin-top: 2rem; padding-top: .5rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
.card { background: var(--head); border: 1px solid var(--line); border-radius: 6px;
        padding: .5rem 1rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: 14px; }
caption { caption-side: bottom; text-align: left; color: var(--muted); padding-top: .3rem; }
th, td { border: 1px solid var(--line); padding: .3rem .55rem; text-align: left;
         vertical-align: top; }
thead th { background: var(--head); }
td[data-sort] { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th button { font: inherit; color: inherit; text-align: inherit; background: none; border: 0;
            padding: 0; cursor: pointer; }
th button:focus-visible { outline: 2px solid #0969da; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
code { font: 12px/1.3 ui-monospace, SFMono-Regular, Menlo, monospace; overflow-wrap: anywhere; }
.legend, .notes { color: var(--muted); }
figure { margin: 1rem 0; }
img { max-width: 100%; height: auto; border: 1px solid var(--line); }
"""

_JS = """
(function () {
  "use strict";
  function key(row, col, numeric) {
    var cell = row.cells[col];
    return numeric ? parseFloat(cell.getAttribute("data-sort")) : cell.textContent.trim();
  }
  function compare(a, b, numeric, dir) {
    if (!numeric) { return a.localeCompare(b) * dir; }
    if (isNaN(a) || isNaN(b)) { return isNaN(a) - isNaN(b); }  // missing values last
    return (a - b) * dir;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    heads.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        var numeric = th.getAttribute("data-type") === "number";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          return compare(key(a, col, numeric), key(b, col, numeric), numeric, dir);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
"""


def _e(value) -> str:
    return html.escape(str(value))


def _dl(items: dict[str, str], cls: str = "card") -> str:
    """A definition list; keys and values are plain text."""
    body = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items.items())
    return f'<dl class="{cls}">{body}</dl>'


def _table(columns: list[str], rows: list[str], cls: str, numeric: frozenset = frozenset(),
           caption: str = "") -> str:
    """A table from plain-text column names and ready ``<tr>`` HTML rows.

    Columns in ``numeric`` are marked ``data-type="number"`` for the sorting script; the
    headers of a ``sortable`` table hold a button so that the keyboard can sort too.
    """
    sortable = "sortable" in cls.split()
    heads = []
    for c in columns:
        label = f'<button type="button">{_e(c)}</button>' if sortable else _e(c)
        kind = ' data-type="number"' if c in numeric else ""
        heads.append(f'<th scope="col"{kind}>{label}</th>')
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table class="{cls}">{cap}<thead><tr>{"".join(heads)}'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _unique(board: Board, column: str, sep: str = ";") -> str:
    """The distinct ``sep``-separated values of a table column, sorted, or ``n/a``."""
    if column not in board.table:
        return "n/a"
    cells = board.table[column].dropna().astype(str)
    values = sorted({v for c in cells for v in c.split(sep)} - {""})
    return "; ".join(values) or "n/a"


def _seeds(board: Board) -> str:
    """Every seed any model of the board was run on (the Seeds column has the count)."""
    seeds = {int(s) for cell in board.table["seed_list"] for s in str(cell).split(",") if s}
    return ", ".join(map(str, sorted(seeds))) or "n/a"


def _protocol_card(board: Board) -> str:
    """Dataset, split, selection metric, ranking protocol, seeds, fingerprints, versions."""
    return _dl({
        "Dataset": board.dataset,
        "Split": board.split,
        "Selection": f"validation {display_name(board.valid_metric)} (best mean over seeds)",
        board.scoring[0]: board.scoring[1],
        "Seeds": _seeds(board),
        "Data fingerprint": _unique(board, "data_fingerprint"),
        "Split fingerprint": _unique(board, "split_fingerprint"),
        "Versions": _unique(board, "versions", sep=" "),
    })


def _leaderboard(board: Board, metrics: list[str], alpha: float) -> str:
    """The sortable leaderboard: cells of :func:`display_table`, raw values in ``data-sort``,
    the best mean of each metric in bold."""
    shown = display_table(board, metrics, alpha)
    raw = {**_NUMERIC, **{column_header(m): m for m in metrics}}
    best = {column_header(m): ranks(board, m) for m in metrics}
    stable = {}  # --stability: sorted by P(rank 1), the interval by the mean rank
    s = stability_rows(board)
    if s is not None:
        stable = {P_RANK_1: s["p_rank_1"].to_numpy(), RANK_CI: s["rank_mean"].to_numpy()}
    rows = []
    for i, model in enumerate(board.table["model"]):
        cells = []
        for col in shown.columns:
            text, attrs = _e(shown[col].iloc[i]), ""
            if col in raw:
                attrs = f' data-sort="{float(board.table[raw[col]].iloc[i])!r}"'
            elif col in stable:
                attrs = f' data-sort="{float(stable[col][i])!r}"'
            if col in best and best[col][model] == 1:
                text, attrs = f"<strong>{text}</strong>", attrs + ' class="best"'
            cells.append(f"<td{attrs}>{text}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return _table(list(shown.columns), rows, "leaderboard sortable",
                  numeric=(frozenset(raw) | frozenset(stable)) & frozenset(shown.columns),
                  caption="Test metrics: mean ± std over seeds; best mean per metric in bold "
                          "(↑ higher is better, ↓ lower is better). Click a column header to "
                          "sort.")


def _significance(board: Board, alpha: float) -> str:
    frame = significance_frame(board, alpha)
    rows = ["<tr>" + "".join(f"<td>{_e(v)}</td>" for v in r) + "</tr>"
            for r in frame.itertuples(index=False)]
    return _table(list(frame.columns), rows, "significance")


def _tuning(row) -> str:
    """Tuning budget cell: trials and sampler, search space, total fit time of all runs."""
    space = getattr(row, "search_space", None)
    space = "n/a" if space is None or space != space else space
    return (f"{_e(budget(row))}<br>search space: <code>{_e(space)}</code><br>"
            f"tuning fit time: {row.tuning_fit_time_s:.1f} s")


def _reproduce(board: Board, metrics: list[str], alpha: float) -> str:
    """Per model: the command re-running its chosen configuration and what identifies it."""
    shown = display_table(board, metrics, alpha)
    rows = []
    for i, row in enumerate(board.table.itertuples(index=False)):
        cells = [_e(row.model), f"<code>{_e(row.command)}</code>", _e(row.config_hash),
                 _e(row.split_fingerprint), _e(row.data_fingerprint), _tuning(row),
                 _e(shown["Fit (s)"].iloc[i]), _e(shown["Eval (s)"].iloc[i]),
                 _e(shown["Params"].iloc[i]), _e(getattr(row, "versions", "n/a"))]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    columns = ["Model", "Command", "Config", "Split fingerprint", "Data fingerprint",
               "Tuning budget", "Fit (s)", "Eval (s)", "Params", "Versions"]
    return _table(columns, rows, "reproduce")


def _alt(kind: str, board: Board, metrics: list[str]) -> str:
    """Alt text of a plot: what it shows, in words."""
    names = ", ".join(display_name(m) for m in metrics)
    return {
        "bars": f"Bar chart of test {names} per model on {board.title} "
                f"(mean, error bars: std over seeds).",
        "pareto": f"Test {display_name(metrics[0])} against fit time in seconds (log scale) "
                  f"per model on {board.title}, with the Pareto front of models that no "
                  f"other model beats both in accuracy and fit time.",
        "energy": f"Test {display_name(metrics[0])} against the energy of fit and evaluation "
                  f"in watt-hours (log scale, CodeCarbon) per model on {board.title}, with "
                  f"the Pareto front of models that no other model beats both in accuracy "
                  f"and energy.",
        "popularity": f"Test accuracy against average recommendation popularity (ARP, lower "
                      f"is less popularity-biased) per model on {board.title}, error bars: "
                      f"std over seeds.",
        "coverage": f"Test accuracy against catalogue coverage (share of items recommended "
                    f"to anyone) per model on {board.title}, error bars: std over seeds.",
        "ranks": f"Rank of each model on test {display_name(metrics[0])} on {board.title} "
                 f"over bootstrap resamples of test users and seeds: 95% interval as a bar, "
                 f"median as a dot, mean as a cross, with the probability of ranking first.",
        "curves": f"Validation {display_name(board.valid_metric)} per training epoch on "
                  f"{board.title}: mean over seeds, band from minimum to maximum.",
    }.get(kind, f"{kind} plot of {board.title}.")


def _image(path: Path, alt: str) -> str:
    """An ``<img>`` with the PNG at ``path`` embedded as a base64 data URI."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(alt)}">'
            f"<figcaption>{_e(alt)}</figcaption></figure>")


def _section(board: Board, metrics: list[str], alpha: float, plots: dict[str, Path]) -> str:
    """Everything about one board, in reading order."""
    parts = [f'<section id="{_e(board.slug)}">', f"<h2>{_e(board.title)}</h2>",
             "<h3>Protocol</h3>", _protocol_card(board), "<h3>Leaderboard</h3>",
             _leaderboard(board, metrics, alpha)]
    if board.significance is not None:
        parts.append(f'<p class="legend">{_e(legend(alpha, board))}</p>')
    if board.stability is not None:
        parts.append(f'<p class="legend">{_e(stability_legend(board))}</p>')
    parts += [f'<p class="notes" role="note">{_e(note)}</p>' for note in board.notes]
    if board.significance is not None:
        parts += ["<h3>Significance (every model vs the best, per metric)</h3>",
                  _significance(board, alpha)]
    parts += ["<h3>Reproduce</h3>", _reproduce(board, metrics, alpha)]
    if plots:
        parts.append("<h3>Plots</h3>")
        parts += [_image(path, _alt(kind, board, metrics)) for kind, path in plots.items()]
    parts.append("</section>")
    return "\n".join(parts)


def _aggregate(agg: Aggregate, plot: Path | None) -> str:
    """The ranking over every board: table, definitions, notes, performance profiles."""
    frame = display_frame(agg)
    rows = ["<tr>" + "".join(f"<td>{_e(v)}</td>" for v in r) + "</tr>"
            for r in frame.itertuples(index=False)]
    parts = ['<section id="aggregate">',
             f"<h2>Aggregate over {agg.values.shape[1]} data sets</h2>",
             _table(list(frame.columns), rows, "aggregate"),
             f'<p class="legend">{_e(aggregate_legend(agg))}</p>',
             *(f'<p class="notes" role="note">{_e(note)}</p>' for note in agg.notes)]
    if plot is not None:
        parts.append(_image(plot, f"Performance profiles over {agg.values.shape[1]} data "
                                  f"sets: per model, the share of data sets on which its test "
                                  f"{display_name(agg.metric)} is within a relative gap tau "
                                  f"of the best, against tau."))
    return "\n".join(parts + ["</section>"])


def render_html(boards: list[Board], metrics: list[str], alpha: float, title: str,
                context: dict[str, str], plots: dict[str, dict[str, Path]],
                aggregate: Aggregate | None = None, aggregate_plot: Path | None = None) -> str:
    """The self-contained HTML page of ``boards``.

    Args:
        metrics: the metric columns, e.g. ``["ndcg@10", "recall@10"]``.
        alpha: family-wise significance level of the marks.
        title: page title (``<title>`` and ``<h1>``).
        context: page-wide facts (experiments, generation time, versions, selection rule),
            shown in order as a definition list.
        plots: ``board.slug -> {kind: PNG path}`` as returned by
            :func:`recbench.report.plots.write_plots`; embedded as data URIs.
        aggregate, aggregate_plot: the ranking over every board (``--aggregate``) and its
            performance-profile PNG, shown after the boards.
    """
    nav = "".join(f'<li><a href="#{_e(b.slug)}">{_e(b.title)}</a></li>' for b in boards)
    sections = "\n".join(_section(b, metrics, alpha, plots.get(b.slug, {})) for b in boards)
    if aggregate is not None:
        nav += '<li><a href="#aggregate">Aggregate</a></li>'
        sections += "\n" + _aggregate(aggregate, aggregate_plot)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<header><h1>{_e(title)}</h1>\n{_dl(context)}\n<nav><ul>{nav}</ul></nav>"
            f"</header>\n<main>\n{sections}\n</main>\n<script>{_JS}</script>\n"
            f"</body>\n</html>\n")
