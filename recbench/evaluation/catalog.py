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

Intervals: the normal bootstrap interval over users, value +- 1.96 bootstrap standard
errors: ``n_boot`` resamples of the evaluated users with replacement (a fixed seed), each
metric recomputed on every resample, the standard deviation of those values is the
standard error (Efron & Tibshirani: 50-200 resamples estimate it well). Not the percentile
interval: a resample holds about 63% distinct users, so catalogue counts (coverage,
entropy) of resamples sit below the full-sample value, and percentiles of them can exclude
it; their spread is still the sampling variability.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recbench.evaluation.popularity import ItemStats, distinct_items
from recbench.evaluation.registry import REGISTRY, parse_metric

BOOT_BLOCK = 64  #: resamples computed at once: memory ~ BOOT_BLOCK x listed items ints


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
        their 95% normal bootstrap intervals over ``users`` (module docstring).

        Args:
            users: ``(n,)`` the evaluated users, in the order their chunks were added.
            seen: ``(n_users, n_items)`` masked items; truth: relevant items.
        """
        items = np.concatenate(self._items) if self._items else np.zeros((0, 1), np.int64)
        valid = np.concatenate(self._valid) if self._valid else np.zeros((0, 1), bool)
        hits = np.concatenate(self._hits) if self._hits else np.zeros((0, 1), bool)
        tail = self.stats.tail
        n_tail = float(tail.sum())
        candidates = np.array([self.stats.n_items - n_tail, n_tail]) - _by_group(seen, tail)[users]
        relevant = _by_group(truth, tail)[users]  # (n, 2): head, tail
        ks = sorted({min(k, items.shape[1]) for _, k in self.parsed})
        # only items listed to someone can have a non-zero count: the counts are kept for
        # those (columns of ``listed``); the metrics add the other items' zeros
        distinct, column = distinct_items(items[valid], self.stats.n_items)
        position = np.zeros_like(items)
        position[valid] = column
        # the lists of a larger K extend those of a smaller one: each K adds the segment of
        # positions [previous K, K), and the counts of K are running sums of the segments
        segments, previous = {}, 0
        for k in ks:
            v = valid[:, previous:k]
            rows = np.repeat(np.arange(len(items)), v.sum(1))
            listed = sp.csr_matrix((np.ones(len(rows)), (rows, position[:, previous:k][v])),
                                   shape=(len(items), max(len(distinct), 1)))
            in_tail = tail[items[:, previous:k]] & v
            hit = hits[:, previous:k] & v
            segments[k] = (listed.T.tocsr().astype(np.float32),
                           _head_tail(v.sum(1), in_tail.sum(1)),
                           _head_tail(hit.sum(1), (hit & in_tail).sum(1)))
            previous = k
        ones = np.ones((1, len(items)))
        values = {}
        for name, reps in self._replicates(segments, ones, candidates, relevant).items():
            values[name] = float(reps[0])
        if n_boot <= 0:
            return values, {}
        replicates: dict[str, list[np.ndarray]] = {name: [] for name in values}
        rng = np.random.default_rng(seed)
        n = len(items)
        for start in range(0, n_boot, BOOT_BLOCK):
            r = min(BOOT_BLOCK, n_boot - start)
            draws = rng.integers(0, n, size=(r, n)) + n * np.arange(r)[:, None]
            weights = np.bincount(draws.ravel(), minlength=r * n).reshape(r, n)
            for name, reps in self._replicates(segments, weights.astype(np.float32),
                                               candidates, relevant).items():
                replicates[name].append(reps)
        intervals = {}
        for name in self.names:
            reps = np.concatenate(replicates[name])
            finite = reps[np.isfinite(reps)]
            half = 1.959964 * finite.std(ddof=1) if len(finite) > 1 else float("nan")
            intervals[name] = (values[name] - half, values[name] + half)
        return values, intervals

    def _replicates(self, segments: dict, weights: np.ndarray, candidates: np.ndarray,
                    relevant: np.ndarray) -> dict[str, np.ndarray]:
        """Every metric (and ``coverage_count@K``) on each row of ``weights`` (``(R, n)``:
        how often each user counts; a row of ones is the sample itself)."""
        cand, rel = weights @ candidates, weights @ relevant
        counts, rec, hit = 0, 0, 0
        at_k = {}
        # float32 holds these integer sums exactly (< 2**24 users)
        wt = np.ascontiguousarray(weights.T, dtype=np.float32)
        for k, (by_item, seg_rec, seg_hit) in segments.items():
            counts = counts + np.ascontiguousarray(np.rint(by_item @ wt).T, dtype=np.int64)
            rec, hit = rec + weights @ seg_rec, hit + weights @ seg_hit
            at_k[k] = (counts, rec, hit)
        k_list = max(segments)
        out = {}
        for name, (metric, k) in zip(self.names, self.parsed):
            counts, rec, hit = at_k[min(k, k_list)]
            out[name] = _metric(metric, counts, self.stats.n_items, rec, cand, hit, rel)
            if metric == "coverage":
                out[f"coverage_count@{k}"] = (counts > 0).sum(1).astype(np.float64)
        return out


def _head_tail(total: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """``(n, 2) float64``: head (``total - tail``) and tail counts per row."""
    return np.stack([total - tail, tail], axis=1).astype(np.float64)


def _by_group(matrix: sp.csr_matrix, tail: np.ndarray) -> np.ndarray:
    """``(n_rows, 2)``: each row's stored positive entries among head and tail items (one
    running sum over the nonzeros, no row selection or product)."""
    matrix = matrix.tocsr()
    if not matrix.has_canonical_format:  # an item stored twice in a row counts once
        matrix = matrix.copy()
        matrix.sum_duplicates()
    stored = matrix.data > 0
    ptr = matrix.indptr
    running = np.concatenate([[0], np.cumsum(stored)])
    in_tail = np.concatenate([[0], np.cumsum(stored & tail[matrix.indices])])
    return _head_tail(running[ptr[1:]] - running[ptr[:-1]], in_tail[ptr[1:]] - in_tail[ptr[:-1]])


def _metric(metric: str, counts, n_items: int, rec, candidates, hit, relevant) -> np.ndarray:
    """One value per row: ``counts (R, D)`` of D of the ``n_items`` catalogue items (the
    others count 0), group sums ``(R, 2)`` (head, tail)."""
    if metric == "coverage":
        return (counts > 0).sum(1) / n_items
    if metric == "gini":
        return gini(counts, n_items)
    if metric == "entropy":
        return entropy(counts)
    if metric == "poprsp":
        return parity(rec, candidates)
    return parity(hit, relevant)  # popreo


def gini(counts: np.ndarray, n_items: int | None = None) -> np.ndarray:
    """Gini index of each row of non-negative integer ``counts`` (``(R, D)``) over
    ``N = n_items >= D`` items (the ``N - D`` missing ones count 0; default ``N = D``), the
    N convention: ``sum_j (2j - N - 1) c_(j) / (N sum c)`` over the ascending order.

    Few distinct items (D <= the largest count): sort each row; the missing items are the
    N - D smallest. Many: no sort, a value ``v`` held by ``h`` items that follow ``a``
    smaller ones fills the positions ``a+1 .. a+h``, whose weights sum to ``h (2a + h - N)``.
    """
    c = np.asarray(counts, dtype=np.int64)
    r, d = c.shape
    n = d if n_items is None else n_items
    top = int(c.max()) + 1 if c.size else 1
    if d <= top:
        positions = np.arange(n - d + 1, n + 1, dtype=np.float64)
        weighted = np.sort(c, axis=1).astype(np.float64) @ (2 * positions - n - 1)
    else:
        hist = np.bincount((c + top * np.arange(r)[:, None]).ravel(),
                           minlength=r * top).reshape(r, top).astype(np.float64)
        hist[:, 0] += n - d
        below = np.cumsum(hist, axis=1) - hist
        value = np.arange(top, dtype=np.float64)
        weighted = (value * hist * (2 * below + hist - n)).sum(1)
    total = c.sum(1).astype(np.float64)
    return np.divide(weighted, n * total, out=np.zeros(r), where=total > 0)


def entropy(counts: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of each row's distribution ``counts / T``, T = row sum:
    ``log2 T - sum c log2 c / T`` (integer counts: ``c log2 c`` is looked up)."""
    c = np.asarray(counts, dtype=np.int64)
    top = int(c.max()) + 1 if c.size else 1
    xlogx = np.zeros(top)
    xlogx[1:] = np.arange(1, top) * np.log2(np.arange(1, top))
    total = c.sum(1).astype(np.float64)
    return np.where(total > 0, np.log2(np.maximum(total, 1)) - xlogx[c].sum(1)
                    / np.maximum(total, 1), 0.0)


def parity(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``std(P) / mean(P)`` over the groups (columns), ``P = numerator / denominator``;
    NaN where a group's denominator or the mean is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.asarray(numerator, np.float64) / np.asarray(denominator, np.float64)
        mean = p.mean(1)
        return np.where(np.isfinite(p).all(1) & (mean > 0), p.std(1) / mean, np.nan)
