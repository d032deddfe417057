"""``recbench leaderboard``: boards from the MLflow store (no re-training), printed and
published. See :mod:`recbench.report.board` for the selection rules."""

from __future__ import annotations

from recbench.evaluation.registry import (HEADLINE, HEADLINE_BEYOND, HEADLINE_CTR,
                                          HEADLINE_OPTIONAL_CTR)
from recbench.report.board import Board, build_boards
from recbench.tracking.run_tracker import metric_key
from recbench.report.runs import attach_details, finished_runs
from recbench.report.tables import display_table, legend


def leaderboards(client, experiments: list[str], metrics: list[str] | None,
                 filters: dict[str, str] | None = None, group: bool = False
                 ) -> tuple[list[Board], list[str]]:
    """Boards of the FINISHED runs of ``experiments`` with store details attached, and the
    columns shown: ``metrics``, or by default the headline columns of the runs' task plus
    those of its optional ones that every run logged."""
    runs = finished_runs(client, experiments, filters)
    if metrics is None:
        ctr = "tag.task" in runs and bool((runs["tag.task"] == "ctr").all())
        metrics, optional = ((list(HEADLINE_CTR), HEADLINE_OPTIONAL_CTR) if ctr
                             else (list(HEADLINE), HEADLINE_BEYOND))
        metrics += [m for m in optional if _logged_by_all(runs, m)]
    boards = [attach_details(b, client, metrics) for b in build_boards(runs, metrics, group)]
    if runs.attrs.get("dropped"):
        for board in boards:
            board.notes.append(f"{runs.attrs['dropped']} FINISHED run(s) without recbench's "
                               f"tags (not logged by `recbench run`) were left out.")
    return boards, metrics


def _logged_by_all(runs, metric: str) -> bool:
    column = metric_key("test_" + metric)
    return column in runs and bool(runs[column].notna().all())


def print_boards(boards: list[Board], metrics: list[str], alpha: float, name: str) -> None:
    """Rich tables on the terminal (full width when piped, so logs keep every column)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=320)  # every column of a full metric suite on one line
    for board in boards:
        pretty = display_table(board, metrics, alpha).drop(columns=["Config"])
        table = Table(title=f"recbench leaderboard: {name} · {board.title}")
        for col in pretty.columns:
            table.add_column(col, justify="left" if col in ("Model", "Tuning") else "right")
        for row in pretty.itertuples(index=False):
            table.add_row(*map(str, row))
        console.print(table)
        if board.significance is not None:
            console.print(legend(alpha, board), style="dim", soft_wrap=True)
        for note in board.notes:
            console.print(f"note: {note}", style="yellow", soft_wrap=True)
