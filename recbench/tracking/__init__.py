"""Stage 5: MLflow tracking of every run."""

from recbench.tracking.run_tracker import RunTracker, metric_key
from recbench.tracking.store import client_for, resolve_store

__all__ = ["RunTracker", "metric_key", "client_for", "resolve_store"]
