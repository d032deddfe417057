"""Catalogue-level metrics: one value per run, from every evaluated user's top-K list.

``c_i`` is the number of evaluated users whose list (cut at K) holds item ``i``; the
catalogue is every item of the data set (``N = n_items``, items never seen in training
included). Head / tail are the groups of :mod:`recbench.evaluation.popularity`.

    coverage@K  |{i : c_i > 0}| / N  (the count is logged as ``coverage_count@K``).
                RecBole's ItemCoverage divides by N + 1 (it counts its padding item).
    gini@K      sum_{j=1..N} (2j - N - 1) c_(j) / (N sum_i c_i), c_(j) sorted ascending:
                the Gini index of the counts, 0 = every item recommended equally often,
                (N - 1) / N = one item gets every recommendation (the "N" convention, as
                RecBole's GiniIndex but with N = n_items, not n_items + 1; the "N - 1"
                convention divides by N - 1 instead and reaches 1). 0 when nothing is listed.
                Elliot's Gini reports 1 - G.
    entropy@K   -sum_i p_i log2 p_i with p_i = c_i / sum c: Shannon entropy in bits, not
                normalised. RecBole's ShannonEntropy is in nats and divided by the number
                of distinct recommended items: ours = RecBole's x distinct / ln 2.
    poprsp@K    Zhu et al.'s ranking-based statistical parity between head (h) and tail
                (t): P_g = sum_u |L_u ∩ g| / sum_u |g \\ S_u| (S_u: the user's masked items,
                the ones that could not be listed), PopRSP = std(P_h, P_t) / mean(P_h, P_t)
                (population std: |P_h - P_t| / (P_h + P_t)). 0 = both groups as likely to
                be listed; NaN when a group is empty.
    popreo@K    ranking-based equal opportunity: as PopRSP with P_g = sum_u |L_u ∩ g ∩ T_u|
                / sum_u |g ∩ T_u| (T_u: the user's relevant test items).

Intervals: the percentile bootstrap over users: ``n_boot`` resamples of the evaluated users
with replacement (a fixed seed), each metric recomputed on every resample, the 2.5th and
97.5th percentiles reported.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recbench.evaluation.popularity import ItemStats
from recbench.evaluation.registry import REGISTRY, parse_metric

BOOT_BLOCK = 64  #: resamples computed at once: memory ~ BOOT_BLOCK x n_items floats


class CatalogAccumulator:
    """Collects the top-K lists chunk by chunk (``(n_users, K)`` ints: never a users x items
    matrix), then computes the catalogue metrics and their bootstrap intervals."""

    def __init__(self, names: list[str], stats: ItemStats):
        self.names = list(names)
        self.parsed = [parse_metric(n) for n in self.names]
        if any(REGISTRY[m].kind != "catalog" for m, _ in self.parsed):
            raise ValueError(f"not catalogue metrics: {names}")
        self.stats = stats
        self._items, self._valid, self._hits = [], [], []

    def add(self, items: torch.Tensor, valid: torch.Tensor, hits: torch.Tensor) -> None:
        """One chunk: ``(B, K_max)`` ranked items, validity and hits."""
        self._items.append(items.to(torch.int64).numpy())
        self._valid.append(valid.numpy())
        self._hits.append(hits.numpy())

    def compute(self, users: np.ndarray, seen: sp.csr_matrix, truth: sp.csr_matrix,
                n_boot: int = 0, seed: int = 0) -> tuple[dict[str, float],
                                                         dict[str, tuple[float, float]]]:
        """Values of every metric (plus ``coverage_count@K``) and, with ``n_boot > 0``,
        their 95% percentile-bootstrap intervals over ``users``.

        Args:
            users: ``(n,)`` the evaluated users, in the order their chunks were added.
            seen: ``(n_users, n_items)`` masked items; truth: relevant items.
        """
        n_items = self.stats.n_items
        items = np.concatenate(self._items) if self._items else np.zeros((0, 1), np.int64)
        valid = np.concatenate(self._valid) if self._valid else np.zeros((0, 1), bool)
        hits = np.concatenate(self._hits) if self._hits else np.zeros((0, 1), bool)
        groups = np.stack([~self.stats.tail, self.stats.tail], axis=1).astype(np.float64)
        candidates = groups.sum(0)[None, :] - (seen[users] > 0) @ groups  # (n, 2)
        relevant = (truth[users] > 0) @ groups
        per_k = {}
        for k in sorted({k for _, k in self.parsed}):
            k = min(k, items.shape[1])
            v = valid[:, :k]
            rows = np.repeat(np.arange(len(items)), v.sum(1))
            listed = sp.csr_matrix((np.ones(len(rows)), (rows, items[:, :k][v])),
                                   shape=(len(items), n_items))
            group_of = groups[items[:, :k]] * v[..., None]  # (n, k, 2)
            per_k[k] = (listed, group_of.sum(1), (group_of * hits[:, :k, None]).sum(1))
        values: dict[str, float] = {}
        for name, (metric, k) in zip(self.names, self.parsed):
            listed, rec, hit = per_k[min(k, items.shape[1])]
            counts = np.asarray(listed.sum(0))
            values[name] = float(_metric(metric, counts, rec.sum(0)[None],
                                         candidates.sum(0)[None], hit.sum(0)[None],
                                         relevant.sum(0)[None])[0])
            if metric == "coverage":
                values[f"coverage_count@{k}"] = float((counts > 0).sum())
        if n_boot <= 0:
            return values, {}
        replicates = self._bootstrap(per_k, candidates, relevant, items.shape[1], n_boot, seed)
        intervals = {}
        for name, reps in replicates.items():
            finite = reps[np.isfinite(reps)]
            intervals[name] = tuple(float(q) for q in np.percentile(finite, [2.5, 97.5])) \
                if len(finite) else (float("nan"), float("nan"))
        return values, intervals

    def _bootstrap(self, per_k: dict, candidates: np.ndarray, relevant: np.ndarray,
                   k_list: int, n_boot: int, seed: int) -> dict[str, np.ndarray]:
        """``{metric: (n_boot,)}`` values on resamples of the users; every metric and K
        reads the same resamples (one draw of weights per block)."""
        n = len(candidates)
        rng = np.random.default_rng(seed)
        out: dict[str, list[np.ndarray]] = {name: [] for name in self.names}
        by_item = {k: listed.T.tocsr() for k, (listed, _, _) in per_k.items()}
        for start in range(0, n_boot, BOOT_BLOCK):
            r = min(BOOT_BLOCK, n_boot - start)
            draws = rng.integers(0, n, size=(r, n))
            weights = np.bincount((draws + n * np.arange(r)[:, None]).ravel(),
                                  minlength=r * n).reshape(r, n).astype(np.float64)
            cand, rel = weights @ candidates, weights @ relevant
            for k, (_, rec, hit) in per_k.items():
                counts = None
                for name, (metric, mk) in zip(self.names, self.parsed):
                    if min(mk, k_list) != k:
                        continue
                    if counts is None and metric in ("coverage", "gini", "entropy"):
                        counts = (by_item[k] @ weights.T).T
                    out[name].append(_metric(metric, counts, weights @ rec, cand,
                                             weights @ hit, rel))
        return {name: np.concatenate(v) for name, v in out.items()}


def _metric(metric: str, counts, rec, candidates, hit, relevant) -> np.ndarray:
    """One value per row: ``counts (R, n_items)``, group sums ``(R, 2)`` (head, tail)."""
    if metric == "coverage":
        return (counts > 0).sum(1) / counts.shape[1]
    if metric == "gini":
        return gini(counts)
    if metric == "entropy":
        return entropy(counts)
    if metric == "poprsp":
        return parity(rec, candidates)
    return parity(hit, relevant)  # popreo


def gini(counts: np.ndarray) -> np.ndarray:
    """Gini index of each row of non-negative ``counts`` (``(R, N)``), the N convention."""
    c = np.sort(np.asarray(counts, dtype=np.float64), axis=1)
    n = c.shape[1]
    weights = 2.0 * np.arange(1, n + 1) - n - 1
    total = c.sum(1)
    return np.divide(c @ weights, n * total, out=np.zeros(len(c)), where=total > 0)


def entropy(counts: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of each row's distribution ``counts / counts.sum()``."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum(1, keepdims=True)
    p = np.divide(c, total, out=np.zeros_like(c), where=total > 0)
    return -(p * np.log2(p, out=np.zeros_like(p), where=p > 0)).sum(1)


def parity(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``std(P) / mean(P)`` over the groups (columns), ``P = numerator / denominator``;
    NaN where a group's denominator or the mean is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.asarray(numerator, np.float64) / np.asarray(denominator, np.float64)
        mean = p.mean(1)
        return np.where(np.isfinite(p).all(1) & (mean > 0), p.std(1) / mean, np.nan)
