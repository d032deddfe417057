"""Sparse top-k neighbour matrices built block by block (ItemKNN, RP3beta)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recbench.evaluation.ranker import _exact_topk, _float_topk


def top_k_rows(block: torch.Tensor, first: int, k: int) -> tuple[np.ndarray, ...]:
    """The ``k`` largest positive entries of each row of a block of an item-item matrix.

    Args:
        block: ``(rows, n_items)`` values of items ``first .. first + rows - 1`` (the
            diagonal entries are overwritten).
        first: item id of the block's first row (its own column is never kept).
        k: entries kept per row (ties: lower column id).

    Returns:
        ``(row_item, column_item, value)`` arrays of the kept entries.
    """
    own = torch.arange(first, first + block.shape[0])
    k = min(k, block.shape[1])
    block[own - first, own] = float("-inf")  # an item is never its own neighbour
    top, settled = _float_topk(block, k)
    values = block.gather(1, top)
    # only positive entries are kept: a tie at the cut matters only when it is positive
    # (most rows of sparse data end in zeros), and those rows take the exact ranking
    redo = torch.nonzero(~settled & (values[:, -1] > 0)).flatten()
    if len(redo):
        itself = torch.zeros(len(redo), block.shape[1], dtype=torch.bool)
        itself[torch.arange(len(redo)), own[redo]] = True
        top[redo] = _exact_topk(block[redo], itself, k)
        values[redo] = block[redo].gather(1, top[redo])
    keep = values > 0
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
