"""The CPU ranking kernel: mask, top-K and hits of a chunk of score rows in one pass.

``torch.topk`` costs about as much as the score product itself on small catalogues (it
copies every row into (value, index) pairs and partially sorts them), so on the CPU a
compiled kernel (numba, no GIL; blocks of rows taken by torch's own OpenMP threads,
:mod:`.openmp`, else by a pool of this module's) does, per row:

1. sets the user's masked items to ``-inf`` (in place: the caller's buffer);
2. one vectorised pass: the elementwise maximum of ``group`` strided slices of the row
   (group ``t`` holds items ``t``, ``t + g``, ``t + 2g``, ...) and a NaN count;
3. a threshold ``low`` no larger than the row's K-th best score: the least of the maxima
   of K disjoint sets of groups (each set holds an item scoring at least ``low``), raised
   by splitting the groups that reach it into K sets again while each set would hold two;
4. collects, without branches, the items scoring at least ``low`` (about 2K on most
   rows, read only from the fewer than 2K groups whose maximum reaches it) and orders
   just those by one int64 key: the float's order bits, then the complement of the item id;
5. marks the listed items found in the user's relevant items (flagged in a byte per item).

Masked items never enter a list; a real ``-inf`` score does (ranked last, by id), told
apart from a masked item by a binary search in the user's masked items. NaN scores
are reported per row. The lists equal :func:`recbench.evaluation.ranker._exact_topk`'s
(tested); GPU tensors keep the torch path.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from recbench.evaluation.openmp import (fetch_add, float32_at, int64_at, on_own_threads,
                                        torch_parallel, uint8_at)

#: strided items per group of the first pass; a row narrower than ``MIN_GROUPS`` groups
#: of this size uses smaller groups (down to 1: every item its own group)
GROUP = 16
MIN_GROUPS = 200

_NEG_INF = np.float32(-np.inf)

#: rows a thread takes at a time from the chunk (threads take blocks until none is left)
BLOCK = 16


@numba.njit(cache=True, nogil=True, inline="always")
def _contains(sorted_ids, lo, hi, j):
    """Whether ``j`` is in ``sorted_ids[lo:hi]`` (ascending); a binary search whose steps
    depend only on ``hi - lo`` (conditional moves, no mispredicted branches)."""
    n = hi - lo
    if n == 0:
        return False
    while n > 1:
        half = n >> 1
        lo = lo + half if sorted_ids[lo + half] <= j else lo
        n -= half
    return sorted_ids[lo] == j


@numba.njit(cache=True, nogil=True, inline="always")
def _masked(seen_ptr, seen_idx, r, j):
    """Whether item ``j`` is among row ``r``'s masked items (in any part)."""
    for q in range(seen_ptr.shape[0]):
        if _contains(seen_idx, seen_ptr[q, r], seen_ptr[q, r + 1], j):
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _rank_rows(scores, seen_ptr, seen_idx, truth_ptr, truth_idx, group, next_row,
               items, filled_out, hits, nan_rows):
    """Rows of :func:`rank_chunk` (the steps: this module's docstring), :data:`BLOCK` at a
    time, taken with the atomic counter ``next_row[0]`` (shared by every thread ranking
    the chunk) until none is left; the scratch arrays are made once per thread."""
    rows, n = scores.shape
    k = items.shape[1]
    g = n // group
    whole = g * group
    best = np.empty(g, np.float32)
    cand_best = np.empty(g, np.float32)
    set_max = np.empty(k, np.float32)
    top = np.empty(k, np.int64)
    cand_groups = np.empty(g, np.int64)
    keys = np.empty(n, np.int64)
    relevant = np.zeros(n, np.bool_)
    counter = int64_at(next_row.ctypes.data)
    while True:
        first = fetch_add(counter, BLOCK)
        if first >= rows:
            return
        for r in range(first, min(first + BLOCK, rows)):
            row = scores[r]
            bits = row.view(np.int32)
            for q in range(seen_ptr.shape[0]):
                for p in range(seen_ptr[q, r], seen_ptr[q, r + 1]):
                    row[seen_idx[p]] = _NEG_INF
            n_nan = 0
            best[:] = row[:g]
            for i in range(group):
                part = row[i * g:(i + 1) * g]
                for t in range(g):
                    v, b = part[t], best[t]
                    best[t] = v if v > b else b  # NaN never wins here: counted instead
                    n_nan += v != v
            for j in range(whole, n):
                n_nan += row[j] != row[j]
            nan_rows[r] = n_nan > 0
            # low: the least of the maxima of k disjoint sets of groups (each set holds an
            # item >= low, so k items do); with fewer than k groups, -inf: every item. The
            # groups reaching it are split into k sets again while each set would hold two
            # or more of them: low rises towards the K-th best group maximum, and fewer
            # items are read and ordered below
            m, low = g, _NEG_INF
            source = best  # the first round reads the maxima of every group in place
            while m >= 2 * k:
                sets = m // k  # sets t, t + k, t + 2k, ...: one vectorised max per stride
                set_max[:] = source[:k]
                for i in range(1, sets):
                    part = source[i * k:(i + 1) * k]
                    for t in range(k):
                        v, b = part[t], set_max[t]
                        set_max[t] = v if v > b else b
                low = set_max.min()
                kept = 0
                for c in range(m):
                    v = source[c]
                    cand_groups[kept] = c if m == g else cand_groups[c]
                    cand_best[kept] = v
                    kept += v >= low
                if kept == m:
                    break  # ties (or -inf): no group left behind, and none would be later
                m, source = kept, cand_best
            if m == g:
                for t in range(g):
                    cand_groups[t] = t
            n_keys = 0
            for c in range(m):
                t = cand_groups[c]
                for i in range(group):
                    j = t + i * g
                    keys[n_keys] = j
                    n_keys += row[j] >= low
            for j in range(whole, n):
                keys[n_keys] = j
                n_keys += row[j] >= low
            filled = 0
            for c in range(n_keys):
                j = keys[c]
                if row[j] == _NEG_INF and _masked(seen_ptr, seen_idx, r, j):
                    continue  # a masked item (its score was set to -inf above)
                b = bits[j] if row[j] != 0 else 0  # -0.0 ties with 0.0
                key = (np.int64(b ^ ((b >> 31) & 0x7FFFFFFF)) << 32) | (n - 1 - j)
                keys[filled] = key
                filled += 1
            # the k largest keys, largest first (insertion over the few candidates)
            kept = 0
            for c in range(filled):
                key = keys[c]
                if kept == k and key <= top[k - 1]:
                    continue
                pos = kept if kept < k else k - 1
                if kept < k:
                    kept += 1
                while pos > 0 and top[pos - 1] < key:
                    top[pos] = top[pos - 1]
                    pos -= 1
                top[pos] = key
            its = items[r]
            for p in range(kept):
                its[p] = n - 1 - (top[p] & 0xFFFFFFFF)
            for p in range(kept, k):
                its[p] = 0
            filled_out[r] = kept
            # hits: the user's relevant items flagged in a byte per item, read, then cleared
            for p in range(truth_ptr[0, r], truth_ptr[0, r + 1]):
                relevant[truth_idx[p]] = True
            for p in range(kept):
                hits[r, p] = relevant[its[p]]
            for p in range(truth_ptr[0, r], truth_ptr[0, r + 1]):
                relevant[truth_idx[p]] = False


# the team's arguments: one int64 array of sizes and addresses, in this order
(_NEXT, _ROWS, _ITEMS, _SCORES, _PARTS, _SEEN_PTR, _N_SEEN, _SEEN_IDX, _TRUTH_PTR, _N_TRUTH,
 _TRUTH_IDX, _GROUP, _K, _OUT_ITEMS, _OUT_FILLED, _OUT_HITS, _OUT_NAN, _N_ARGS) = range(18)


@numba.cfunc(numba.types.void(numba.types.CPointer(numba.types.int64)), cache=True)
def _team(a):
    """One OpenMP thread's share of :func:`rank_chunk` (:func:`_rank_rows` on the arrays
    whose addresses ``a`` holds; its counter is ``a[_NEXT]``)."""
    rows, n, k = a[_ROWS], a[_ITEMS], a[_K]
    scores = numba.carray(float32_at(a[_SCORES]), (rows, n))
    seen_ptr = numba.carray(int64_at(a[_SEEN_PTR]), (a[_PARTS], rows + 1))
    seen_idx = numba.carray(int64_at(a[_SEEN_IDX]), (a[_N_SEEN],))
    truth_ptr = numba.carray(int64_at(a[_TRUTH_PTR]), (1, rows + 1))
    truth_idx = numba.carray(int64_at(a[_TRUTH_IDX]), (a[_N_TRUTH],))
    items = numba.carray(int64_at(a[_OUT_ITEMS]), (rows, k))
    filled = numba.carray(int64_at(a[_OUT_FILLED]), (rows,))
    hits = numba.carray(uint8_at(a[_OUT_HITS]), (rows, k)).view(np.bool_)
    nan = numba.carray(uint8_at(a[_OUT_NAN]), (rows,)).view(np.bool_)
    next_row = numba.carray(a, (1,))  # a[_NEXT] is a[0]
    _rank_rows(scores, seen_ptr, seen_idx, truth_ptr, truth_idx, a[_GROUP], next_row, items,
               filled, hits, nan)


#: run the rows on torch's OpenMP threads when its runtime is found (:mod:`.openmp`);
#: False: on a pool of this module's own (also where torch's backend is not OpenMP)
ON_TORCH_THREADS = True


def group_size(n_items: int) -> int:
    """Strided items per group for rows of ``n_items`` (:data:`GROUP` when the row holds
    at least :data:`MIN_GROUPS` groups of it, else smaller)."""
    group = GROUP
    while group > 1 and n_items // group < MIN_GROUPS:
        group //= 2
    return group


def rank_chunk(scores: np.ndarray, seen_ptr: np.ndarray, seen_idx: np.ndarray,
               truth_ptr: np.ndarray, truth_idx: np.ndarray, k: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mask, rank and mark hits of a chunk of ``B`` users.

    Args:
        scores: ``(B, n_items) float32`` C-contiguous; masked items are set to ``-inf``
            in place.
        seen_ptr, seen_idx: the masked items, in parts (train, valid, ...): row ``r``'s
            items of part ``q`` are ``seen_idx[seen_ptr[q, r]:seen_ptr[q, r + 1]]``,
            ascending; ``seen_ptr`` is ``(P, B + 1) int64``, ``seen_idx`` ``int64``.
        truth_ptr, truth_idx: the relevant items, likewise (``(1, B + 1)``).
        k: list length, ``1 <= k <= n_items``.

    Returns:
        ``(items (B, k) int64, valid (B, k) bool, hits (B, k) bool, nan (B,) bool)``:
        lists by score, ties by lower item id; ``valid`` is False past the end of a list
        that ran out of unmasked items (its ids there are 0); ``nan``: rows with an
        unmasked NaN score.
    """
    rows, n_items = scores.shape
    items = np.empty((rows, k), np.int64)
    filled = np.empty(rows, np.int64)
    hits = np.zeros((rows, k), np.bool_)
    nan = np.empty(rows, np.bool_)
    group = group_size(n_items)
    outs = (items, filled, hits, nan)
    threads = min(torch.get_num_threads(), max(1, rows // 64))
    launch = torch_parallel() if ON_TORCH_THREADS else None
    if threads > 1 and launch is not None:  # raw addresses: C-contiguous, of its dtype
        if scores.dtype != np.float32 or not scores.flags.c_contiguous:
            raise ValueError("scores must be C-contiguous float32")
        seen_ptr, seen_idx, truth_ptr, truth_idx = (np.ascontiguousarray(x, np.int64) for x in (
            seen_ptr, seen_idx, truth_ptr, truth_idx))
        a = np.zeros(_N_ARGS, np.int64)
        a[_ROWS], a[_ITEMS], a[_K], a[_GROUP] = rows, n_items, k, group
        a[_PARTS], a[_N_SEEN], a[_N_TRUTH] = len(seen_ptr), len(seen_idx), len(truth_idx)
        for at, array in ((_SCORES, scores), (_SEEN_PTR, seen_ptr), (_SEEN_IDX, seen_idx),
                          (_TRUTH_PTR, truth_ptr), (_TRUTH_IDX, truth_idx), (_OUT_ITEMS, items),
                          (_OUT_FILLED, filled), (_OUT_HITS, hits), (_OUT_NAN, nan)):
            a[at] = array.ctypes.data
        launch(_team.address, a.ctypes.data, threads, 0)
    else:  # this thread alone, or the module's pool: each takes blocks until none is left
        args = (scores, seen_ptr, seen_idx, truth_ptr, truth_idx, group,
                np.zeros(1, np.int64), *outs)
        if threads == 1:
            _rank_rows(*args)
        else:
            on_own_threads(_rank_rows, [args] * threads)
    valid = np.arange(k) < filled[:, None]
    return items, valid, hits, nan
