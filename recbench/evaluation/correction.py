"""Krichene & Rendle's corrected sampled metrics (KDD 2020, "On Sampled Metrics for Item
Recommendation", section 5).

Setting. A test item has full rank ``R`` among ``N`` candidates (itself and the ``N - 1``
items its user never interacted with); sampled ranking sees its rank ``r`` among itself and
``m`` of the others drawn uniformly. Counting the drawn items ranked above it,
``P(r | R)`` is ``Binomial(m, (R - 1) / (N - 1))`` at ``r - 1`` (Krichene & Rendle's
model: draws with replacement; ``model="hypergeometric"`` is the exact law of
:mod:`.sampled`'s draws without replacement). A metric of one relevant item ``M(R)``
(:func:`recbench.evaluation.sampled.item_values`) is estimated from ``r`` by a value table
``M~(r)``, ``r = 1 .. m + 1``, chosen once per ``(N, m)``:

    minimal bias (``gamma = 0``): minimise ``sum_R (E[M~(r) | R] - M(R))^2``, the least
        squares problem ``A M~ ~= M`` with ``A[R, r] = P(r | R)`` (every ``R`` weighted alike);
    bias-variance (``gamma > 0``): minimise ``sum_R (E[M~(r)|R] - M(R))^2 + gamma
        Var[M~(r) | R]``, i.e. ``M~ = ((1 - gamma) A'A + gamma diag(c))^-1 A'M`` with
        ``c = A'1``; ``gamma = 1`` gives the posterior mean ``E[M(R) | r]``.

With ``m = 100`` the minimal-bias table is badly conditioned (``A``'s singular values span
15 orders of magnitude): its entries reach 1e9 in magnitude and the corrected value of a
single item has a huge variance, as Krichene & Rendle report; ``gamma = 0.01`` trades a
little bias for a usable variance.

Several test items per user: each is corrected from its own sampled rank (its user's ``N``
and ``m``) and the corrected values are averaged over the user's test items, like the
sampled metric (:mod:`.sampled`); what is estimated is then the full-ranking metric of each
test item among the items its user never interacted with, the other test items left out.
A user whose every free item was drawn (``m = N - 1``) was ranked exactly: its table is the
metric itself. Popularity sampling has no correction (``P(r | R)`` is not a function of
``R`` then).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from recbench.evaluation.sampled import Candidates, SampledRanks, item_values, user_means

MODELS = ("binomial", "hypergeometric")


def rank_distribution(n_total: int, m: int, model: str = "binomial") -> np.ndarray:
    """``(N, m + 1) float64`` ``A[R - 1, r - 1] = P(sampled rank r | full rank R)`` for an
    item among ``N = n_total`` candidates with ``m`` of the other ``N - 1`` drawn."""
    if n_total < 1 or not 0 <= m <= max(n_total - 1, 0) or model not in MODELS:
        raise ValueError(f"need N >= 1, 0 <= m <= N - 1 and a model in {MODELS}, "
                         f"got N={n_total}, m={m}, {model!r}")
    above = np.arange(n_total)[:, None]  # R - 1: items ranked above it in full
    drawn_above = np.arange(m + 1)[None, :]  # r - 1
    if model == "hypergeometric":
        return stats.hypergeom.pmf(drawn_above, n_total - 1, above, m)
    p = above / max(n_total - 1, 1)
    return stats.binom.pmf(drawn_above, m, p)


def correction_table(full_values: np.ndarray, a: np.ndarray, gamma: float = 0.0) -> np.ndarray:
    """The corrected values ``M~`` of one ``(N, m)``.

    Args:
        full_values: ``(N,)`` or ``(N, n_metrics)`` metric values at full ranks ``1 .. N``.
        a: ``(N, m + 1)`` :func:`rank_distribution`.
        gamma: bias-variance weight in ``[0, 1]`` (0: minimal bias).

    Returns:
        ``(m + 1,)`` or ``(m + 1, n_metrics)``: ``M~(r)`` for ``r = 1 .. m + 1``.
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    if gamma == 0.0:
        return np.linalg.lstsq(a, full_values, rcond=None)[0]
    lhs = (1.0 - gamma) * a.T @ a + gamma * np.diag(a.sum(axis=0))
    return np.linalg.lstsq(lhs, a.T @ full_values, rcond=None)[0]


def full_rank_values(n_total: int, names: list[str]) -> np.ndarray:
    """``(N, len(names)) float64`` metric values of one relevant item at full ranks 1..N."""
    ranks = torch.arange(1, n_total + 1)
    return np.stack([item_values(ranks, name).numpy() for name in names], axis=1)


#: N above which :class:`Corrector` rounds N up to a grid of relative step GRID_STEP
GRID_FROM, GRID_STEP = 100, 0.01


def on_grid(n_total: np.ndarray) -> np.ndarray:
    """``N`` rounded up to the next point of a geometric grid (ratio ``1 + GRID_STEP``)
    above :data:`GRID_FROM`, unchanged at or below it: at most 1% larger, and a few
    hundred distinct values for any catalogue."""
    n = np.asarray(n_total, dtype=np.int64)
    steps = np.ceil(np.log(np.maximum(n, 1)) / np.log1p(GRID_STEP) - 1e-9)
    rounded = np.maximum(np.ceil(np.exp(steps * np.log1p(GRID_STEP)) - 1e-6), n).astype(np.int64)
    return np.where(n > GRID_FROM, rounded, n)


@dataclass
class Corrector:
    """Corrected values of every user of one candidate set (uniform sampler), built once per
    split and reused for every model.

    Attributes:
        names: plain accuracy metrics (``"ndcg@10"``).
        tables: ``(n_keys, n + 1, len(names))`` one padded table per distinct ``(N, m)``.
        key: ``(n_users,) int64`` each user's table (-1: no test item, no table).
    """

    names: list[str]
    tables: np.ndarray
    key: np.ndarray

    @classmethod
    def build(cls, candidates: Candidates, names: list[str], users: np.ndarray,
              gamma: float = 0.0, model: str = "binomial") -> "Corrector":
        """Tables for ``users`` (those with a test item) of ``candidates``: one least
        squares per distinct ``(N, m)``, solved for every metric at once."""
        if candidates.ranking.sampler != "uniform":
            raise ValueError("the correction assumes uniform sampling")
        n_total, drawn = candidates.n_free[users] + 1, candidates.n_drawn[users]
        # one table per distinct N would be thousands of solves (N is each user's number of
        # free items + 1): above GRID_FROM, N is rounded up to a geometric grid (1% steps);
        # users with every free item drawn keep their own N (their table is exact)
        exact = drawn == n_total - 1
        pairs = np.stack([np.where(exact, n_total, on_grid(n_total)), drawn], axis=1)
        distinct, which = np.unique(pairs, axis=0, return_inverse=True)
        width = int(distinct[:, 1].max(initial=0)) + 1
        tables = np.zeros((len(distinct), width, len(names)))
        for i, (n_total, m) in enumerate(distinct):  # one solve per (N, m), not per user
            full = full_rank_values(int(n_total), names)
            if m == n_total - 1:  # every free item drawn: the sampled rank is the full rank
                tables[i, :m + 1] = full
            else:
                a = rank_distribution(int(n_total), int(m), model)
                tables[i, :m + 1] = correction_table(full, a, gamma).reshape(m + 1, len(names))
        key = np.full(len(candidates.n_free), -1, dtype=np.int64)
        key[users] = np.asarray(which).reshape(-1)
        return cls(list(names), tables, key)

    def user_metrics(self, ranked: SampledRanks, users: np.ndarray) -> dict[str, torch.Tensor]:
        """``{name: (B,) float64}`` per-user means of the corrected values of a chunk's
        relevant items (``users``: the chunk's user indices)."""
        key = self.key[users][ranked.rows.numpy()]
        values = self.tables[key, ranked.ranks.numpy() - 1]  # (P, n_names)
        return {name: user_means(ranked, torch.from_numpy(values[:, j]))
                for j, name in enumerate(self.names)}
