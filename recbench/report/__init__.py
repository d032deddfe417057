"""Stage 6: leaderboards from the MLflow store: selection, significance, publication."""

from recbench.report.board import Board, build_boards
from recbench.report.leaderboard import leaderboards, print_boards
from recbench.report.publish import publish

__all__ = ["Board", "build_boards", "leaderboards", "print_boards", "publish"]
