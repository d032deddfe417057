"""Per-user beyond-accuracy metrics of top-K lists: popularity bias, novelty, diversity.

Inputs (one chunk of users):
    items: ``(B, K_max) int64`` ranked item indices.
    valid: ``(B, K_max) bool``, False past the end of a list that ran out of candidates.
    hits: ``(B, K_max) bool`` relevance of each position (EPC only).
    stats: :class:`recbench.evaluation.popularity.ItemStats` of the split's train part.

``L`` below is the user's list cut at K, ``n = |L|`` its length (``min(K, candidates)``:
K larger than the catalogue gives shorter lists, and means are over the items listed).
Every value is 0 for an empty list. ``pop``, ``U = stats.n_train_users`` and the long tail
are defined in :mod:`recbench.evaluation.popularity`.

    arp@K      sum_{i in L} pop(i) / n  (average recommendation popularity; Abdollahpouri
               et al.; Elliot's ARP, RecBole's AveragePopularity)
    aplt@K     |L ∩ tail| / n  (average percentage of long tail; RecBole's TailPercentage)
    aclt@K     |L ∩ tail|  (average coverage of long tail: a count)
    epc@K      sum_r rel(r) disc(r) (1 - pop(i_r) / U) / sum_r disc(r), disc(r) =
               1 / log2(r + 2) over the listed positions (Vargas & Castells' expected
               popularity complement, rank-discounted and relevance-aware, as Elliot's EPC)
    novelty@K  mean over L of -log2(max(pop(i), 1) / U) (self-information; an item never
               seen in training counts as seen once, so the value stays finite)
    ild@K      mean over the n(n-1)/2 pairs of L of 1 - cos(v_i, v_j); 0 for n < 2. A pair
               with a zero vector has cosine 0 (distance 1).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recbench.evaluation.popularity import ItemStats, distinct_items
from recbench.evaluation.registry import REGISTRY, parse_metric


def list_metrics(items: torch.Tensor, valid: torch.Tensor, hits: torch.Tensor,
                 stats: ItemStats, names: list[str]) -> dict[str, torch.Tensor]:
    """Every ``list`` metric in ``names`` (e.g. ``["arp@10", "ild@20"]``) per user.

    Returns:
        ``{name: (B,) float64}``.
    """
    parsed = [parse_metric(n) for n in names]
    if any(REGISTRY[m].kind != "list" for m, _ in parsed):
        raise ValueError(f"list_metrics computes per-user list metrics only, got {names}")
    k_list = items.shape[1]
    pop = torch.from_numpy(stats.popularity.astype(np.float64))
    users = max(stats.n_train_users, 1)
    v = valid.to(torch.float64)
    listed_pop = pop[items] * v
    in_tail = torch.from_numpy(stats.tail)[items].to(torch.float64) * v
    self_info = -torch.log2(pop.clamp(min=1.0) / users)[items] * v
    disc = 1.0 / torch.log2(torch.arange(k_list, dtype=torch.float64) + 2.0)
    gain = hits.to(torch.float64) * disc * (1.0 - listed_pop / users) * v
    cum = {key: x.cumsum(1) for key, x in (("n", v), ("pop", listed_pop), ("tail", in_tail),
                                          ("info", self_info), ("gain", gain),
                                          ("disc", disc * v))}
    ild_ks = sorted({k for m, k in parsed if m == "ild"})
    ild = intra_list_diversity(items, valid, stats.vectors, ild_ks, stats.cosines()) \
        if ild_ks else {}
    out = {}
    for name, (metric, k) in zip(names, parsed):
        at = min(k, k_list) - 1

        def mean(key: str) -> torch.Tensor:
            return cum[key][:, at] / cum["n"][:, at].clamp(min=1.0)

        if metric == "arp":
            out[name] = mean("pop")
        elif metric == "aplt":
            out[name] = mean("tail")
        elif metric == "aclt":
            out[name] = cum["tail"][:, at].clone()
        elif metric == "novelty":
            out[name] = mean("info")
        elif metric == "epc":
            out[name] = cum["gain"][:, at] / cum["disc"][:, at].clamp(min=1e-300)
        else:  # ild
            out[name] = ild[min(k, k_list)]
    return out


def intra_list_diversity(items: torch.Tensor, valid: torch.Tensor, vectors: sp.csr_matrix,
                         ks: list[int], cosines: np.ndarray | None = None
                         ) -> dict[int, torch.Tensor]:
    """ILD of each row's list cut at every K of ``ks``: mean pairwise ``1 - cos`` of the
    listed items' unit vectors.

    With ``cosines`` (every item pair's, :meth:`ItemStats.cosines`) a list's pairs are
    read from it when the chunk's pairs are fewer than its listed vectors' nonzeros
    (interaction vectors). Otherwise two exact ways to the sum of a list's pairwise
    cosines, the cheaper one taken per chunk:
    from the Gram matrix of the items listed in the chunk (cost: the squared number of
    listed items per vector dimension; cheap when few items are listed, e.g. MostPop), or
    from each list's summed vector, ``sum_{i<j} v_i.v_j = (|sum v|^2 - sum |v|^2) / 2``
    (cost: the nonzeros of the listed vectors; cheap when lists hold many different items).

    Args:
        items, valid: ``(B, K_max)`` lists and their validity (valid positions are a prefix).
        vectors: ``(n_items, d)`` L2-normalised rows.

    Returns:
        ``{K: (B,) float64}``; 0 where a list has fewer than two items.
    """
    b, k_max = items.shape
    ok = valid.numpy()
    ks = sorted({min(k, k_max) for k in ks})
    listed = items.numpy()[ok]
    listed_nnz = float(np.diff(vectors.indptr)[listed].sum())
    n = ok[:, :ks[-1]].sum(1)
    if cosines is not None and float((n * (n - 1) // 2).sum()) <= listed_nnz:
        # reading each pair's cosine beats summing the listed vectors' nonzeros (compiled:
        # numba loads in 0.2 s, which commands computing no ILD need not wait for)
        from recbench.evaluation.ild_cpu import pair_sums
        return _ild(pair_sums(cosines, items.numpy(), ok, ks), ok, ks)
    distinct, position = distinct_items(listed, vectors.shape[0])
    sub = vectors[distinct]
    dims = np.bincount(sub.indices, minlength=vectors.shape[1]).astype(np.float64)
    # not dims @ dims: a BLAS call on a long vector wakes OpenBLAS threads whose spinning
    # then steals the cores torch ranks the next chunk on (1.7x slower ranking, gowalla_m1)
    by_gram = float(np.square(dims).sum()) <= listed_nnz
    at = np.zeros(items.shape, dtype=np.int64)
    at[ok] = position
    if by_gram:
        gram = sp.csr_matrix(sub @ sub.T)
        gram.sort_indices()
        pair_sums = _pair_sums_gram(gram, at, ok, ks)
    else:
        pair_sums = _pair_sums_summed(sub, at, ok, ks)
    return _ild(pair_sums, ok, ks)


def _ild(pair_sums: dict[int, np.ndarray], ok: np.ndarray, ks: list[int]) -> dict[int, torch.Tensor]:
    """ILD per row and K from the sums of the list's pairwise cosines."""
    out = {}
    for k in ks:
        n = ok[:, :k].sum(1).astype(np.float64)
        pairs = n * (n - 1) / 2
        out[k] = torch.from_numpy(np.where(pairs > 0, 1.0 - pair_sums[k] / np.maximum(pairs, 1),
                                           0.0))
    return out


def _pair_sums_gram(gram, at: np.ndarray, ok: np.ndarray,
                    ks: list[int]) -> dict[int, np.ndarray]:
    """Per row and K, the sum of cosines over the pairs of the list, read from the sparse
    ``gram`` (``at``: each position's row and column of it)."""
    first, second = np.triu_indices(at.shape[1], 1)  # every pair r < s of list positions
    cos = np.asarray(gram[at[:, first].ravel(), at[:, second].ravel()])
    cos = cos.reshape(len(at), len(first)) * (ok[:, first] & ok[:, second])
    return {k: cos[:, second < k].sum(1) for k in ks}


def _pair_sums_summed(sub: sp.csr_matrix, at: np.ndarray, ok: np.ndarray,
                      ks: list[int]) -> dict[int, np.ndarray]:
    """Per row and K, the sum of cosines over the pairs of the list, from the list's summed
    vector (the K's lists extend each other: each adds its segment of positions)."""
    b = len(at)
    self_dots = np.asarray(sub.multiply(sub).sum(axis=1)).ravel()  # 1, or 0: zero vector
    summed = sp.csr_matrix((b, sub.shape[1]))
    own, previous, out = np.zeros(b), 0, {}
    for k in ks:
        v = ok[:, previous:k]
        rows = np.repeat(np.arange(b), v.sum(1))
        cols = at[:, previous:k][v]
        segment = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(b, sub.shape[0]))
        summed = sp.csr_matrix(summed + segment @ sub)
        own += np.bincount(rows, weights=self_dots[cols], minlength=b)
        row_of = np.repeat(np.arange(b), np.diff(summed.indptr))
        squared = np.bincount(row_of, weights=summed.data ** 2, minlength=b)
        out[k] = (squared - own) / 2
        previous = k
    return out
