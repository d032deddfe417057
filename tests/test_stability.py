"""Leaderboard rank stability (recbench/report/stability.py) and the aggregate over data
sets (recbench/report/aggregate.py): hand-computed cases, reproducibility, refusals, and
`recbench leaderboard --stability --aggregate` end to end on a tiny store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recbench.cli import main
from recbench.errors import RecbenchError
from recbench.report import stability
from recbench.report.aggregate import aggregate, aggregate_values
from recbench.report.board import Board


def _board(per_seed: dict[str, list[np.ndarray]], metric: str = "ndcg@10",
           title: tuple[str, str] = ("toy", "random_ratio")) -> Board:
    """A board whose models have per-user frames: ``per_seed`` model -> per seed
    ``(n_users,)`` values of ``metric`` for users ``u0``, ``u1``, ..."""
    frames = {m: [pd.DataFrame({"user": [f"u{i}" for i in range(len(v))], metric: v})
                  for v in seeds] for m, seeds in per_seed.items()}
    table = pd.DataFrame({"model": list(per_seed),
                          metric: [np.mean([v.mean() for v in s]) for s in per_seed.values()]})
    return Board(dataset=title[0], split=title[1], table=table, valid_metric="ndcg@10",
                 per_seed=frames)


def _noisy(n_users=80, seeds=3, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return [np.clip(rng.random(n_users) * 0.5 + shift, 0, 1) for _ in range(seeds)]


# ------------------------------------------------------------------------ stability
def test_a_model_better_on_every_user_and_seed_ranks_first_always():
    board = _board({"worse": _noisy(seed=1), "better": [v + 0.6 for v in _noisy(seed=2)]})
    result = stability.board_stability(board, "ndcg@10", resamples=300).set_index("model")
    assert result.loc["better", "p_rank_1"] == 1.0
    assert (result.loc["better", ["rank_low", "rank_high", "rank_median"]] == 1).all()
    assert result.loc["worse", "p_rank_1"] == 0.0
    assert (result.loc["worse", ["rank_low", "rank_high"]] == 2).all()
    assert result.loc["better", "seeds"] == 3 and result.loc["better", "n_units"] == 80
    assert list(result.reset_index().columns) == stability.COLUMNS


def test_identical_models_tie_for_first_and_share_the_better_rank():
    """Ties: competition ranking, "1 1 3": both identical models rank 1 on every resample
    (so P(rank 1) sums to 2), the third ranks 3, never 2. Deterministic models: every
    seed alike (seeds that differed would be drawn independently, and could differ)."""
    same = _noisy(seed=3)[:1] * 3
    board = _board({"a": same, "b": [v.copy() for v in same],
                    "c": [v - 0.6 for v in _noisy(seed=4)]})
    result = stability.board_stability(board, "ndcg@10", resamples=200).set_index("model")
    for model in ("a", "b"):
        assert result.loc[model, "p_rank_1"] == 1.0
        assert (result.loc[model, ["rank_low", "rank_high"]] == 1).all()
    assert (result.loc["c", ["rank_low", "rank_high", "rank_median"]] == 3).all()


def test_competition_ranks_direction_round_off_and_nan():
    values = np.array([[0.2, 0.2 + 1e-17, np.nan, 0.1]])
    assert stability.competition_ranks(values, higher=True).tolist() == [[1, 1, 4, 3]]
    assert stability.competition_ranks(values, higher=False).tolist() == [[2, 2, 4, 1]]


def test_the_seed_spread_enters_through_one_random_seed_per_resample():
    """Constant per-user values: resampling users changes nothing, only the seed drawn.
    Model a is 0.5 on one seed and 0.3 on the other, b is 0.4: a ranks first exactly when
    its first seed is drawn, about half of the resamples."""
    n = 50
    board = _board({"a": [np.full(n, 0.5), np.full(n, 0.3)], "b": [np.full(n, 0.4)]})
    result = stability.board_stability(board, "ndcg@10", resamples=4000).set_index("model")
    assert result.loc["a", "p_rank_1"] == pytest.approx(0.5, abs=0.03)
    assert result.loc["a", "p_rank_1"] + result.loc["b", "p_rank_1"] == 1.0  # never tied
    assert result.loc["a", "rank_mean"] == pytest.approx(1.5, abs=0.03)
    for model in ("a", "b"):
        assert (result.loc[model, "rank_low"], result.loc[model, "rank_high"]) == (1, 2)


def test_lower_is_better_metrics_rank_the_lowest_first():
    board = _board({"popular": [np.full(30, 300.0)], "niche": [np.full(30, 200.0)]},
                   metric="arp@10")
    result = stability.board_stability(board, "arp@10", resamples=100).set_index("model")
    assert result.loc["niche", "p_rank_1"] == 1.0 and result.loc["popular", "rank_low"] == 2


def test_users_are_aligned_across_models_and_nan_users_left_out():
    board = _board({"a": [np.array([1.0, 0.0, np.nan])], "b": [np.array([0.5, 0.5, 0.5])]})
    frame = board.per_seed["b"][0]  # other row order and one more user: aligned by id
    board.per_seed["b"] = [pd.concat([frame.iloc[::-1], pd.DataFrame(
        {"user": ["extra"], "ndcg@10": [9.0]})], ignore_index=True)]
    models, n_users = stability._per_user_models(board, "ndcg@10")
    assert n_users == 3
    np.testing.assert_array_equal(models[1].values, [[0.5, 0.5, 0.5]])
    counts = np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])  # NaN user: weight left out
    np.testing.assert_allclose(models[0].resampled(0, counts), [0.5, 0.0])


def test_seeded_results_are_reproducible_change_with_the_seed_and_ignore_chunking(
        monkeypatch):
    board = _board({"a": _noisy(seed=5), "b": _noisy(seed=6, shift=0.01),
                    "c": _noisy(seed=7, shift=0.02)})
    first = stability.board_stability(board, "ndcg@10", resamples=500, seed=1)
    again = stability.board_stability(board, "ndcg@10", resamples=500, seed=1)
    other = stability.board_stability(board, "ndcg@10", resamples=500, seed=2)
    pd.testing.assert_frame_equal(first, again)
    assert not np.array_equal(first["p_rank_1"], other["p_rank_1"])
    assert 0 < first["p_rank_1"].max() < 1  # a close race: the case a seed changes
    monkeypatch.setattr(stability, "CHUNK_CELLS", 80 * 7)  # 7 resamples a chunk
    pd.testing.assert_frame_equal(
        stability.board_stability(board, "ndcg@10", resamples=500, seed=1), first)


def test_ctr_boards_resample_users_of_the_test_predictions():
    rng = np.random.default_rng(0)
    n, users = 3000, rng.integers(0, 100, 3000)
    labels = rng.integers(0, 2, n)
    good = np.clip(0.5 + 0.3 * (labels - 0.5) + rng.normal(0, 0.1, n), 0.01, 0.99)
    noise = np.clip(0.5 + rng.normal(0, 0.1, n), 0.01, 0.99)

    def frame(probability):
        return pd.DataFrame({"row": np.arange(n), "user": users.astype(str), "label": labels,
                             "probability": probability})

    board = Board(dataset="toy-ctr", split="random_global",
                  table=pd.DataFrame({"model": ["good", "noise"], "auc": [0.9, 0.5]}),
                  valid_metric="auc", per_seed={"good": [frame(good)] * 2,
                                                "noise": [frame(noise)]})
    for metric in ("auc", "logloss", "gauc"):
        result = stability.board_stability(board, metric, resamples=100).set_index("model")
        assert result.loc["good", "p_rank_1"] == 1.0 and result.loc["good", "unit"] == "user"


def test_refusals_name_the_problem_in_one_line():
    board = _board({"a": _noisy(), "b": _noisy(seed=1)})
    with pytest.raises(RecbenchError, match="one value per run"):
        stability.board_stability(board, "coverage@10")
    with pytest.raises(RecbenchError, match="one value per run"):
        stability.board_stability(board, "ndcg@10.gender_gap")
    del board.per_seed["b"]
    with pytest.raises(RecbenchError, match="the runs of b lack per_user_test_metrics"):
        stability.board_stability(board, "ndcg@10")
    with pytest.raises(RecbenchError, match="at least 100"):
        stability.resampling(0, None, stability=True)
    with pytest.raises(RecbenchError, match="add --stability"):
        stability.resampling(500, None, stability=False)
    with pytest.raises(RecbenchError, match=">= 0"):
        stability.resampling(None, -1, stability=True)
    assert stability.resampling(None, None, stability=False) == (1000, 0)


# ------------------------------------------------------------------------ aggregate
HAND = pd.DataFrame({"d1": [0.30, 0.20, 0.10], "d2": [0.20, 0.25, 0.25],
                     "d3": [0.50, 0.45, 0.00]}, index=["a", "b", "c"])


def test_mean_rank_and_borda_by_hand():
    """d1: a > b > c; d2: b = c > a; d3: a > b > c. Ranks (ties: mean) a 1,3,1; b 2,1.5,2;
    c 3,1.5,3. Borda (models beaten): a 2+0+2, b 1+1+1, c 0+1+0."""
    table, ranks, _ = aggregate_values(HAND, higher=True)
    table = table.set_index("model")
    assert list(table.index) == ["a", "b", "c"]  # by mean rank
    assert table["mean_rank"].to_dict() == pytest.approx({"a": 5 / 3, "b": 5.5 / 3, "c": 2.5})
    assert table["borda"].to_dict() == {"a": 4, "b": 3, "c": 1}
    assert ranks.loc["b"].tolist() == [2.0, 1.5, 2.0]


def test_performance_profiles_by_hand():
    """Relative gaps to the best: a 0, 0.2, 0; b 1/3, 0, 0.1; c 2/3, 0, 1."""
    table, _, gaps = aggregate_values(HAND, higher=True, taus=(0.0, 0.1, 0.2, 0.5, 1.0))
    rho = table.set_index("model")
    np.testing.assert_allclose(gaps.loc["b"], [1 / 3, 0.0, 0.1])
    assert rho["rho@0"].to_dict() == pytest.approx({"a": 2 / 3, "b": 1 / 3, "c": 1 / 3})
    assert rho["rho@0.1"].to_dict() == pytest.approx({"a": 2 / 3, "b": 2 / 3, "c": 1 / 3})
    assert rho["rho@0.2"].to_dict() == pytest.approx({"a": 1.0, "b": 2 / 3, "c": 1 / 3})
    assert rho["rho@0.5"].to_dict() == pytest.approx({"a": 1.0, "b": 1.0, "c": 1 / 3})
    assert rho["rho@1"].to_dict() == pytest.approx({"a": 1.0, "b": 1.0, "c": 1.0})


def test_profiles_of_a_lower_is_better_metric():
    """ARP: best = lowest; within tau means value <= (1 + tau) * best."""
    values = pd.DataFrame({"d1": [200.0, 220.0], "d2": [300.0, 240.0]}, index=["x", "y"])
    table, ranks, gaps = aggregate_values(values, higher=False, taus=(0.0, 0.1, 0.25))
    rho = table.set_index("model")
    np.testing.assert_allclose(gaps.to_numpy(), [[0.0, 0.25], [0.1, 0.0]])
    assert rho["rho@0.1"].to_dict() == pytest.approx({"x": 0.5, "y": 1.0})
    assert rho["rho@0.25"].to_dict() == pytest.approx({"x": 1.0, "y": 1.0})
    assert ranks.to_numpy().tolist() == [[1.0, 2.0], [2.0, 1.0]]


def test_aggregate_over_boards_keeps_the_models_on_every_board():
    one = _board({"a": [np.full(5, 0.3)], "b": [np.full(5, 0.2)], "only": [np.full(5, 0.9)]})
    two = _board({"b": [np.full(5, 0.4)], "a": [np.full(5, 0.1)]}, title=("toy2", "loo"))
    result = aggregate([one, two], "ndcg@10")
    assert sorted(result.table["model"]) == ["a", "b"]
    assert result.table["borda"].tolist() == [1, 1] and result.table["mean_rank"].tolist() == [
        1.5, 1.5]
    assert "only (missing on toy2 · loo)" in result.notes[0]
    assert list(result.values.columns) == ["toy · random_ratio", "toy2 · loo"]
    with pytest.raises(RecbenchError, match="over several data sets.*1 board"):
        aggregate([one], "ndcg@10")
    three = _board({"c": [np.full(5, 0.4)], "a": [np.full(5, 0.1)]}, title=("toy3", "x"))
    with pytest.raises(RecbenchError, match="1 model \\(a\\) is on every board"):
        aggregate([one, two, three], "ndcg@10")


def test_html_escapes_model_names_and_titles_of_the_new_sections(tmp_path):
    from recbench.report.html import _aggregate, _leaderboard

    evil = "<script>alert(1)</script>"
    one = _board({evil: [np.full(5, 0.3)], "b": [np.full(5, 0.2)]}, title=(evil, "s"))
    two = _board({"b": [np.full(5, 0.4)], evil: [np.full(5, 0.1)]}, title=("d", "s"))
    page = _aggregate(aggregate([one, two], "ndcg@10"), None)
    assert "<script>" not in page and "&lt;script&gt;" in page
    for board in (one, two):
        board.table = board.table.assign(**{"ndcg@10_std": np.nan, "seeds": 1,
                                            "fit_time_s": 1.0, "eval_time_s": 1.0,
                                            "n_parameters": 1, "configs_tried": 1,
                                            "config_hash": "h"})
    one.stability = stability.board_stability(one, "ndcg@10", resamples=100)
    table = _leaderboard(one, ["ndcg@10"], 0.05)
    assert "<script>" not in table and "P(rank 1)" in table and "[1, 1]" in table


# ----------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """MostPop and ItemKNN on a small synthetic data set: seeds 1, 2 under random 80/10/10,
    seed 1 under leave-one-out (two boards)."""
    root = tmp_path_factory.mktemp("stability")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    common = [f"tracking.uri={uri}", f"tracking.artifact_root={root / 'mlartifacts'}",
              "trainer.progress_bar=false", "name=st", "dataset=synthetic",
              "dataset.n_users=150", "dataset.n_items=80", "dataset.density=0.08",
              "metrics.ks=[10]", "model=mostpop,itemknn"]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("RECBENCH_CACHE", str(root / "cache"))
        assert main(["run", "-m", "seed=1,2", *common]) == 0
        assert main(["run", "-m", "split=leave_one_out", "seed=1", *common]) == 0
    return {"root": root, "uri": uri}


def leaderboard(store, *args: str) -> int:
    return main(["leaderboard", "st", "--tracking-uri", store["uri"],
                 "--out-dir", str(store["root"] / "results"), "--metrics", "ndcg@10,recall@10",
                 *args])


def test_cli_writes_stability_and_aggregate_files_and_columns(store, capsys):
    assert leaderboard(store, "--stability", "--aggregate", "--bootstrap", "200",
                       "--name", "both") == 0
    out = capsys.readouterr().out
    assert "P(rank 1)" in out and "aggregate over 2 data sets" in out
    folder = store["root"] / "results" / "both"
    table = pd.read_csv(folder / "leaderboard.csv")
    assert {"P(rank 1)", "Rank 95% CI"} <= set(table.columns)
    assert table["P(rank 1)"].between(0, 1).all()
    stable = pd.read_csv(folder / "stability.csv")
    assert len(stable) == 4 and set(stable["split"]) == {"random_ratio", "leave_one_out"}
    assert (stable["n_resamples"] == 200).all() and set(stable["seeds"]) == {1, 2}
    assert (stable["rank_low"] <= stable["rank_high"]).all()
    agg = pd.read_csv(folder / "aggregate.csv")
    assert sorted(agg["model"]) == ["itemknn", "mostpop"] and (agg["data_sets"] == 2).all()
    assert {"mean_rank", "borda", "rho@0", "rho@0.01", "rho@0.05", "rho@0.1"} <= set(agg.columns)
    assert agg["borda"].sum() <= 2  # one winner per data set at most
    md = (folder / "leaderboard.md").read_text()
    assert "| P(rank 1) | Rank 95% CI |" in md and "## Aggregate over 2 data sets" in md
    assert "![ranks](plots/synthetic_random_ratio_ranks.png)" in md
    assert "![performance profiles](plots/aggregate_profiles.png)" in md
    html = (folder / "index.html").read_text()
    assert 'id="aggregate"' in html and "Rank 95% CI" in html and "Borda" in html
    for stem in ("synthetic_random_ratio_ranks", "synthetic_leave_one_out_ranks",
                 "aggregate_profiles"):
        for ext in ("png", "svg"):
            assert (folder / "plots" / f"{stem}.{ext}").stat().st_size > 0
    # published again without the flags: nothing of them is left behind
    assert leaderboard(store, "--group", "--name", "both") == 0
    assert not (folder / "stability.csv").exists() and not (folder / "aggregate.csv").exists()
    assert "P(rank 1)" not in pd.read_csv(folder / "leaderboard.csv").columns


def test_cli_stability_with_group_is_seeded(store):
    for name in ("s1", "s2"):
        assert leaderboard(store, "--group", "--stability", "--bootstrap", "150",
                           "--bootstrap-seed", "3", "--name", name) == 0
    first, second = (pd.read_csv(store["root"] / "results" / n / "stability.csv")
                     for n in ("s1", "s2"))
    pd.testing.assert_frame_equal(first, second)
    assert (first["bootstrap_seed"] == 3).all()


@pytest.mark.parametrize("args, message", [
    (["--stability", "--bootstrap", "0"], "--bootstrap must be at least 100"),
    (["--bootstrap", "500"], "add --stability"),
    (["--stability", "--bootstrap-seed", "-2"], "--bootstrap-seed must be >= 0"),
    (["--aggregate", "--split", "random_ratio"], "--aggregate ranks models over several"),
])
def test_bad_stability_and_aggregate_flags(store, capsys, args, message):
    assert main(["leaderboard", "st", "--tracking-uri", store["uri"],
                 "--out-dir", str(store["root"] / "bad"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
