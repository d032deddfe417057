"""Chunked full ranking: score a chunk of users, mask seen items, take the top K.

Memory is bounded by ``chunk_size * n_items`` (a few dense tensors per chunk); the full
``n_users x n_items`` score matrix is never materialised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from recbench.evaluation.metrics import parse_metric, per_user_metrics

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


def _row_positions(matrix: sp.csr_matrix, users: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(row-in-chunk, item) index pairs of the nonzeros of ``matrix[users]``."""
    sub = matrix[users]
    rows = np.repeat(np.arange(len(users)), np.diff(sub.indptr))
    return torch.from_numpy(rows), torch.from_numpy(sub.indices.astype(np.int64))


def topk_items(scores: torch.Tensor, masked: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` items per row, highest score first, ties broken by lower item id.

    Args:
        scores: ``(B, n_items) float32``.
        masked: ``(B, n_items) bool``; masked items never enter the list.
        k: list length; capped at ``n_items``.

    Returns:
        ``(items, valid)``: ``(B, k') int64`` item ids and ``(B, k') bool``, False where the
        list ran out of unmasked candidates.
    """
    n_items = scores.shape[1]
    k = min(k, n_items)
    s = scores.to(torch.float32).masked_fill(masked, float("-inf")) + 0.0  # -0.0 -> 0.0
    bits = s.view(torch.int32)
    ordered = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # int32 with the same order as the floats
    tiebreak = (n_items - 1) - torch.arange(n_items, dtype=torch.int64)
    key = ((ordered.to(torch.int64) << 32) | tiebreak).masked_fill(masked, torch.iinfo(torch.int64).min)
    items = key.topk(k, dim=1, sorted=True).indices
    return items, ~masked.gather(1, items)


def evaluate(score_fn: ScoreFn, truth: sp.csr_matrix, exclude: Sequence[sp.csr_matrix],
             metrics: Sequence[str], chunk_size: int = 1024) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Full-ranking evaluation of every user with at least one item in ``truth``.

    Args:
        score_fn: ``users (B,) int64 -> (B, n_items)`` float scores.
        truth: ``(n_users, n_items)`` binary relevant items (valid or test part).
        exclude: matrices of items to mask per user (train; train and valid when testing).
        metrics: names like ``"ndcg@10"``.
        chunk_size: users scored at once; bounds memory.

    Returns:
        ``(users, values)``: evaluated user indices ``(n,) int64`` and
        ``{metric: (n,) float64}`` per-user values.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    k_max = max(parse_metric(m)[1] for m in metrics)
    n_items = truth.shape[1]
    n_rel_all = np.diff(truth.indptr)
    users = np.flatnonzero(n_rel_all > 0).astype(np.int64)
    parts: dict[str, list[torch.Tensor]] = {m: [] for m in metrics}
    for start in range(0, len(users), chunk_size):
        chunk = users[start:start + chunk_size]
        with torch.no_grad():
            scores = score_fn(torch.from_numpy(chunk)).detach().to("cpu", torch.float32)
        if scores.shape != (len(chunk), n_items):
            raise ValueError(f"score_fn returned shape {tuple(scores.shape)}, "
                             f"expected {(len(chunk), n_items)}")
        if torch.isnan(scores).any():
            raise FloatingPointError("model produced NaN scores")
        masked = torch.zeros(len(chunk), n_items, dtype=torch.bool)
        for matrix in exclude:
            masked[_row_positions(matrix, chunk)] = True
        relevant = torch.zeros(len(chunk), n_items, dtype=torch.bool)
        relevant[_row_positions(truth, chunk)] = True
        items, valid = topk_items(scores, masked, k_max)
        hits = relevant.gather(1, items) & valid
        values = per_user_metrics(hits, torch.from_numpy(n_rel_all[chunk]), list(metrics))
        for m in metrics:
            parts[m].append(values[m])
    return users, {m: torch.cat(v).numpy() if v else np.zeros(0) for m, v in parts.items()}
