"""Leaderboard aggregation (best configuration by validation only, mean ± std over seeds)
and its text formats (Markdown, LaTeX, CSV)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recbench.errors import RecbenchError
from recbench.report.board import Board, build_board, build_boards, reproduce_command
from recbench.report.significance import compare_to_best
from recbench.report.tables import csv_frame, display_table, latex, markdown, significance_frame


def run(model, cfg, seed, valid, test, split="s", start=0, fingerprint="fp1", **extra):
    return {"run_id": f"{model}-{cfg}-{seed}-{start}", "start_time": start, "tag.dataset": "d",
            "tag.split": split, "tag.model": model, "tag.seedless_config_hash": cfg,
            "tag.config_hash": f"{cfg}-{seed}", "tag.seed": str(seed),
            "tag.split_fingerprint": fingerprint, "tag.data_fingerprint": "data1",
            "tag.recbench.overrides": json.dumps([f"model={model}", f"seed={seed}"]),
            "valid_metric": "ndcg@10", "valid_ndcg_10": valid, "test_ndcg_10": test,
            "fit_time_s": 1.0, "eval_time_s": 0.5, "n_parameters": 10, **extra}


def fake_runs() -> pd.DataFrame:
    rows = [
        # model "a": c1 has the better validation score but the worse test score
        run("a", "c1", 1, 0.30, 0.20, start=1), run("a", "c1", 2, 0.30, 0.22, start=2),
        run("a", "c2", 1, 0.25, 0.40, start=3), run("a", "c2", 2, 0.25, 0.44, start=4),
        run("b", "c3", 1, 0.30, 0.10, start=5),
        run("a", "c1", 1, 0.30, 0.24, start=100),  # a re-run of (c1, seed 1): latest counts
    ]
    return pd.DataFrame(rows)


def test_best_config_is_chosen_on_validation_not_test():
    board = build_board(fake_runs(), ["ndcg@10"], "d", "s")
    a = board.table[board.table["model"] == "a"].iloc[0]
    assert a["config_hash"] == "c1" and a["configs_tried"] == 2 and a["seeds"] == 2
    assert a["ndcg@10"] == pytest.approx((0.24 + 0.22) / 2)  # the re-run replaced 0.20
    assert a["ndcg@10"] < 0.42  # c2 would have scored 0.42 on test: never looked at
    assert a["ndcg@10_std"] == pytest.approx(np.std([0.24, 0.22], ddof=1))
    assert a["command"] == "recbench run -m model=a seed=1,2"
    b = board.table[board.table["model"] == "b"].iloc[0]
    assert b["seeds"] == 1 and pd.isna(b["ndcg@10_std"])
    assert list(board.table["model"]) == ["a", "b"]  # sorted by the first metric
    cells = display_table(board, ["ndcg@10"], 0.05)["NDCG@10 ↑"].tolist()
    assert cells == ["0.2300 ± 0.0141", "0.1000 ± n/a"]  # one seed: std n/a


def test_only_configs_with_the_most_seeds_are_eligible():
    """A tuning trial on one lucky seed must not beat the configuration re-run on 3 seeds."""
    rows = [run("a", "trial", 1, 0.50, 0.5)]  # best single-seed validation score
    rows += [run("a", "tuned", s, 0.40 + s / 100, 0.3) for s in (1, 2, 3)]
    board = build_board(pd.DataFrame(rows), ["ndcg@10"], "d", "s")
    row = board.table.iloc[0]
    assert row["config_hash"] == "tuned" and row["seeds"] == 3 and row["configs_tried"] == 2
    assert row["tuning_fit_time_s"] == pytest.approx(4.0)  # every run of the model counts


def test_no_validation_metric_is_said_not_hidden():
    frame = fake_runs().drop(columns="valid_ndcg_10")
    board = build_board(frame, ["ndcg@10"], "d", "s")
    assert set(board.table["chosen_on"]) == {"none (no validation data)"}


def test_mixed_protocols_are_refused_unless_grouped():
    frame = pd.concat([fake_runs(), pd.DataFrame([run("a", "c9", 1, 0.3, 0.3, split="loo",
                                                      fingerprint="fp2", start=200)])])
    with pytest.raises(RecbenchError, match=r"span 2 protocols \(d · s, d · loo\).*--group"):
        build_boards(frame, ["ndcg@10"])
    boards = build_boards(frame, ["ndcg@10"], group=True)
    assert [b.title for b in boards] == ["d · s", "d · loo"]
    assert list(boards[1].table["model"]) == ["a"]


def test_models_tested_on_different_splits_are_refused():
    frame = pd.DataFrame([run("a", "c1", 1, 0.3, 0.3), run("b", "c2", 1, 0.3, 0.2,
                                                           fingerprint="other")])
    with pytest.raises(RecbenchError, match="tested on different splits"):
        build_board(frame, ["ndcg@10"], "d", "s")


def test_unlogged_metric_is_a_clear_error():
    with pytest.raises(RecbenchError, match="metric recall@10 was not logged"):
        build_board(fake_runs(), ["recall@10"], "d", "s")


@pytest.mark.parametrize("overrides, expected", [
    (["experiment=e", "split=leave_one_out", "hparams_search=bpr", "tracking.uri=x",
      "model.optimizer.lr=0.01", "seed=3"],
     "recbench run -m experiment=e model=bpr split=leave_one_out model.optimizer.lr=0.01 seed=1,2"),
    (["model=ease", "model.l2=100.0", "verbose=true", "sweep.parent=abc"],
     "recbench run -m model=ease model.l2=100.0 seed=1,2"),
    ([], "recbench run -m seed=1,2"),
    (None, "n/a (runs logged before recbench recorded their overrides)"),
])
def test_reproduce_command(overrides, expected):
    assert reproduce_command(overrides, [2, 1]) == expected


def test_reproduce_command_names_the_model_and_turns_off_an_experiments_search():
    """The search came from the experiment's defaults: the command must run the chosen
    configuration, not search again; values that a shell would expand are quoted."""
    command = reproduce_command(["experiment=x", "model.optimizer.lr=0.1", "metrics.ks=[10]"], [3],
                                {"model": "bpr", "hparams_search": "bpr_wide"})
    assert command == ("recbench run -m experiment=x '~hparams_search' model=bpr "
                       "model.optimizer.lr=0.1 'metrics.ks=[10]' seed=3")


def test_reported_numbers_come_from_the_final_seeds_not_the_selection_trial():
    rows = [run("a", "t1", 0, 0.50, 0.90), run("a", "t2", 0, 0.40, 0.10)]  # search, seed 0
    rows += [run("a", "t1", s, 0.45, 0.30, **{"tag.recbench.final": "true"}) for s in (1, 2)]
    row = build_board(pd.DataFrame(rows), ["ndcg@10"], "d", "s").table.iloc[0]
    assert row["config_hash"] == "t1" and row["seed_list"] == "1,2"
    assert row["ndcg@10"] == pytest.approx(0.30)  # the lucky trial's 0.90 is not averaged in
    assert row["configs_tried"] == 2


def test_seeds_sort_as_numbers_and_notes_explain_gaps():
    rows = [run("a", "c", s, 0.3, 0.1 * s) for s in (10, 2, 1)]
    rows += [run("b", "c2", 1, float("nan"), 0.2)]
    board = build_board(pd.DataFrame(rows), ["ndcg@10"], "d", "s")
    assert board.table.set_index("model").loc["a", "seed_list"] == "1,2,10"
    assert any("b ran on a single seed" in n for n in board.notes)
    assert any("not chosen on validation" in n and "b" in n for n in board.notes)


# ------------------------------------------------------------------------ text formats
def board_with_significance() -> Board:
    rng = np.random.default_rng(1)
    users = pd.Index(range(60), name="user")
    base = rng.random(60)
    per_user = {"ease": pd.DataFrame({"ndcg@10": base + 0.1, "recall@10": base + 0.1}, users),
                "itemknn": pd.DataFrame({"ndcg@10": base + 0.09, "recall@10": base + 0.2},
                                        users),
                "mostpop": pd.DataFrame({"ndcg@10": base, "recall@10": base}, users)}
    rows = []
    for i, (model, frame) in enumerate(per_user.items()):
        rows.append({"model": model, "seeds": 2, "configs_tried": 3, "config_hash": f"h{i}",
                     "ndcg@10": frame["ndcg@10"].mean(), "ndcg@10_std": 0.01,
                     "recall@10": frame["recall@10"].mean(), "recall@10_std": np.nan,
                     "fit_time_s": 1.5, "eval_time_s": 0.25, "n_parameters": 1234,
                     "n_trials": 20, "sampler": "tpe"})
    table = pd.DataFrame(rows)
    board = Board("ml_100k", "random_ratio", table, "ndcg@10")
    board.significance = compare_to_best(per_user, ["ndcg@10", "recall@10"], table)
    return board


def test_markdown_table_marks_significance():
    board = board_with_significance()
    frame = display_table(board, ["ndcg@10", "recall@10"], 0.05)
    text = markdown(frame)
    assert text.splitlines()[0] == ("| Model | Seeds | NDCG@10 ↑ | Recall@10 ↑ | Fit (s) | Eval (s) "
                                    "| Params | Tuning | Config |")
    cell = frame.set_index("Model").loc["mostpop", "NDCG@10 ↑"]
    assert cell.startswith("0.") and cell.endswith("†‡")  # 0.1 worse on every user
    assert frame.set_index("Model").loc["itemknn", "Recall@10 ↑"].endswith("± n/a")  # best
    assert frame.set_index("Model").loc["ease", "Tuning"] == "20 trials (tpe)"
    sig = significance_frame(board, 0.05)
    assert len(sig) == 4 and set(sig["Significant (α=0.05)"]) <= {
        "t-test + Wilcoxon", "t-test", "Wilcoxon", "no"}


def test_latex_has_booktabs_bold_best_underlined_second_and_escapes():
    board = board_with_significance()
    tex = latex([board], ["ndcg@10", "recall@10"], 0.05, caption="ml100k:")
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    lines = {line.split(" & ")[0]: line for line in tex.splitlines() if " & " in line}
    assert "\\textbf{" in lines["ease"].split(" & ")[1]          # best NDCG
    assert "\\underline{" in lines["itemknn"].split(" & ")[1]    # second NDCG
    assert "\\textbf{" in lines["itemknn"].split(" & ")[2]       # best Recall
    assert "$\\pm$ 0.0100" in lines["mostpop"] and "$^{\\dagger\\ddagger}$" in lines["mostpop"]
    caption = next(line for line in tex.splitlines() if line.startswith("\\caption"))
    assert "ml\\_100k" in caption and "ml_100k" not in caption  # escaped (labels may hold _)
    assert tex.count("\\begin{table}") == 1


def test_csv_has_one_row_per_protocol_and_model():
    board = board_with_significance()
    other = Board("d2", "loo", board.table.copy(), "ndcg@10")
    frame = csv_frame([board, other])
    assert list(frame.columns[:3]) == ["dataset", "split", "model"]
    assert len(frame) == 6 and set(frame["dataset"]) == {"ml_100k", "d2"}
