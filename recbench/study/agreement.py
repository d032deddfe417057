"""How far two orders of the same models agree: pure functions of ``{model: value}``.

A value is a model's mean over seeds of one metric under one protocol (higher is better
for every accuracy metric; pass ``higher_is_better=False`` otherwise). Definitions:

    Kendall's tau    tau-b of the two value vectors (ties handled), scipy.stats.kendalltau
    Spearman's rho   rank correlation (average ranks for ties), scipy.stats.spearmanr
    flipped pair     two models the reference orders strictly one way and the other
                     protocol strictly the other way; the share divides by every pair
                     ``n (n - 1) / 2``. Pairs tied under either protocol never flip.

With fewer than two models (or a constant vector) the correlations are NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Agreement:
    """Agreement of an order with the reference order.

    Attributes:
        n_models: models compared (those valued under both protocols).
        kendall_tau, spearman_rho: rank correlations (NaN when undefined).
        flipped: ``(a, b)`` pairs the reference ranks ``a`` above ``b`` and the other
            protocol ``b`` above ``a``, in reference order.
    """

    n_models: int
    kendall_tau: float
    spearman_rho: float
    flipped: tuple[tuple[str, str], ...]

    @property
    def n_pairs(self) -> int:
        return self.n_models * (self.n_models - 1) // 2

    @property
    def flipped_share(self) -> float:
        """Share of all model pairs whose order flips (NaN without pairs)."""
        return len(self.flipped) / self.n_pairs if self.n_pairs else math.nan


def order(values: Mapping[str, float], higher_is_better: bool = True) -> list[str]:
    """Models best first (ties: by name, so the order is reproducible)."""
    sign = -1.0 if higher_is_better else 1.0
    return sorted(values, key=lambda m: (sign * values[m], m))


def agreement(reference: Mapping[str, float], other: Mapping[str, float],
              higher_is_better: bool = True) -> Agreement:
    """Agreement of ``other``'s model order with ``reference``'s (models in both only)."""
    from scipy import stats

    models = [m for m in order(reference, higher_is_better) if m in other]
    x = np.array([reference[m] for m in models], dtype=np.float64)
    y = np.array([other[m] for m in models], dtype=np.float64)
    tau = rho = math.nan
    if len(models) >= 2 and np.ptp(x) > 0 and np.ptp(y) > 0:
        tau = float(stats.kendalltau(x, y).statistic)
        rho = float(stats.spearmanr(x, y).statistic)
    sign = 1.0 if higher_is_better else -1.0
    flipped = tuple((a, b) for i, a in enumerate(models) for b in models[i + 1:]
                    if sign * (reference[a] - reference[b]) > 0
                    and sign * (other[a] - other[b]) < 0)
    return Agreement(len(models), tau, rho, flipped)
