"""Stage 6: leaderboards from the MLflow store."""

from recbench.report.leaderboard import build_leaderboard, finished_runs, write_leaderboard

__all__ = ["build_leaderboard", "finished_runs", "write_leaderboard"]
