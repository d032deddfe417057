"""`recbench evaluate` on TREC files agrees with pytrec-eval-terrier to 1e-6."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recbench.cli import main
from tests.test_metrics import pytrec_per_user

KS = (1, 5, 10, 100)
METRICS = [f"{m}@{k}" for m in ("precision", "recall", "ndcg", "map", "mrr", "hit", "f1") for k in KS]


def write_trec(tmp_path, seed: int):
    """Random qrels and run with tied scores, string doc ids, queries missing from the run,
    a query without relevant docs, graded relevance and judged non-relevant docs."""
    rng = np.random.default_rng(seed)
    docs = [f"d{j:03d}" for j in range(60)]
    qrels, run = {}, {}
    qrel_lines, run_lines = [], []
    for q in range(40):
        qid = f"q{q}"
        judged = rng.choice(docs, size=rng.integers(1, 12), replace=False)
        rels = rng.integers(0, 3, size=len(judged)) if q != 0 else np.zeros(len(judged), int)
        qrels[qid] = {d: int(r) for d, r in zip(judged, rels)}
        qrel_lines += [f"{qid} 0 {d} {r}" for d, r in zip(judged, rels)]
        if q % 9 == 5:
            continue  # missing from the run: scores 0
        retrieved = rng.choice(docs, size=rng.integers(1, 50), replace=False)
        scores = rng.integers(0, 8, size=len(retrieved)) / 2.0  # many ties
        run[qid] = {d: float(s) for d, s in zip(retrieved, scores)}
        run_lines += [f"{qid} Q0 {d} {rank} {s} tag"
                      for rank, (d, s) in enumerate(zip(retrieved, scores), 1)]
    (tmp_path / "qrels.txt").write_text("\n".join(qrel_lines) + "\n")
    (tmp_path / "run.txt").write_text("\n".join(run_lines) + "\n")
    return qrels, run


@pytest.mark.parametrize("seed", [3, 4])
def test_evaluate_agrees_with_pytrec_eval(tmp_path, capsys, seed):
    qrels, run = write_trec(tmp_path, seed)
    rc = main(["evaluate", "--qrels", str(tmp_path / "qrels.txt"), "--run",
               str(tmp_path / "run.txt"), "--metrics", ",".join(METRICS)])
    assert rc == 0
    ours = json.loads(capsys.readouterr().out)
    # binary relevance, as recbench: rel > 0 counts as relevant (trec_eval does the same)
    queries = [q for q, docs in qrels.items() if any(r > 0 for r in docs.values())]
    binary = {q: {d: int(r > 0) for d, r in qrels[q].items()} for q in queries}
    oracle = pytrec_per_user(binary, {q: run[q] for q in queries if q in run}, KS)
    assert "q0" not in queries and any(q not in run for q in queries)
    for name in METRICS:
        expected = float(np.mean([oracle[name][q] for q in queries]))
        assert ours[name] == pytest.approx(expected, abs=1e-6), name


def test_scores_compare_as_trec_eval_floats_and_duplicates_are_refused(tmp_path, capsys):
    (tmp_path / "qrels.txt").write_text("q 0 b 1\n")
    # equal as C floats (trec_eval), so the tie goes to the larger docid: b first
    (tmp_path / "run.txt").write_text("q Q0 a 1 1.0000000001 t\nq Q0 b 2 1.0 t\n")
    assert main(["evaluate", "--qrels", str(tmp_path / "qrels.txt"), "--run",
                 str(tmp_path / "run.txt"), "--metrics", "precision@1"]) == 0
    assert json.loads(capsys.readouterr().out) == {"precision@1": 1.0}
    (tmp_path / "run.txt").write_text("q Q0 a 1 3 t\nq Q0 a 2 2 t\nq Q0 b 3 1 t\n")
    assert main(["evaluate", "--qrels", str(tmp_path / "qrels.txt"), "--run",
                 str(tmp_path / "run.txt")]) == 2
    assert "doc 'a' appears twice for query 'q'" in capsys.readouterr().err


def test_evaluate_bad_input_is_one_line(tmp_path, capsys):
    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\nq1 0 d2\n")
    (tmp_path / "run.txt").write_text("q1 Q0 d1 1 0.5 t\n")
    assert main(["evaluate", "--qrels", str(tmp_path / "qrels.txt"), "--run",
                 str(tmp_path / "run.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "qrels.txt:2" in err and "expected 4 columns" in err
    assert main(["evaluate", "--qrels", str(tmp_path / "nope.txt"), "--run",
                 str(tmp_path / "run.txt")]) == 2
    assert "qrels file not found" in capsys.readouterr().err
    assert main(["evaluate", "--qrels", str(tmp_path / "qrels.txt"), "--run",
                 str(tmp_path / "run.txt"), "--metrics", "ndgc@10"]) == 2
    assert "Did you mean 'ndcg'" in capsys.readouterr().err


def test_beyond_accuracy_metrics_of_a_trec_run_match_the_evaluator(tmp_path, capsys):
    """The same lists scored twice: by `recbench evaluate --train` from TREC files and by
    the run evaluator (no files, item indices instead of doc ids)."""
    import scipy.sparse as sp
    import torch

    from recbench.evaluation.popularity import ItemStats
    from recbench.evaluation.suite import evaluate_suite

    rng = np.random.default_rng(7)
    n_users, n_items, k = 50, 30, 10
    dense = rng.random((n_users, n_items)) < rng.random(n_items) * 0.6
    dense[0] = True  # every item has a train user: the catalogues are the same
    train = sp.csr_matrix(dense, dtype=np.float32)
    test = sp.csr_matrix((rng.random((n_users, n_items)) < 0.2) & (train.toarray() == 0),
                         dtype=np.float32)
    scores = rng.normal(size=(n_users, n_items)).astype(np.float32)
    names = [f"{m}@{c}" for m in ("ndcg", "arp", "aplt", "aclt", "epc", "novelty", "ild",
                                  "coverage", "gini", "entropy", "poprsp", "popreo")
             for c in (3, k)]
    suite = evaluate_suite(lambda u: torch.from_numpy(scores[u.numpy()]), test, [train],
                           names, 16, ItemStats.from_train(train, item_vectors="interactions"))
    masked = np.where(train.toarray() > 0, -np.inf, scores)
    lines = []
    for u in range(n_users):
        top = np.argsort(-masked[u], kind="stable")[:k]
        lines += [f"u{u} Q0 i{i:02d} {r + 1} {k - r} tag" for r, i in enumerate(top)
                  if np.isfinite(masked[u, i])]
    (tmp_path / "run.txt").write_text("\n".join(lines) + "\n")
    for name, matrix in (("train", train), ("qrels", test)):
        rows, cols = matrix.nonzero()
        (tmp_path / f"{name}.txt").write_text(
            "".join(f"u{r} 0 i{c:02d} 1\n" for r, c in zip(rows, cols)))
    assert main(["evaluate", "--qrels", str(tmp_path / "qrels.txt"), "--run",
                 str(tmp_path / "run.txt"), "--train", str(tmp_path / "train.txt"),
                 "--metrics", ",".join(names)]) == 0
    ours = json.loads(capsys.readouterr().out)
    expected = {m: float(np.mean(v)) for m, v in suite.per_user.items()} | suite.per_run
    for name in names + ["coverage_count@3"]:
        assert ours[name] == pytest.approx(expected[name], rel=1e-9, abs=1e-12), name


def test_beyond_accuracy_metrics_need_train(tmp_path, capsys):
    write_trec(tmp_path, 3)
    assert main(["evaluate", "--qrels", str(tmp_path / "qrels.txt"), "--run",
                 str(tmp_path / "run.txt"), "--metrics", "ndcg@10,gini@10"]) == 2
    err = capsys.readouterr().err
    assert "gini@10 need the train interactions: pass --train" in err and "Traceback" not in err
