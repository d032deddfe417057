"""RecBole's own beyond-accuracy metric classes run on recbench's top-K lists, and the
conversions that map their definitions onto ours (see :mod:`.catalog` and :mod:`.beyond`).

Used by the agreement tests and by ``benchmarks/recbole_metric_agreement.py``; RecBole
is imported only here, never on the evaluation path.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import scipy.sparse as sp
import torch

#: our metric -> (RecBole class, how its value becomes ours)
CONVERSIONS = {
    "coverage": ("ItemCoverage", "x (N+1) / N: RecBole's N counts its padding item"),
    "gini": ("GiniIndex", "((N+1) x - 1) / N: RecBole's N counts its padding item"),
    "entropy": ("ShannonEntropy", "x D / ln 2: RecBole divides by the D distinct items and "
                                  "uses nats"),
    "arp": ("AveragePopularity", "equal (popularity = train interactions)"),
    "aplt": ("TailPercentage", "equal with tail_rule=bottom_fraction, plus the share of "
                               "listed items never seen in training (tail for us, not for "
                               "RecBole)"),
}


def recbole_values(items: np.ndarray, train: sp.csr_matrix, tail_ratio: float = 0.1
                   ) -> dict[str, float]:
    """RecBole 1.2.1's value of each metric of :data:`CONVERSIONS` on the lists ``items``
    (``(n_users, K)`` item indices), keyed by our names, unconverted."""
    from recbench.models.recbole import shims  # noqa: F401  numpy 2 aliases, before recbole
    import recbole.evaluator.metrics as rm
    from recbole.evaluator.collector import DataStruct

    pop = np.asarray((train > 0).sum(0)).ravel().astype(int)
    struct = DataStruct()
    struct.set("rec.items", torch.from_numpy(np.asarray(items, dtype=np.int64)))
    struct.set("data.num_items", train.shape[1] + 1)  # RecBole's item_num: padding included
    struct.set("data.count_items", Counter({i: int(c) for i, c in enumerate(pop) if c}))
    config = {"topk": [items.shape[1]], "metric_decimal_place": 15, "tail_ratio": tail_ratio}
    out = {}
    for ours, (name, _) in CONVERSIONS.items():
        out[ours] = float(next(iter(getattr(rm, name)(config).calculate_metric(struct).values())))
    return out


def to_ours(metric: str, value: float, items: np.ndarray, train: sp.csr_matrix) -> float:
    """RecBole's ``value`` of ``metric`` converted to our definition (:data:`CONVERSIONS`)."""
    n = train.shape[1]
    if metric == "coverage":
        return value * (n + 1) / n
    if metric == "gini":
        return ((n + 1) * value - 1) / n
    if metric == "entropy":
        return value * len(np.unique(items)) / math.log(2)
    if metric == "aplt":
        pop = np.asarray((train > 0).sum(0)).ravel()
        return value + float((pop[items] == 0).mean())
    return value
