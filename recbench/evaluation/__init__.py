"""Stage 4: full-ranking evaluation (chunked top-K) and ranking metrics."""

from recbench.evaluation.metrics import METRICS, parse_metric, per_user_metrics
from recbench.evaluation.ranker import evaluate, topk_items

__all__ = ["METRICS", "parse_metric", "per_user_metrics", "evaluate", "topk_items"]
