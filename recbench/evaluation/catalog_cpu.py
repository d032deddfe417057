"""The compiled catalogue statistics of many weightings of the users at once (the bootstrap).

Per weighting ``r`` (a column of ones is the sample itself; a bootstrap resample counts
each user as often as it was drawn) and list length K, the catalogue metrics need the
count ``c_i`` of every item: the summed weights of the users whose list holds it. numpy
made them as an ``(R, D)`` array per K (a sparse product, a transpose, rounding), then
sorted or histogrammed, summed and looked up ``c log c`` in about 15 passes over it. Here
one pass over the listed (user, item) pairs, grouped by item, adds each item's users'
weights (64 weightings at a time: one byte each, one cache line a user), counts every
item count in a histogram per (K, r) and reads coverage, Gini and entropy off the
histograms; nothing of size ``R x D`` is made. The threads of :func:`on_own_threads` take
disjoint weightings.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import scipy.sparse as sp
import torch

from recbench.evaluation.openmp import on_own_threads

#: weightings added per pass over the listed items (a user's 64 one-byte weights are one
#: 64-byte cache line: the pass reads one line per listed pair)
LANES = 64
#: fewest weightings a thread takes
MIN_LANES = 16


@numba.njit(cache=True, nogil=True)
def _stats(ptr, users, segment, weights, groups, lo, hi, n_items, hist, acc, peak, covered,
           gini, entropy, sums):
    """The statistics of weightings (columns) ``lo:hi``, ``hist.shape[2]`` at a time."""
    for u in range(len(groups)):  # sums[c, r - lo] = sum_u groups[u, c] weights[u, r]
        w, g = weights[u, lo:hi], groups[u]
        for c in range(len(g)):
            if g[c]:
                out, x = sums[c], np.float64(g[c])
                for j in range(hi - lo):
                    out[j] += x * w[j]
    n_listed = len(ptr) - 1
    n_segments, _, lanes = hist.shape
    below = np.empty(lanes, np.int64)
    total, weighted = np.empty(lanes, np.int64), np.empty(lanes, np.int64)
    xlogx = np.empty(lanes, np.float64)
    for r0 in range(lo, hi, lanes):
        width = min(lanes, hi - r0)
        peak[:] = 0
        for d in range(n_listed):
            acc[:, :] = 0
            for e in range(ptr[d], ptr[d + 1]):
                row, a = weights[users[e], r0:r0 + width], acc[segment[e]]
                for j in range(width):
                    a[j] += row[j]
            for s in range(n_segments):
                a, h = acc[s], hist[s]
                if s:  # K's lists extend the shorter K's lists
                    shorter = acc[s - 1]
                    for j in range(width):
                        a[j] += shorter[j]
                high = peak[s]
                for j in range(width):
                    h[a[j], j] += 1
                    high = max(high, a[j])
                peak[s] = high
        for s in range(n_segments):
            # h[v, j]: how many catalogue items count v under weighting j (the items never
            # listed count 0). The h items of value v that follow ``below`` smaller ones
            # fill the ascending positions below + 1 .. below + h, whose Gini weights
            # (2i - N - 1) sum to h (2 below + h - N)
            h = hist[s]
            for j in range(width):
                below[j] = h[0, j] + n_items - n_listed
                covered[s, r0 + j] = n_items - below[j]
                h[0, j] = 0
            total[:], weighted[:], xlogx[:] = 0, 0, 0.0
            for v in range(1, peak[s] + 1):
                v_log_v = v * math.log2(v)
                for j in range(width):
                    c = np.int64(h[v, j])
                    total[j] += v * c
                    weighted[j] += v * c * (2 * below[j] + c - n_items)
                    xlogx[j] += c * v_log_v
                    below[j] += c
                    h[v, j] = 0
            for j in range(width):
                t = total[j]
                gini[s, r0 + j] = weighted[j] / (n_items * t) if t else 0.0
                entropy[s, r0 + j] = math.log2(t) - xlogx[j] / t if t else 0.0


@numba.njit(cache=True, nogil=True)
def _group(column, n_groups, ptr, order):
    """Counting sort: ``order`` lists the positions of ``column``'s values 0, 1, ... in
    turn (ascending positions within a value), ``ptr`` where each value's run starts."""
    for c in column:
        ptr[c + 1] += 1
    for g in range(n_groups):
        ptr[g + 1] += ptr[g]
    filled = ptr[:-1].copy()
    for e in range(len(column)):
        c = column[e]
        order[filled[c]] = e
        filled[c] += 1


def by_item(column: np.ndarray, n_listed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ptr, order)``: the pairs of each listed item (``column``: ``(P,)`` ids in
    ``[0, D)``) are ``order[ptr[d]:ptr[d + 1]]``, in their original order."""
    ptr, order = np.zeros(n_listed + 1, np.int64), np.empty(len(column), np.int64)
    _group(np.ascontiguousarray(column, np.int64), n_listed, ptr, order)
    return ptr, order


def catalogue_stats(ptr: np.ndarray, users: np.ndarray, segment: np.ndarray,
                    weights: np.ndarray, groups: np.ndarray, n_items: int, n_segments: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Coverage count, Gini index and entropy (bits) of the item counts of every list length
    and weighting (the formulas of :mod:`recbench.evaluation.catalog`), and per-user values
    summed under each weighting.

    Args:
        ptr, users, segment: the listed (user, item) pairs by item, CSR-like: item ``d``'s
            pairs are ``ptr[d]:ptr[d + 1]`` (``(D + 1,)``, D distinct listed items), each
            with its user (a row of ``weights``) and segment ``s``: it is in the lists of
            the s-th list length and every longer one (``(P,)`` int64 each).
        weights: ``(n, R)`` uint8 or int32, how often each user counts in each weighting
            (one byte a weight: a user's 64 weightings are one cache line).
        groups: ``(n, C) int64`` per-user values.
        n_items: ``N >= D``, the catalogue size (unlisted items count 0).
        n_segments: ``S``, the number of list lengths.

    Returns:
        ``(S, R)`` each: items with a non-zero count (int64), Gini index and entropy
        (float64; 0 where nothing is listed); ``(R, C) float64``: ``weights.T @ groups``
        (integers, exact below 2**53).
    """
    n_weightings = weights.shape[1]
    counts = np.diff(ptr)
    # no item's count exceeds its users times the largest weight, nor the summed weights
    top = int(min(counts.max(initial=0) * int(weights.max(initial=0)),
                  weights.sum(0, dtype=np.int64).max(initial=0)))
    covered = np.zeros((n_segments, n_weightings), np.int64)
    gini, entropy = np.zeros((2, n_segments, n_weightings))
    arrays = (np.ascontiguousarray(ptr, np.int64), np.ascontiguousarray(users, np.int64),
              np.ascontiguousarray(segment, np.int64), weights,
              np.ascontiguousarray(groups, np.int64))
    # the threads take disjoint columns, each with its own histograms: S x (top + 1) x
    # lanes int32s (about 1.5 MB on gowalla; at most S x (n + 1) x 64)
    threads = min(torch.get_num_threads(), -(-n_weightings // MIN_LANES))
    bounds = np.linspace(0, n_weightings, threads + 1).astype(int)
    calls = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        lanes = min(LANES, hi - lo)
        calls.append((*arrays, lo, hi, n_items, np.zeros((n_segments, top + 1, lanes), np.int32),
                      np.zeros((n_segments, lanes), np.int32), np.zeros(n_segments, np.int64),
                      covered, gini, entropy, np.zeros((groups.shape[1], hi - lo))))
    if threads == 1:
        _stats(*calls[0])
    else:
        on_own_threads(_stats, calls)
    # each thread summed its columns apart (a cache line written by two threads slows both)
    return covered, gini, entropy, np.hstack([call[-1] for call in calls]).T


@numba.njit(cache=True, nogil=True)
def _tally(draws, weights):
    limit = np.iinfo(weights.dtype).max
    for i in range(draws.shape[0]):
        for u in draws[i]:
            if weights[u, i] == limit:
                return False
            weights[u, i] += 1
    return True


def resample_weights(draws: np.ndarray, n: int) -> np.ndarray:
    """``(n, R)``: how often each of ``n`` users is drawn in each resample (``draws``:
    ``(R, m)`` user ids, row i the users of resample i); uint8 when every count fits (a
    bootstrap's rarely exceed 10), else int32."""
    draws = np.ascontiguousarray(draws, np.int64)
    for dtype in (np.uint8, np.int32):
        weights = np.zeros((n, len(draws)), dtype)
        if _tally(draws, weights):
            return weights
    raise ValueError("a user is drawn more than 2**31 - 1 times")


@numba.njit(cache=True, nogil=True)
def _row_groups(ptr, indices, data, rows, tail, out):
    for i in range(len(rows)):
        for p in range(ptr[rows[i]], ptr[rows[i] + 1]):
            if data[p] > 0:
                out[i, 1 if tail[indices[p]] else 0] += 1


def row_groups(matrix: sp.csr_matrix, rows: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """``(len(rows), 2) int64``: each row's stored positive entries among head items and
    among ``tail`` items (an item stored twice in a row counts once)."""
    matrix = matrix.tocsr()
    if not matrix.has_canonical_format:
        matrix = matrix.copy()
        matrix.sum_duplicates()
    out = np.zeros((len(rows), 2), np.int64)
    _row_groups(matrix.indptr, matrix.indices, matrix.data, np.asarray(rows, np.int64),
                np.asarray(tail, np.bool_), out)
    return out
