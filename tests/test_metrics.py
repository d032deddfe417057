"""Ranking metrics: hand-computed values and pytrec-eval-terrier as an independent oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytrec_eval
import scipy.sparse as sp
import torch

from recbench.errors import RecbenchError
from recbench.evaluation import evaluate, parse_metric, per_user_metrics

KS = (1, 3, 5, 10, 40)
NAMES = [f"{m}@{k}" for m in ("precision", "recall", "ndcg", "map", "mrr", "hit", "f1") for k in KS]


def test_hand_computed_single_user():
    # ranking: miss, hit, miss, hit, miss ; 3 relevant items in total
    hits = torch.tensor([[False, True, False, True, False]])
    v = {k: float(x[0]) for k, x in per_user_metrics(hits, torch.tensor([3]), [
        "precision@4", "recall@4", "ndcg@4", "map@4", "mrr@4", "hit@1", "hit@2", "f1@4",
        "ndcg@10"]).items()}
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    assert v["precision@4"] == pytest.approx(2 / 4)
    assert v["recall@4"] == pytest.approx(2 / 3)
    assert v["ndcg@4"] == pytest.approx(dcg / (1 + 1 / math.log2(3) + 1 / math.log2(4)))
    assert v["map@4"] == pytest.approx((1 / 2 + 2 / 4) / 3)
    assert v["mrr@4"] == pytest.approx(1 / 2)
    assert v["hit@1"] == 0 and v["hit@2"] == 1
    p, r = 2 / 4, 2 / 3
    assert v["f1@4"] == pytest.approx(2 * p * r / (p + r))
    # list shorter than K: precision still divides by K, ideal DCG uses min(K, n_rel)
    assert v["ndcg@10"] == pytest.approx(dcg / (1 + 1 / math.log2(3) + 1 / math.log2(4)))


def test_metric_names_are_checked():
    assert parse_metric("NDCG@10") == ("ndcg", 10)
    with pytest.raises(RecbenchError, match="Did you mean 'ndcg'"):
        parse_metric("ndgc@10")
    with pytest.raises(RecbenchError, match="<metric>@<k>"):
        parse_metric("ndcg10")
    with pytest.raises(RecbenchError, match="k must be >= 1"):
        parse_metric("ndcg@0")


def oracle_ranking(scores: np.ndarray, masked: np.ndarray) -> list[int]:
    """Independent ranking: unmasked items by score desc, ties by lower item id (plain sort)."""
    return sorted((i for i in range(len(scores)) if not masked[i]), key=lambda i: (-scores[i], i))


def pytrec_per_user(qrels: dict, run: dict, ks) -> dict[str, dict[str, float]]:
    """Our metric names -> {qid: value}, computed by trec_eval through pytrec_eval."""
    cut = ",".join(map(str, ks))
    measures = {f"P.{cut}", f"recall.{cut}", f"ndcg_cut.{cut}", f"map_cut.{cut}", "recip_rank",
                f"success.{cut}"}
    res = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    out: dict[str, dict[str, float]] = {}
    for q in qrels:
        r = res.get(q)
        for k in ks:
            if r is None:  # query absent from the run: every metric is 0
                vals = dict.fromkeys(("precision", "recall", "ndcg", "map", "mrr", "hit", "f1"), 0.0)
            else:
                p, rec = r[f"P_{k}"], r[f"recall_{k}"]
                rr = r["recip_rank"]
                vals = {"precision": p, "recall": rec, "ndcg": r[f"ndcg_cut_{k}"],
                        "map": r[f"map_cut_{k}"], "mrr": rr if rr >= 1 / k - 1e-12 else 0.0,
                        "hit": r[f"success_{k}"], "f1": 2 * p * rec / (p + rec) if p + rec else 0.0}
            for m, v in vals.items():
                out.setdefault(f"{m}@{k}", {})[q] = v
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_ranking_matches_pytrec_eval(seed):
    """Random scores with many ties, masked train items, users with fewer relevant items
    than K, and K (40) larger than the number of items (30)."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 50, 30
    scores = rng.integers(0, 6, size=(n_users, n_items)).astype(np.float32)  # ties everywhere
    train = sp.csr_matrix(rng.random((n_users, n_items)) < 0.3, dtype=np.float32)
    free = rng.random((n_users, n_items)) < 0.15
    test = sp.csr_matrix(free & (train.toarray() == 0), dtype=np.float32)

    users, ours = evaluate(lambda u: torch.from_numpy(scores[u.numpy()]), test, [train], NAMES,
                           chunk_size=7)
    qrels, run = {}, {}
    for u in users:
        rel = test[u].indices
        qrels[str(u)] = {str(i): 1 for i in rel}
        ranking = oracle_ranking(scores[u], train[u].toarray()[0] > 0)
        run[str(u)] = {str(i): float(n_items - pos) for pos, i in enumerate(ranking)}
    oracle = pytrec_per_user(qrels, run, KS)
    assert len(users) > 30 and any(test[u].nnz < 3 for u in users)
    for name in NAMES:
        expected = np.array([oracle[name][str(u)] for u in users])
        np.testing.assert_allclose(ours[name], expected, atol=1e-6, rtol=0, err_msg=name)
