"""Top-k neighbour selection (recbench.models.neighbours) against a brute-force sort: the
k largest positive entries per row off the diagonal, ties to the lower column."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbench.models.neighbours import blockwise_top_k, top_k_csr, top_k_rows


def brute_force(dense: np.ndarray, first: int, k: int) -> set:
    """``{(row item, column, value bits)}`` kept by the rule, one row at a time."""
    kept = set()
    for r, row in enumerate(dense):
        candidates = [(float(v), j) for j, v in enumerate(row) if v > 0 and j != first + r]
        for v, j in sorted(candidates, key=lambda t: (-t[0], t[1]))[:k]:
            kept.add((first + r, j, int(np.float32(v).view(np.uint32))))
    return kept


def as_set(rows, cols, vals) -> set:
    bits = np.asarray(vals, dtype=np.float32).view(np.uint32)
    return set(zip(np.asarray(rows).tolist(), np.asarray(cols).tolist(), bits.tolist()))


def tied_block(rng, rows: int, cols: int, density: float) -> np.ndarray:
    """float32 values from a handful of levels (ties everywhere), zeros and negatives."""
    levels = np.array([-1.0, 0.25, 1 / 3, 0.5, 2.0, np.inf, 1e-40, 3.4e38], dtype=np.float32)
    values = levels[rng.integers(0, len(levels), (rows, cols))]
    return np.where(rng.random((rows, cols)) < density, values, 0).astype(np.float32)


@pytest.mark.parametrize("k", [1, 2, 3, 7, 40])
@pytest.mark.parametrize("density", [0.05, 0.4, 1.0])
@pytest.mark.parametrize("kind", ["dense", "tensor", "sparse"])
def test_top_k_rows_matches_brute_force(k, density, kind):
    rng = np.random.default_rng(k * 100 + int(density * 10))
    dense = tied_block(rng, 23, 61, density)
    first = 17  # the block's rows are items 17..39: their own columns are never kept
    block = {"dense": dense, "tensor": torch.from_numpy(dense.copy()),
             "sparse": sp.csr_matrix(dense)}[kind]
    got = top_k_rows(block, first, k)
    assert as_set(*got) == brute_force(dense, first, k)
    assert len(got[0]) == len(as_set(*got))  # no entry twice
    assert (np.diff(got[0]) >= 0).all()  # rows in order
    if kind == "tensor":
        assert torch.equal(block, torch.from_numpy(dense))  # the block is left as it was


def test_rows_of_every_length_around_k():
    """Rows of 0 .. 3k entries, all tied: each keeps its min(len, k) lowest columns."""
    k, n = 5, 64
    dense = np.zeros((16, n), dtype=np.float32)
    for r in range(16):
        dense[r, n - 1 - np.arange(r)] = 0.5  # r entries, highest columns first
    indptr, indices, values = (sp.csr_matrix(dense).indptr, sp.csr_matrix(dense).indices,
                               sp.csr_matrix(dense).data)
    rows, cols, vals = top_k_csr(indptr, indices, values, k, n)
    for r in range(16):
        assert sorted(cols[rows == r]) == sorted(n - 1 - np.arange(r))[:k]
    assert (vals == 0.5).all()


def test_wide_blocks_keep_column_ids_and_value_bits():
    """2^31 columns: the packed key still holds the full column id and float bits."""
    n = 2 ** 31
    cols = np.array([[n - 1, 5, n - 2, 0], [n - 3, 1, 2, 3]], dtype=np.int64)
    vals = np.array([[1e-45, 3.4028235e38, 3.4028235e38, np.inf],
                     [0.1, 0.1, np.nextafter(np.float32(0.1), np.float32(1)), 0.1]],
                    dtype=np.float32)
    indptr = np.array([0, 4, 8])
    rows, got_cols, got_vals = top_k_csr(indptr, cols.ravel(), vals.ravel(), 2, n)
    assert rows.tolist() == [0, 0, 1, 1]
    assert sorted(zip(rows, got_cols, got_vals.tolist())) == sorted(
        [(0, 0, np.inf), (0, 5, float(vals[0, 1])), (1, 2, float(vals[1, 2])), (1, 1, float(vals[1, 1]))])
    with pytest.raises(ValueError, match="do not fit a 64-bit key"):
        top_k_csr(indptr, cols.ravel(), vals.ravel(), 2, 2 ** 40)


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("k,block_size", [(1, 1), (3, 4), (10, 7), (50, 100)])
def test_blockwise_top_k_is_the_rule_on_the_whole_matrix(transpose, sparse, k, block_size):
    rng = np.random.default_rng(k + block_size)
    n = 37
    full = tied_block(rng, n, n, 0.5)

    def block(start, stop):
        rows = full[start:stop]
        return sp.csr_matrix(rows) if sparse else torch.from_numpy(rows.copy())

    matrix = blockwise_top_k(n, k, block_size, block, transpose=transpose)
    assert matrix.format == "csr" and matrix.dtype == np.float32 and matrix.shape == (n, n)
    assert matrix.has_canonical_format
    expected = brute_force(full, 0, k)
    coo = (matrix.T if transpose else matrix).tocoo()
    assert as_set(coo.row, coo.col, coo.data) == expected
    checked = matrix.copy()
    checked.has_sorted_indices = False
    checked.sort_indices()  # already sorted: the arrays do not move
    assert np.array_equal(checked.indices, matrix.indices)


def test_blockwise_top_k_of_nothing():
    empty = blockwise_top_k(4, 0, 2, lambda start, stop: None)
    assert empty.shape == (4, 4) and empty.nnz == 0 and empty.dtype == np.float32
    zeros = blockwise_top_k(4, 3, 2, lambda start, stop: sp.csr_matrix((stop - start, 4)))
    assert zeros.nnz == 0 and zeros.dtype == np.float32
