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

BOOT_BLOCK = 64  #: resamples drawn at once: memory ~ BOOT_BLOCK x users x 9 bytes (draws, counts)


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
        # compiled (numba loads in 0.2 s, which commands computing no catalogue metric
        # need not wait for)
        from recbench.evaluation.catalog_cpu import by_item, resample_weights

        items = np.concatenate(self._items) if self._items else np.zeros((0, 1), np.int64)
        valid = np.concatenate(self._valid) if self._valid else np.zeros((0, 1), bool)
        hits = np.concatenate(self._hits) if self._hits else np.zeros((0, 1), bool)
        ks = sorted({min(k, items.shape[1]) for _, k in self.parsed})
        at, ok = items[:, :ks[-1]], valid[:, :ks[-1]]
        # the listed (user, item) pairs by item: only items listed to someone can count more
        # than 0 (the kernel adds the other items' zeros); a pair at a position in [K', K)
        # (K' the next shorter K) is in the lists of K and of every longer K
        user, position = np.nonzero(ok)
        distinct, column = distinct_items(at[ok], self.stats.n_items)
        ptr, order = by_item(column, len(distinct))
        segment = np.searchsorted(ks, np.arange(ks[-1]), side="right")
        pairs = ptr, user[order], segment[position[order]]
        groups = self._groups(users, seen, truth, ks, at, ok, hits[:, :ks[-1]] & ok)
        ones = np.ones((len(items), 1), np.uint8)
        values = {name: float(reps[0])
                  for name, reps in self._replicates(ks, pairs, ones, groups).items()}
        if n_boot <= 0:
            return values, {}
        replicates: dict[str, list[np.ndarray]] = {name: [] for name in values}
        rng = np.random.default_rng(seed)
        n = len(items)
        for start in range(0, n_boot, BOOT_BLOCK):
            draws = rng.integers(0, n, size=(min(BOOT_BLOCK, n_boot - start), n))
            weights = resample_weights(draws, n)
            for name, reps in self._replicates(ks, pairs, weights, groups).items():
                replicates[name].append(reps)
        intervals = {}
        for name in self.names:
            reps = np.concatenate(replicates[name])
            finite = reps[np.isfinite(reps)]
            half = 1.959964 * finite.std(ddof=1) if len(finite) > 1 else float("nan")
            intervals[name] = (values[name] - half, values[name] + half)
        return values, intervals

    def _groups(self, users, seen, truth, ks, at, ok, hit) -> np.ndarray:
        """``(n, 4 + 4 len(ks)) int64`` per user, head and tail (2 columns each): items
        that could be listed, relevant items, then per K listed and hit items."""
        from recbench.evaluation.catalog_cpu import row_groups

        tail = self.stats.tail
        n_tail = int(tail.sum())
        out = np.empty((len(users), 4 + 4 * len(ks)), np.int64)
        out[:, 0:2] = [self.stats.n_items - n_tail, n_tail]
        out[:, 0:2] -= row_groups(seen, users, tail)
        out[:, 2:4] = row_groups(truth, users, tail)
        at_k = np.asarray(ks) - 1
        in_tail = tail[at] & ok
        for column, (count, count_tail) in enumerate([(ok, in_tail), (hit, hit & in_tail)]):
            total = np.cumsum(count, 1, dtype=np.int32)[:, at_k]  # (n, K) per user
            in_tail_k = np.cumsum(count_tail, 1, dtype=np.int32)[:, at_k]
            out[:, 4 + 2 * column::4] = total - in_tail_k
            out[:, 5 + 2 * column::4] = in_tail_k
        return out

    def _replicates(self, ks: list[int], pairs: tuple, weights: np.ndarray,
                    groups: np.ndarray) -> dict[str, np.ndarray]:
        """Every metric (and ``coverage_count@K``) under each column of ``weights``
        (``(n, R)``: how often each user counts; a column of ones is the sample itself),
        given :meth:`compute`'s ``pairs`` and :meth:`_groups`."""
        from recbench.evaluation.catalog_cpu import catalogue_stats

        n_items, r = self.stats.n_items, weights.shape[1]
        covered, gini, entropy, sums = catalogue_stats(*pairs, weights, groups, n_items, len(ks))
        candidates, relevant = sums[:, 0:2], sums[:, 2:4]
        listed_hit = sums[:, 4:].reshape(r, len(ks), 2, 2)  # (R, K, listed / hit, head / tail)
        out = {}
        for name, (metric, k) in zip(self.names, self.parsed):
            at_k = ks.index(min(k, ks[-1]))
            if metric == "coverage":
                out[name] = covered[at_k] / n_items
                out[f"coverage_count@{k}"] = covered[at_k].astype(np.float64)
            elif metric == "gini":
                out[name] = gini[at_k]
            elif metric == "entropy":
                out[name] = entropy[at_k]
            elif metric == "poprsp":
                out[name] = parity(listed_hit[:, at_k, 0], candidates)
            else:  # popreo
                out[name] = parity(listed_hit[:, at_k, 1], relevant)
        return out


def parity(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``std(P) / mean(P)`` over the groups (columns), ``P = numerator / denominator``;
    NaN where a group's denominator or the mean is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.asarray(numerator, np.float64) / np.asarray(denominator, np.float64)
        mean = p.mean(1)
        return np.where(np.isfinite(p).all(1) & (mean > 0), p.std(1) / mean, np.nan)
