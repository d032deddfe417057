"""Sampled ranking metrics (metrics.ranking=sampled), Krichene & Rendle's correction, model
order agreement and `recbench study sampled-vs-full` end to end."""

from __future__ import annotations

import math
from itertools import combinations, product

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from omegaconf import open_dict

from recbench.cli import main
from recbench.config import compose, config_hash, flatten, result_config, validate_sweep
from recbench.errors import RecbenchError
from recbench.evaluation.correction import (Corrector, correction_table, full_rank_values,
                                            rank_distribution)
from recbench.evaluation.registry import (ACCURACY, SampledRanking, display_name,
                                          parse_column, parse_metric, ranking_from_label,
                                          sampled_ranking)
from recbench.evaluation.ranker import ranked_chunks, seen_matrix
from recbench.evaluation.sampled import (FreeItems, draw_candidates, interacted, item_values,
                                         sampled_metrics, split_candidates, train_popularity)
from recbench.evaluation.suite import MetricSuite, evaluate_suite
from recbench.study.agreement import agreement, order
from tests.test_metrics import oracle_ranking, pytrec_per_user

UNIFORM = SampledRanking(100, "uniform")
NAMES = [f"{m}@{k}" for m in ACCURACY for k in (1, 3, 10)]


# ------------------------------------------------------------------------------ names
def test_sampled_metric_names_carry_their_protocol():
    assert UNIFORM.name("ndcg@10") == "s100u_ndcg@10" and UNIFORM.label == "sampled (100, uniform)"
    assert parse_metric("s100u_ndcg@10") == ("ndcg", 10)
    assert sampled_ranking("s100p_recall@5") == SampledRanking(100, "popularity")
    assert sampled_ranking("ndcg@10") is None and sampled_ranking("seeds") is None
    assert parse_column("S100U_NDCG@10.gender_gap") == ("s100u_ndcg@10", "gender_gap")
    assert display_name("s100u_ndcg@10") == "NDCG@10 sampled (100, uniform)"
    assert ranking_from_label("sampled (50, popularity)") == SampledRanking(50, "popularity")
    assert ranking_from_label("full") is None and ranking_from_label(None) is None
    with pytest.raises(RecbenchError, match="only accuracy metrics"):
        parse_metric("s100u_coverage@10")
    with pytest.raises(RecbenchError, match="sampler letter must be one of u, p"):
        parse_metric("s100x_ndcg@10")


# ------------------------------------------------------------------------- candidates
def toy(seed: int = 0, n_users: int = 40, n_items: int = 30):
    """Random integer scores (ties everywhere), train and test parts, every interaction."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, size=(n_users, n_items)).astype(np.float32)
    train = sp.csr_matrix(rng.random((n_users, n_items)) < 0.3, dtype=np.float32)
    test = sp.csr_matrix((rng.random((n_users, n_items)) < 0.15) & (train.toarray() == 0),
                         dtype=np.float32)
    seen = interacted_of(train, test)
    return scores, train, test, seen


def interacted_of(*parts) -> sp.csr_matrix:
    total = sp.csr_matrix(sum(parts), dtype=np.float32)
    total.data[:] = 1.0
    return total


def test_candidates_exclude_interactions_and_depend_on_split_and_settings_only(ml100k_split):
    split = ml100k_split
    first = split_candidates(split, UNIFORM, seed=0)
    again = split_candidates(split, UNIFORM, seed=0)  # another model, another run seed: same
    assert np.array_equal(first.items, again.items)
    seen = interacted(split).toarray() > 0
    items, drawn = first.items, first.n_drawn
    assert (drawn == np.minimum(100, first.n_free)).all() and drawn.min() == 100
    rows = np.repeat(np.arange(len(items)), drawn)
    chosen = items[items >= 0]
    assert not seen[rows, chosen].any()  # never an item the user interacted with
    assert all(len(set(r[r >= 0])) == len(r[r >= 0]) for r in items[:50])  # no repeats
    assert not np.array_equal(split_candidates(split, UNIFORM, seed=1).items, items)
    other = draw_candidates(interacted(split), UNIFORM, 0, "f" * 64)  # another split
    assert not np.array_equal(other.items, items)
    pop = train_popularity(split.train)
    by_pop = split_candidates(split, SampledRanking(100, "popularity"), seed=0)
    picked = by_pop.items[by_pop.items >= 0]
    assert (pop[picked] > 0).all() and not seen[np.repeat(np.arange(len(items)),
                                                          by_pop.n_drawn), picked].any()
    counts = np.bincount(picked, minlength=len(pop))
    assert np.corrcoef(counts, pop)[0, 1] > 0.9  # drawn in proportion to popularity
    assert pop[picked].mean() > 2 * pop[chosen].mean()


def test_fewer_free_items_than_n_draws_them_all():
    _, train, test, seen = toy(n_items=12)
    found = draw_candidates(seen, SampledRanking(50, "uniform"), 0, "0" * 64)
    free = 12 - np.diff(seen.indptr)
    assert (found.n_drawn == free).all() and (found.n_free == free).all()
    for u in range(seen.shape[0]):
        assert set(found.items[u][found.items[u] >= 0]) == set(np.flatnonzero(
            seen[u].toarray()[0] == 0))


def test_suite_candidates_come_from_the_split_not_the_model(ml100k_split):
    options = compose(["metrics.ranking=sampled"]).metrics
    metrics = [UNIFORM.name("ndcg@10")]
    one = MetricSuite.from_config(options, metrics, "ndcg@10", ml100k_split)
    two = MetricSuite.from_config(options, metrics, "ndcg@10", ml100k_split)
    assert np.array_equal(one.candidates[0].items, two.candidates[0].items)
    assert one.notes["ranking"] == "sampled (100, uniform)"


# ------------------------------------------------------------------------ sampled ranks
@pytest.mark.parametrize("seed", [0, 1])
def test_sampled_metrics_match_pytrec_eval_per_test_item(seed):
    """Each (user, test item) is one trec_eval query: the item and the user's candidates,
    ranked by score, ties by lower item id; a user's value is the mean over its items."""
    scores, train, test, seen = toy(seed)
    ranking = SampledRanking(8, "uniform")
    candidates = draw_candidates(seen, ranking, 3, "ab" * 32)
    result = evaluate_suite(lambda u: torch.from_numpy(scores[u.numpy()]), test, [train],
                            [ranking.name(m) for m in NAMES], chunk_size=7,
                            candidates=[candidates])
    qrels, run, owner = {}, {}, {}
    for u in result.users:
        for t in test[u].indices:
            docs = np.array([t, *candidates.items[u][candidates.items[u] >= 0]])
            masked = np.ones(scores.shape[1], bool)
            masked[docs] = False
            ranked = oracle_ranking(scores[u], masked)
            q = f"{u}:{t}"
            qrels[q] = {str(t): 1}
            run[q] = {str(i): float(len(ranked) - pos) for pos, i in enumerate(ranked)}
            owner[q] = u
    oracle = pytrec_per_user(qrels, run, (1, 3, 10))
    for name in NAMES:
        per_item = pd.Series(oracle[name]).groupby(pd.Series(owner)).mean()
        expected = per_item.reindex(result.users).to_numpy()
        np.testing.assert_allclose(result.per_user[ranking.name(name)], expected, atol=1e-9,
                                   err_msg=name)


def test_sampled_ranks_by_hand():
    """One user, test items 1 and 3, candidates 0, 2 and 4; scores tie items 1 and 2."""
    scores = np.array([[0.5, 0.7, 0.7, 0.9, 0.1]], dtype=np.float32)
    train = sp.csr_matrix((1, 5), dtype=np.float32)
    test = sp.csr_matrix(np.array([[0, 1, 0, 1, 0]], dtype=np.float32))
    ranking = SampledRanking(3, "uniform")
    candidates = draw_candidates(interacted_of(train, test), ranking, 0, "0" * 64)
    assert list(candidates.items[0]) == [0, 2, 4]
    result = evaluate_suite(lambda u: torch.from_numpy(scores[u.numpy()]), test, [train],
                            [ranking.name("mrr@10"), ranking.name("hit@1")],
                            candidates=[candidates])
    # item 1: only the tied item 2 has a higher id, so nothing ranks above it -> rank 1;
    # item 3 (0.9) -> rank 1: mrr = (1 + 1) / 2, hit@1 = 1
    assert result.per_user[ranking.name("mrr@10")][0] == 1.0
    scores[0, 1] = 0.6  # item 1 now below item 2 -> rank 2
    result = evaluate_suite(lambda u: torch.from_numpy(scores[u.numpy()]), test, [train],
                            [ranking.name("mrr@10"), ranking.name("hit@1")],
                            candidates=[candidates])
    assert result.per_user[ranking.name("mrr@10")][0] == pytest.approx((0.5 + 1) / 2)
    assert result.per_user[ranking.name("hit@1")][0] == pytest.approx(0.5)


def test_sampled_is_never_below_full_and_equals_it_with_every_item_drawn():
    scores, train, test, seen = toy(4)
    fn = lambda u: torch.from_numpy(scores[u.numpy()])  # noqa: E731
    for n in (5, 100):  # 100 > n_items: every free item drawn
        ranking = SampledRanking(n, "uniform")
        cands = draw_candidates(seen, ranking, 0, "1" * 64)
        got = evaluate_suite(fn, test, [train], NAMES + [ranking.name(m) for m in NAMES],
                             candidates=[cands], chunk_size=5)
        single = np.diff(test.indptr)[got.users] == 1
        for k in (1, 3, 10):
            full, sampled = got.per_user[f"recall@{k}"], got.per_user[ranking.name(f"recall@{k}")]
            assert (sampled >= full - 1e-12).all()
            assert (got.per_user[ranking.name(f"hit@{k}")][single]
                    >= got.per_user[f"hit@{k}"][single]).all()
        if n == 100:  # one test item per user: the sampled rank is the full rank
            for m in NAMES:
                np.testing.assert_allclose(got.per_user[ranking.name(m)][single],
                                           got.per_user[m][single], atol=1e-12, err_msg=m)


def test_chunk_size_changes_nothing():
    scores, train, test, seen = toy(5)
    cands = draw_candidates(seen, SampledRanking(6, "popularity"), 0, "2" * 64,
                            train_popularity(train))
    names = [cands.ranking.name(m) for m in NAMES]
    fn = lambda u: torch.from_numpy(scores[u.numpy()])  # noqa: E731
    a = evaluate_suite(fn, test, [train], names, chunk_size=3, candidates=[cands])
    b = evaluate_suite(fn, test, [train], names, chunk_size=1000, candidates=[cands])
    for m in names:
        assert np.array_equal(a.per_user[m], b.per_user[m])


# ------------------------------------------------------------------ full ranking per item
def per_item_full(scores, train, test, seen, chunk_size=7):
    """``(users, {name: (n,) float64})``: every NAMES metric under full ranking per item."""
    chunks = ranked_chunks(lambda u: torch.from_numpy(scores[u.numpy()]), test,
                           seen_matrix(test.shape, [train]), 0, chunk_size,
                           [FreeItems.of(seen)])
    users, parts = [], {m: [] for m in NAMES}
    for chunk in chunks:
        users.append(chunk.users)
        for m, v in sampled_metrics(chunk.sampled[0], NAMES).items():
            parts[m].append(v.numpy())
    return np.concatenate(users), {m: np.concatenate(v) for m, v in parts.items()}


@pytest.mark.parametrize("seed", [0, 1])
def test_per_item_full_ranks_every_test_item_against_every_free_item(seed, monkeypatch):
    """Independent oracle: per (user, test item), 1 + the free items (never interacted
    with) scored above it or tied with a lower id; the one-item formula; mean per user."""
    scores, train, test, seen = toy(seed)
    users, got = per_item_full(scores, train, test, seen)
    free = seen.toarray() == 0
    for name in NAMES:
        expected = []
        for u in users:
            values = []
            for t in test[u].indices:
                s, j = scores[u], np.arange(scores.shape[1])
                rank = 1 + int((free[u] & ((s > s[t]) | ((s == s[t]) & (j < t)))).sum())
                values.append(item_values(torch.tensor([rank]), name).item())
            expected.append(np.mean(values))
        np.testing.assert_allclose(got[name], expected, atol=1e-12, err_msg=name)
    monkeypatch.setattr("recbench.evaluation.sampled._PAIRS_AT_ONCE", 31)  # 1 item a block
    _, again = per_item_full(scores, train, test, seen, chunk_size=1000)
    assert all(np.array_equal(got[m], again[m]) for m in NAMES)  # chunking changes nothing


def test_per_item_full_equals_per_list_full_with_one_test_item_per_user():
    """Leave-one-out: the per-list candidates (all but train) are the free items and the
    test item, and a list metric of one relevant item is the one-item formula."""
    scores, train, test, _ = toy(7)
    rng = np.random.default_rng(0)
    rows = [rng.choice(test[u].indices) for u in range(test.shape[0]) if test[u].nnz]
    users = [u for u in range(test.shape[0]) if test[u].nnz]
    one = sp.csr_matrix((np.ones(len(users), np.float32), (users, rows)), shape=test.shape)
    seen = interacted_of(train, one)
    full = evaluate_suite(lambda u: torch.from_numpy(scores[u.numpy()]), one, [train], NAMES,
                          chunk_size=6)
    evaluated, per_item = per_item_full(scores, train, one, seen)
    assert np.array_equal(evaluated, full.users) and len(evaluated) > 30
    for name in NAMES:
        np.testing.assert_allclose(per_item[name], full.per_user[name], atol=1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("sampler", ["uniform", "popularity"])
def test_sampled_equals_per_item_full_when_every_free_item_is_drawn(sampler):
    """Several test items per user and n >= every user's free items: nothing is sampled,
    so every sampled metric is the per-item full one (and differs from the per-list one)."""
    scores, train, test, seen = toy(8)
    assert (np.diff(test.indptr) > 1).sum() > 20
    popularity = train_popularity(train)
    assert (popularity > 0).all()  # the popularity sampler can draw every item
    ranking = SampledRanking(100, sampler)
    cands = draw_candidates(seen, ranking, 0, "4" * 64, popularity)
    assert (cands.n_drawn == cands.n_free).all()
    got = evaluate_suite(lambda u: torch.from_numpy(scores[u.numpy()]), test, [train],
                         NAMES + [ranking.name(m) for m in NAMES], candidates=[cands],
                         chunk_size=9)
    users, per_item = per_item_full(scores, train, test, seen)
    assert np.array_equal(users, got.users)
    for name in NAMES:
        np.testing.assert_allclose(got.per_user[ranking.name(name)], per_item[name],
                                   atol=1e-12, err_msg=name)
    assert not np.allclose(got.per_user["hit@10"], per_item["hit@10"])  # per list: any hit


# ------------------------------------------------------------------------ correction
def test_rank_distribution_matches_exhaustive_enumeration():
    n_total, m = 5, 2
    for model in ("binomial", "hypergeometric"):
        a = rank_distribution(n_total, m, model)
        expected = np.zeros_like(a)
        for rank in range(1, n_total + 1):  # items 0..rank-2 of the other 4 are above it
            draws = list(product(range(n_total - 1), repeat=m)) if model == "binomial" \
                else list(combinations(range(n_total - 1), m))
            for draw in draws:
                expected[rank - 1, sum(i < rank - 1 for i in draw)] += 1 / len(draws)
        np.testing.assert_allclose(a, expected, atol=1e-12, err_msg=model)


def test_correction_by_hand():
    """N = 3, m = 1, hit@1: A = [[1, 0], [1/2, 1/2], [0, 1]], M = [1, 0, 0]; least squares
    gives (5/6, -1/6); gamma = 1 the posterior mean (2/3, 0)."""
    a = rank_distribution(3, 1)
    np.testing.assert_allclose(a, [[1, 0], [0.5, 0.5], [0, 1]])
    full = full_rank_values(3, ["hit@1"])[:, 0]
    np.testing.assert_allclose(correction_table(full, a), [5 / 6, -1 / 6], atol=1e-12)
    np.testing.assert_allclose(correction_table(full, a, gamma=1.0), [2 / 3, 0], atol=1e-12)


def test_correction_is_exact_when_every_item_is_drawn():
    n_total = 7
    full = full_rank_values(n_total, ["ndcg@3", "mrr@5", "recall@2"])
    exact = correction_table(full, rank_distribution(n_total, n_total - 1, "hypergeometric"))
    np.testing.assert_allclose(exact, full, atol=1e-10)  # the sampled rank is the full rank
    a = rank_distribution(n_total, n_total - 1, "binomial")
    np.testing.assert_allclose(a @ correction_table(full, a), full, atol=1e-8)  # no bias


def test_corrector_reduces_to_the_exact_metric_for_users_ranked_against_everything():
    scores, train, test, seen = toy(6, n_items=15)
    ranking = SampledRanking(50, "uniform")  # more than the free items: all drawn
    cands = draw_candidates(seen, ranking, 0, "3" * 64)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    corrector = Corrector.build(cands, ["ndcg@5", "hit@3"], users, gamma=0.0)
    chunk = next(ranked_chunks(lambda u: torch.from_numpy(scores[u.numpy()]), test,
                               seen_matrix(test.shape, [train]), 0, 1000, [cands]))
    corrected = corrector.user_metrics(chunk.sampled[0], chunk.users)
    ranked = chunk.sampled[0]
    for name in ("ndcg@5", "hit@3"):
        values = torch.zeros(len(chunk.users), dtype=torch.float64).index_add_(
            0, ranked.rows, item_values(ranked.ranks, name)) / ranked.n_rel
        np.testing.assert_allclose(corrected[name].numpy(), values.numpy(), atol=1e-12)


# ------------------------------------------------------------------------- agreement
def test_agreement_by_hand():
    full = {"a": 0.3, "b": 0.2, "c": 0.1, "d": 0.0}
    one_swap = agreement(full, {"a": 0.3, "b": 0.1, "c": 0.2, "d": 0.0})
    assert one_swap.kendall_tau == pytest.approx(4 / 6)  # (5 concordant - 1) / 6 pairs
    assert one_swap.spearman_rho == pytest.approx(1 - 6 * 2 / (4 * 15))
    assert one_swap.flipped == (("b", "c"),) and one_swap.flipped_share == pytest.approx(1 / 6)
    reversed_ = agreement(full, {"a": 0, "b": 1, "c": 2, "d": 3})
    assert reversed_.kendall_tau == pytest.approx(-1) and reversed_.flipped_share == 1
    same = agreement(full, {m: 2 * v for m, v in full.items()})
    assert same.kendall_tau == pytest.approx(1) and same.flipped == ()
    assert math.isnan(agreement({"a": 1}, {"a": 2}).kendall_tau)
    assert order(full) == ["a", "b", "c", "d"] and order(full, False)[0] == "d"


# ---------------------------------------------------------------------------- configs
def test_the_sampled_node_leaves_full_ranking_hashes_alone():
    base = compose()
    before = compose()  # a run logged before metrics.sampled existed
    with open_dict(before.metrics):
        del before.metrics["sampled"]
    assert config_hash(before) == config_hash(base)
    assert config_hash(compose(["metrics.sampled.n=50"])) == config_hash(base)  # not read
    assert not any(k.startswith("metrics.sampled") for k in flatten(result_config(base)))
    s100 = config_hash(compose(["metrics.ranking=sampled"]))
    assert s100 != config_hash(base)
    for override in ("metrics.sampled.n=50", "metrics.sampled.sampler=popularity",
                     "metrics.sampled.seed=1"):
        assert config_hash(compose(["metrics.ranking=sampled", override])) != s100, override
    assert "metrics.sampled.n" in flatten(result_config(compose(["metrics.ranking=sampled"])))


@pytest.mark.parametrize("overrides,expected", [
    (["metrics=full", "metrics.ranking=sampled"],
     "metrics.ranking=sampled scores accuracy metrics only; arp, aplt"),
    (["metrics.ranking=sample"], "unknown metrics.ranking 'sample'. Did you mean 'sampled'?"),
    (["metrics.sampled.sampler=pop"], "unknown metrics.sampled.sampler 'pop'"),
    (["metrics.sampled.n=0"], "metrics.sampled.n must be a positive integer"),
    (["metrics.names=[s100u_ndcg]"], "metrics.names takes plain metric names"),
])
def test_bad_sampled_settings_fail_in_one_line(overrides, expected):
    with pytest.raises(RecbenchError) as err:
        validate_sweep(overrides)
    assert expected in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------ runs and the study
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Full-ranking runs (experiment svf: 3 models x 2 seeds, random 80/10/10; 2 models
    under leave-one-out) and sampled-ranking runs of the same configs (experiment smp)."""
    root = tmp_path_factory.mktemp("svf")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    common = [f"tracking.uri={uri}", f"tracking.artifact_root={root / 'mlartifacts'}",
              "trainer.progress_bar=false", "dataset=synthetic", "metrics.ks=[5,10]"]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("RECBENCH_CACHE", str(root / "cache"))
        assert main(["run", "-m", "model=mostpop,itemknn,ease", "seed=1,2", "name=svf",
                     *common]) == 0
        assert main(["run", "-m", "model=mostpop,ease", "split=leave_one_out", "seed=1",
                     "name=svf", *common]) == 0
        assert main(["run", "-m", "model=mostpop,ease", "seed=1", "name=smp",
                     "metrics.ranking=sampled", *common]) == 0
    return {"root": root, "uri": uri}


def logged_runs(store, experiment: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store["uri"])
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id],
                              "attributes.status = 'FINISHED'")
    return client, [r for r in runs if r.data.tags.get("recbench.sweep") != "true"]


def test_sampled_runs_log_sampled_names_and_a_sampled_leaderboard(store, capsys):
    client, runs = logged_runs(store, "smp")
    ease = next(r for r in runs if r.data.tags["model"] == "ease")
    assert ease.data.tags["ranking"] == "sampled (100, uniform)"
    assert "test_s100u_ndcg_10" in ease.data.metrics and "test_ndcg_10" not in ease.data.metrics
    assert "valid_ndcg_10" in ease.data.metrics  # selection stays on full ranking
    assert ease.data.params["metrics.sampled.n"] == "100"
    path = client.download_artifacts(ease.info.run_id, "per_user_test_metrics.parquet",
                                     str(store["root"]))
    assert "s100u_ndcg@10" in pd.read_parquet(path)
    out = store["root"] / "results"
    assert main(["leaderboard", "smp", "--tracking-uri", store["uri"], "--out-dir",
                 str(out)]) == 0
    table = pd.read_csv(out / "smp" / "leaderboard.csv")
    assert {"s100u_ndcg@10 ↑", "s100u_recall@10 ↑", "s100u_map@10 ↑"} <= set(table.columns)
    md = (out / "smp" / "leaderboard.md").read_text()
    assert "| NDCG@10 sampled (100, uniform) ↑ |" in md
    assert "**Ranking**: Sampled (100, uniform): each test item ranked" in md
    capsys.readouterr()
    assert main(["leaderboard", "svf", "smp", "--tracking-uri", store["uri"], "--split",
                 "random_ratio", "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "2 ranking protocols (full, sampled (100, uniform))" in err and err.count("\n") == 1


def test_study_sampled_vs_full_end_to_end(store, capsys):
    out = store["root"] / "results"
    assert main(["study", "sampled-vs-full", "svf", "--tracking-uri", store["uri"],
                 "--out-dir", str(out), "--group", "--corrected", "--gamma", "0,0.01",
                 "--n", "100,500"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("\n[") + printed.startswith("[") == 8  # one line per re-fitted run
    assert "[8/8] synthetic · leave_one_out" in printed
    folder = out / "svf" / "sampled_vs_full"
    md = (folder / "sampled_vs_full.md").read_text()
    assert "## synthetic · random_ratio" in md and "## synthetic · leave_one_out" in md
    assert "largest difference between a re-fitted run's full-ranking (per-list) metric and " \
           "the value it logged is 0.0e+00" in md  # the re-fit reproduces the logged runs
    assert "### Agreement of sampled protocols with full (per item)" in md
    assert "### Informational: full (per item) vs full (per list)" in md
    for ext in ("png", "svg"):
        assert (folder / "plots" / f"synthetic_random_ratio_agreement.{ext}").stat().st_size
    agreement_csv = pd.read_csv(folder / "agreement.csv")
    protocols = [f"{kind} ({n}, {sampler}){extra}" for n in (100, 500)
                 for kind, sampler, extra in (
                     ("sampled", "uniform", ""),
                     ("corrected sampled", "uniform", ", minimal bias"),
                     ("corrected sampled", "uniform", ", γ=0.01"),
                     ("sampled", "popularity", ""))]
    assert list(agreement_csv["protocol"].unique()) == ["full (per item)", *protocols]
    assert len(agreement_csv) == 2 * 8 * 9  # boards x metrics (ndcg, recall, hit, mrr @5, @10)
    reference = dict(zip(agreement_csv["protocol"], agreement_csv["reference"]))
    assert reference == {"full (per item)": "full", **{p: "full (per item)" for p in protocols}}
    assert agreement_csv["kendall_tau"].between(-1, 1).all()
    models = pd.read_csv(folder / "models.csv")
    assert set(models["model"]) == {"mostpop", "itemknn", "ease"}
    assert (models.loc[models["split"] == "random_ratio", "seeds"] == 2).all()
    runs = pd.read_csv(folder / "runs.csv")
    # the same split and sampled settings: the study's sampled value of ease, seed 1, is the
    # one a run with metrics.ranking=sampled logged
    _, sampled_runs = logged_runs(store, "smp")
    logged = next(r for r in sampled_runs if r.data.tags["model"] == "ease").data.metrics
    mine = runs[(runs["model"] == "ease") & (runs["seed"] == 1) & (runs["split"] == "random_ratio")
                & (runs["protocol"] == "sampled (100, uniform)")].set_index("metric")["value"]
    for metric in ("ndcg@10", "recall@5", "mrr@10"):
        assert mine[metric] == pytest.approx(logged[f"test_s100u_{metric.replace('@', '_')}"],
                                             abs=1e-12)
    # with one test item per user the sampled hit@K cannot be below the full one
    loo = models[models["split"] == "leave_one_out"].pivot_table(
        index=["model", "metric"], columns="protocol", values="mean")
    assert (loo["sampled (100, uniform)"] >= loo["full"] - 1e-12).all()
    by_run = runs.pivot_table(index=["split", "model", "seed", "metric"], columns="protocol",
                              values="value")
    # leave-one-out: full per item is full per list, run by run and metric by metric
    np.testing.assert_allclose(by_run.loc["leave_one_out", "full (per item)"],
                               by_run.loc["leave_one_out", "full"], atol=1e-12)
    # several test items per user, 500 >= every user's free items: nothing sampled, so the
    # sampled and corrected values are the per-item full ones (and not the per-list ones)
    multi = by_run.loc["random_ratio"]
    for label in protocols[4:7]:
        np.testing.assert_allclose(multi[label], multi["full (per item)"], atol=1e-12,
                                   err_msg=label)
    assert not np.allclose(multi["full"], multi["full (per item)"])
    exact = agreement_csv[(agreement_csv["split"] == "random_ratio")
                          & (agreement_csv["protocol"] == "sampled (500, uniform)")]
    assert (exact["n_flipped"] == 0).all() and (exact["kendall_tau"].dropna() == 1).all()


@pytest.mark.parametrize("args,expected", [
    (["svf", "--sampler", "unifrom"], "unknown --sampler 'unifrom'. Did you mean 'uniform'?"),
    (["svf", "--n", "0"], "--n takes positive integers"),
    (["svf", "--corrected", "--sampler", "popularity"], "--corrected corrects uniformly"),
    (["svf", "--gamma", "2"], "--gamma takes weights in [0, 1]"),
    (["svf", "--metrics", "coverage@10"], "--metrics takes accuracy metrics"),
    (["svff"], "unknown experiment 'svff'. Did you mean 'svf'?"),
    (["smp"], "holds sampled-ranking runs; the study re-scores full-ranking runs: keep only "
              "those with --tag ranking=full"),
    (["smp", "--tag", "ranking=full"], "unknown ranking 'full'"),
    (["svf", "--tag", "ranking"], "--tag takes NAME=VALUE, got 'ranking'"),
    (["svf", "--name", "../up"], "--name (default: the experiment) must be a non-empty word"),
    (["svf"], "the runs span 2 protocols"),
])
def test_study_bad_input_is_one_line_and_exit_2(store, capsys, args, expected):
    assert main(["study", "sampled-vs-full", *args, "--tracking-uri", store["uri"],
                 "--out-dir", str(store["root"] / "bad")]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1, err


def test_study_failures_name_the_run_and_write_nothing(store, capsys, monkeypatch):
    def broken(cfg, *args, **kwargs):
        raise FloatingPointError("model produced NaN scores\nsecond line")

    monkeypatch.setattr("recbench.study.refit.refit", broken)
    out = store["root"] / "broken"
    assert main(["study", "sampled-vs-full", "svf", "--tracking-uri", store["uri"],
                 "--split", "leave_one_out", "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "re-fitting and scoring run " in err and " seed=1) failed: FloatingPointError: " \
        "model produced NaN scores;" in err
    assert not out.exists()


def fake_study(metrics=("ndcg@10",)):
    """A StudyResult by hand: 3 models x 2 seeds; the sampled protocol swaps b and c."""
    from recbench.study.sampled_vs_full import StudyResult, parse_protocols, summarise

    protocols = parse_protocols("5", "uniform")
    means = {"full": {"a": 0.3, "b": 0.2, "c": 0.1},
             "full (per item)": {"a": 0.25, "b": 0.2, "c": 0.1},
             "sampled (5, uniform)": {"a": 0.9, "b": 0.7, "c": 0.8}}
    rows = [{"dataset": "toy", "split": "random_ratio", "model": model, "seed": seed,
             "run_id": f"{model}{seed}", "protocol": p.label, "metric": m,
             "value": means[p.label][model] + (seed - 1.5) * 0.01,
             "logged": means["full"][model] + (seed - 1.5) * 0.01 if p.label == "full"
             else math.nan}
            for model in "abc" for seed in (1, 2) for p in protocols for m in metrics]
    result = StudyResult("toy_exp", protocols, list(metrics), pd.DataFrame(rows),
                         notes={("toy", "random_ratio"): ["3 models, 6 runs."]})
    summarise(result)
    return result


def test_study_report_names_each_reference_and_writes_reproducible_plots(tmp_path):
    from recbench.study.sampled_vs_full_report import write_study

    result = fake_study()
    found = result.agreement.set_index("protocol")
    assert found.loc["sampled (5, uniform)", "reference"] == "full (per item)"
    assert found.loc["sampled (5, uniform)", "flipped_pairs"] == "b > c"
    assert found.loc["full (per item)", "reference"] == "full"
    assert found.loc["full (per item)", "kendall_tau"] == pytest.approx(1)
    written = write_study(result, tmp_path, "toy_exp")
    folder = tmp_path / "toy_exp" / "sampled_vs_full"
    svg = (folder / "plots" / "toy_random_ratio_agreement.svg").read_bytes()
    png = (folder / "plots" / "toy_random_ratio_agreement.png").read_bytes()
    assert set(written) >= {folder / "plots" / "toy_random_ratio_agreement.svg",
                            folder / "sampled_vs_full.md", folder / "agreement.csv"}
    write_study(result, tmp_path, "toy_exp")  # the same study again: the same bytes
    assert (folder / "plots" / "toy_random_ratio_agreement.svg").read_bytes() == svg
    assert (folder / "plots" / "toy_random_ratio_agreement.png").read_bytes() == png
    md = (folder / "sampled_vs_full.md").read_text(encoding="utf-8")
    assert "| Metric | Protocol | Reference | Models |" in md
    assert "| NDCG@10 | sampled (5, uniform) | full (per item) | 3 |" in md
    assert "Order by NDCG@10, full (per list): a &gt; b &gt; c." in md
    assert "| Model | full (per list) | full (per item) | sampled (5, uniform) |" in md
    assert "| NDCG@10 | full (per item) | full (per list) | 3 |" in md


def test_study_report_write_errors_are_one_line(tmp_path):
    from recbench.study.sampled_vs_full_report import write_study

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RecbenchError) as err:
        write_study(fake_study(), blocker, "toy_exp")
    assert "cannot write the study to" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(RecbenchError, match="must be a non-empty word"):
        write_study(fake_study(), tmp_path, "..")


def test_the_corrector_rounds_large_n_up_to_a_one_percent_grid():
    """One least-squares table per distinct N would mean thousands of solves on a real
    catalogue (N: each user's free items + 1); above 100, N is rounded up by at most 2%."""
    from recbench.evaluation.correction import on_grid

    n = np.arange(1, 20_001)
    grid = on_grid(n)
    assert np.array_equal(grid[:100], n[:100])  # small N: exact tables
    assert (grid >= n).all() and (grid <= 1.02 * n).all()
    assert (np.diff(grid) >= 0).all() and len(np.unique(grid)) < 1_100
