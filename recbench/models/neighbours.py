"""Sparse top-k neighbour matrices built block by block (ItemKNN, RP3beta)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recbench.evaluation.ranker import topk_items


def top_k_rows(block: torch.Tensor, first: int, k: int) -> tuple[np.ndarray, ...]:
    """The ``k`` largest positive entries of each row of a block of an item-item matrix.

    Args:
        block: ``(rows, n_items)`` values of items ``first .. first + rows - 1``.
        first: item id of the block's first row (its own column is never kept).
        k: entries kept per row (ties: lower column id).

    Returns:
        ``(row_item, column_item, value)`` arrays of the kept entries.
    """
    own = torch.arange(first, first + block.shape[0])
    itself = torch.zeros_like(block, dtype=torch.bool)
    itself[own - first, own] = True
    top, valid = topk_items(block, itself, k)
    values = block.gather(1, top)
    keep = valid & (values > 0)
    return own[:, None].expand(-1, k)[keep].numpy(), top[keep].numpy(), values[keep].numpy()


def assemble(rows: list, cols: list, vals: list, n: int) -> sp.csr_matrix:
    """``(n, n)`` CSR matrix from per-block entry arrays (empty lists: all zeros)."""
    if not vals:
        return sp.csr_matrix((n, n), dtype=np.float32)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, n))


def blockwise_top_k(n: int, k: int, block_size: int, block, transpose: bool = False
                    ) -> sp.csr_matrix:
    """``(n, n)`` sparse matrix of the ``k`` largest positive entries per row of a dense
    item-item matrix computed ``block_size`` rows at a time (memory ``block_size x n``).

    Args:
        block: ``(start, stop) -> (stop - start, n) float32`` rows ``start .. stop - 1``.
        transpose: store the kept entries of row i in column i instead (top-k per column).
    """
    rows, cols, vals = [], [], []
    for start in range(0, n, block_size) if k else ():
        own, other, value = top_k_rows(block(start, min(start + block_size, n)), start, k)
        rows.append(other if transpose else own)
        cols.append(own if transpose else other)
        vals.append(value)
    return assemble(rows, cols, vals, n)
