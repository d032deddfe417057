"""Top-K ranking metrics as pure functions of per-user hit matrices.

Inputs everywhere:
    hits: ``(n_users, K_max) bool`` — ``hits[u, r]`` is True when the item ranked at
        position ``r`` (0-based) for user ``u`` is relevant. Positions past the end of a
        short list (fewer candidates than ``K_max``) are False.
    n_rel: ``(n_users,)`` number of relevant (test) items of each user, all ``>= 1``.

Definitions (binary relevance; they match trec_eval, checked against pytrec-eval-terrier):
    precision@K  hits in top K / K  (trec_eval ``P_K``: divides by K even if the list is shorter)
    recall@K     hits in top K / n_rel  (trec_eval ``recall_K``)
    ndcg@K       sum_{r<K} hit_r / log2(r+2), divided by the ideal DCG of
                 ``min(K, n_rel)`` hits  (trec_eval ``ndcg_cut_K``)
    map@K        sum_{r<K} hit_r * precision@(r+1), divided by n_rel  (trec_eval
                 ``map_cut_K``). RecBole's MAP@K divides by ``min(K, n_rel)`` instead, so
                 its values are larger whenever ``n_rel > K``.
    mrr@K        1 / (rank of the first hit), 0 if no hit in the top K (trec_eval
                 ``recip_rank`` on the list cut at K)
    hit@K        1 if any hit in the top K, else 0 (HitRate; trec_eval ``success``)
    f1@K         2 P R / (P + R) with P = precision@K and R = recall@K, 0 when both are 0
"""

from __future__ import annotations

import torch

from recbench.evaluation.registry import ACCURACY, parse_metric

METRICS = ACCURACY  #: the accuracy metrics computed here (the others: registry.BEYOND)


def per_user_metrics(hits: torch.Tensor, n_rel: torch.Tensor,
                     names: list[str]) -> dict[str, torch.Tensor]:
    """Compute every metric in ``names`` (e.g. ``["ndcg@10", "recall@20"]``) per user.

    Returns:
        ``{name: (n_users,) float64}``.
    """
    parsed = [parse_metric(n) for n in names]
    if any(metric not in ACCURACY for metric, _ in parsed):
        raise ValueError(f"per_user_metrics computes accuracy metrics only, got {names}")
    k_max = max(k for _, k in parsed)
    if hits.shape[1] < k_max:
        hits = torch.nn.functional.pad(hits, (0, k_max - hits.shape[1]))
    h = hits[:, :k_max].to(torch.float64)
    n_rel = n_rel.to(torch.float64)
    ranks = torch.arange(1, k_max + 1, dtype=torch.float64)
    discount = 1.0 / torch.log2(ranks + 1.0)
    hits_cum = h.cumsum(1)
    dcg_cum = (h * discount).cumsum(1)
    idcg_cum = discount.cumsum(0)
    ap_cum = (h * hits_cum / ranks).cumsum(1)
    rr_cum = (h / ranks).cummax(1).values
    out = {}
    for name, (metric, k) in zip(names, parsed):
        hk = hits_cum[:, k - 1]
        if metric == "precision":
            v = hk / k
        elif metric == "recall":
            v = hk / n_rel
        elif metric == "ndcg":
            ideal = idcg_cum[(torch.clamp(n_rel, max=k) - 1).long()]
            v = dcg_cum[:, k - 1] / ideal
        elif metric == "map":
            v = ap_cum[:, k - 1] / n_rel
        elif metric == "mrr":
            v = rr_cum[:, k - 1]
        elif metric == "hit":
            v = (hk > 0).to(torch.float64)
        else:  # f1
            p, r = hk / k, hk / n_rel
            v = torch.where(p + r > 0, 2 * p * r / (p + r), torch.zeros_like(p))
        out[name] = v
    return out
