"""Stage 4: full-ranking evaluation (chunked top-K) and ranking metrics.

The names below are loaded on first use, not on import: checking a config reads
:mod:`.registry` and :mod:`.options` and must not pay for torch.
"""

from importlib import import_module

_HOME = {"METRICS": "metrics", "parse_metric": "metrics", "per_user_metrics": "metrics",
         "evaluate": "ranker", "topk_items": "ranker"}
__all__ = list(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
