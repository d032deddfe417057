"""Sparse top-k neighbour matrices built block by block (ItemKNN, RP3beta).

The rule, for every row of an item-item matrix: keep its ``k`` largest positive entries
off the diagonal, ties at the cut going to the lower column id. Only the positive entries
of a block are handled (a sparse block's stored entries, a dense block's positive ones);
a row with more than ``k`` of them is ranked by one int64 key per entry that packs the
value's float bits above its column's complement, so a single ``torch.topk`` settles tied
values exactly: no slow path for ties, no Python loop over rows."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

_VALUE_BITS = 31  # a positive float32 (+inf included) is a 31-bit pattern, ordered as the floats


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(positions, offsets)``: ``starts[i] + 0 .. lengths[i] - 1`` for every i, one after
    the other, and each one's offset in its range."""
    firsts = np.cumsum(lengths) - lengths
    offsets = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(firsts, lengths)
    return np.repeat(starts, lengths) + offsets, offsets


def top_k_csr(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, k: int,
              n_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest entries of each row of a CSR block (ties: lower column id).

    A row with at most ``k`` entries keeps them all. Longer rows are ranked by one int64 key
    per entry, the value's float bits then the complement of its column, so one
    ``torch.topk`` settles ties exactly: rows of similar length (within a factor 2) share
    one padded ``(rows, longest)`` key matrix.

    Args:
        indptr, indices, values: the block's CSR arrays; every stored entry is a candidate
            (``values`` float32, all ``> 0``: positive and not NaN), columns in any order
            within a row, no column twice in a row.
        k: entries kept per row.
        n_cols: the block's number of columns (columns are ``< n_cols``).

    Returns:
        ``(row, column, value)`` of the kept entries, rows ascending (the entries of a row
        in no particular order).
    """
    counts = np.diff(indptr).astype(np.int64)
    n_rows = len(counts)
    col_bits = max(int(n_cols - 1).bit_length(), 1)
    if col_bits + _VALUE_BITS > 63:
        raise ValueError(f"top_k_csr: {n_cols} columns do not fit a 64-bit key")
    kept = np.minimum(counts, k)
    out_ptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(kept, out=out_ptr[1:])
    column = np.empty(out_ptr[-1], dtype=np.int64)
    value = np.empty(out_ptr[-1], dtype=np.float32)
    whole = np.flatnonzero(counts <= k)  # rows kept whole
    source, offsets = _ranges(indptr[whole].astype(np.int64), counts[whole])
    target = np.repeat(out_ptr[whole], counts[whole]) + offsets
    column[target], value[target] = indices[source], values[source]
    long = np.flatnonzero(counts > k)
    if len(long):
        low = np.int64((1 << col_bits) - 1)
        # bucket rows by the bit length of their count: padding at most doubles a bucket
        length_bits = np.frexp(counts[long].astype(np.float64))[1]
        for bits in np.unique(length_bits):
            rows = long[length_bits == bits]
            lengths = counts[rows]
            source, offsets = _ranges(indptr[rows].astype(np.int64), lengths)
            key = (values[source].view(np.uint32).astype(np.int64) << col_bits) | (
                low - indices[source].astype(np.int64))
            padded = np.full((len(rows), int(lengths.max())), -1, dtype=np.int64)
            padded[np.repeat(np.arange(len(rows)), lengths), offsets] = key
            top = torch.from_numpy(padded).topk(k, dim=1, sorted=False).values.numpy()
            target = (out_ptr[rows][:, None] + np.arange(k)).ravel()
            column[target] = low - (top.ravel() & low)
            value[target] = (top.ravel() >> col_bits).astype(np.uint32).view(np.float32)
    return np.repeat(np.arange(n_rows, dtype=np.int64), kept), column, value


def _candidates(block, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """CSR arrays ``(indptr, indices, values)`` of the positive off-diagonal entries of a
    block (dense ``(rows, n)`` tensor / array, or a scipy sparse matrix whose unstored
    entries are zeros), and its number of columns."""
    n_rows, n_cols = block.shape
    if sp.issparse(block):
        block = sp.csr_matrix(block)
        counts = np.diff(block.indptr)
        row = np.repeat(np.arange(n_rows, dtype=np.int64), counts)
        column = block.indices.astype(np.int64, copy=False)
        values = np.asarray(block.data, dtype=np.float32)
        keep = (values > 0) & (column != row + first)  # never an item's own neighbour
        row, column, values = row[keep], column[keep], values[keep]
    else:
        dense = torch.as_tensor(block).to(torch.float32)
        positive = dense > 0
        own = torch.arange(first, first + n_rows)
        inside = own < n_cols
        positive[torch.arange(n_rows)[inside], own[inside]] = False
        row, column = torch.nonzero(positive, as_tuple=True)  # row-major: rows grouped
        values = dense[row, column].numpy()
        row, column = row.numpy(), column.numpy()
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=n_rows), out=indptr[1:])
    return indptr, column, np.ascontiguousarray(values, dtype=np.float32), n_cols


def top_k_rows(block, first: int, k: int) -> tuple[np.ndarray, ...]:
    """The ``k`` largest positive entries of each row of a block of an item-item matrix.

    Args:
        block: ``(rows, n_items)`` values of items ``first .. first + rows - 1``: a dense
            float tensor or array, or a scipy sparse matrix (its unstored entries are
            zeros, so never kept).
        first: item id of the block's first row (its own column is never kept).
        k: entries kept per row (ties: lower column id).

    Returns:
        ``(row_item, column_item, value)`` arrays of the kept entries.
    """
    indptr, indices, values, n_cols = _candidates(block, first)
    row, column, value = top_k_csr(indptr, indices, values, min(k, n_cols), n_cols)
    return row + first, column, value


def assemble(own: np.ndarray, other: np.ndarray, value: np.ndarray, n: int,
             transpose: bool = False) -> sp.csr_matrix:
    """``(n, n)`` CSR matrix (canonical: sorted indices, no duplicates) holding ``value`` at
    ``(own, other)`` (``(other, own)`` with ``transpose``); ``own`` ascending, no position
    twice."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(own, minlength=n), out=indptr[1:])
    by_own = sp.csr_matrix((value.astype(np.float32, copy=False), other, indptr), shape=(n, n))
    # CSR -> CSC lays each row's (column's) entries out in ascending order
    matrix = by_own.T.tocsr() if transpose else by_own.tocsc().tocsr()
    matrix.has_canonical_format = True
    return matrix


def blockwise_top_k(n: int, k: int, block_size: int, block, transpose: bool = False
                    ) -> sp.csr_matrix:
    """``(n, n)`` sparse matrix of the ``k`` largest positive entries per row (ties: lower
    column id, the diagonal never) of an item-item matrix computed ``block_size`` rows at a
    time.

    Args:
        block: ``(start, stop) -> (stop - start, n)`` rows ``start .. stop - 1``: a dense
            float32 tensor (memory ``block_size x n``) or a scipy sparse matrix whose stored
            entries are the candidates, no position twice (memory: its nonzeros).
        transpose: store the kept entries of row i in column i instead (top-k per column).
    """
    parts = [top_k_rows(block(start, min(start + block_size, n)), start, k)
             for start in (range(0, n, block_size) if k else ())]
    if not parts:
        return sp.csr_matrix((n, n), dtype=np.float32)
    own, other, value = (np.concatenate(p) for p in zip(*parts))
    return assemble(own, other, value, n, transpose)
