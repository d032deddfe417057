"""``recbench leaderboard``: boards from the MLflow store (no re-training), printed and
published. See :mod:`recbench.report.board` for the selection rules."""

from __future__ import annotations

from recbench.errors import RecbenchError
from recbench.evaluation.registry import (HEADLINE, HEADLINE_BEYOND, HEADLINE_CTR,
                                          HEADLINE_OPTIONAL_CTR, SampledRanking,
                                          ranking_from_label)
from recbench.report.board import Board, build_boards
from recbench.tracking.run_tracker import metric_key
from recbench.report.runs import attach_details, finished_runs
from recbench.report.tables import display_table, legend, stability_legend


def leaderboards(client, experiments: list[str], metrics: list[str] | None,
                 filters: dict[str, str] | None = None, group: bool = False,
                 keep_seeds: bool = False) -> tuple[list[Board], list[str]]:
    """Boards of the FINISHED runs of ``experiments`` with store details attached, and the
    columns shown: ``metrics``, or by default the headline columns of the runs' task (and
    ranking protocol) plus those of its optional ones that every run logged. ``keep_seeds``:
    keep each seed's artifact on the boards (``Board.per_seed``, for ``--stability``)."""
    runs = finished_runs(client, experiments, filters)
    ranking = ranking_protocol(runs)
    if metrics is None:
        ctr = "tag.task" in runs and bool((runs["tag.task"] == "ctr").all())
        metrics, optional = ((list(HEADLINE_CTR), HEADLINE_OPTIONAL_CTR) if ctr
                             else (list(HEADLINE), HEADLINE_BEYOND))
        if ranking is not None:  # sampled runs log sampled accuracy metrics only
            metrics, optional = [ranking.name(m) for m in metrics], ()
        metrics += [m for m in optional if _logged_by_all(runs, m)]
    boards = [attach_details(b, client, metrics, keep_seeds)
              for b in build_boards(runs, metrics, group)]
    if runs.attrs.get("dropped"):
        for board in boards:
            board.notes.append(f"{runs.attrs['dropped']} FINISHED run(s) without recbench's "
                               f"tags (not logged by `recbench run`) were left out.")
    return boards, metrics


def ranking_protocol(runs) -> SampledRanking | None:
    """The one ranking protocol of the runs (tag ``ranking``; runs without it were ranked in
    full): None for full ranking. Runs of several protocols are refused: a column would
    otherwise hold full and sampled values, or a model's chosen configuration might not
    have been scored under the protocol of the column."""
    labels = runs["tag.ranking"].fillna("full") if "tag.ranking" in runs else ["full"]
    found = sorted(set(labels))
    if len(found) > 1:
        raise RecbenchError(
            f"the runs were scored under {len(found)} ranking protocols ({', '.join(found)}); "
            f"a leaderboard never mixes full and sampled values: filter with --tag "
            f"metrics.ranking=full, or --tag metrics.ranking=sampled (and --tag "
            f"metrics.sampled.n=N / metrics.sampled.sampler=S).")
    return ranking_from_label(found[0])


def _logged_by_all(runs, metric: str) -> bool:
    column = metric_key("test_" + metric)
    return column in runs and bool(runs[column].notna().all())


def _console():
    from rich.console import Console

    console = Console()
    # piped: full width, so logs keep every column of a full metric suite on one line
    return console if console.is_terminal else Console(width=320)


def _print_table(console, title: str, frame, left: tuple[str, ...]) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in frame.columns:
        table.add_column(col, justify="left" if col in left else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*map(str, row))
    console.print(table)


def print_boards(boards: list[Board], metrics: list[str], alpha: float, name: str) -> None:
    """Rich tables on the terminal (full width when piped, so logs keep every column)."""
    console = _console()
    for board in boards:
        pretty = display_table(board, metrics, alpha).drop(columns=["Config"])
        _print_table(console, f"recbench leaderboard: {name} · {board.title}", pretty,
                     ("Model", "Tuning"))
        if board.significance is not None:
            console.print(legend(alpha, board), style="dim", soft_wrap=True)
        if board.stability is not None:
            console.print(stability_legend(board), style="dim", soft_wrap=True)
        for note in board.notes:
            console.print(f"note: {note}", style="yellow", soft_wrap=True)


def print_aggregate(aggregate, name: str) -> None:
    """The ranking over every board (``--aggregate``), after the boards."""
    from recbench.report.aggregate import display_frame, legend as aggregate_legend

    console = _console()
    _print_table(console, f"recbench leaderboard: {name} · aggregate over "
                          f"{aggregate.values.shape[1]} data sets",
                 display_frame(aggregate), ("Model",))
    console.print(aggregate_legend(aggregate), style="dim", soft_wrap=True)
    for note in aggregate.notes:
        console.print(f"note: {note}", style="yellow", soft_wrap=True)
