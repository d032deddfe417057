"""`recbench leaderboard` end to end on a real MLflow store: every output format, the
results index, and bad input (no finished runs, missing per-user artifacts, mixed
protocols, a single seed) answered with a message, never a crash."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from recbench.cli import main


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Runs of 4 models x 2 seeds (random 80/10/10) + MostPop under leave-one-out, seed 1."""
    root = tmp_path_factory.mktemp("lb")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    common = [f"tracking.uri={uri}", f"tracking.artifact_root={root / 'mlartifacts'}",
              "trainer.progress_bar=false", "name=lb", "metrics=full", "metrics.ks=[10]",
              "metrics.bootstrap=50"]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("RECBENCH_CACHE", str(root / "cache"))
        assert main(["run", "-m", "model=mostpop,itemknn,ease", "seed=1,2", *common]) == 0
        assert main(["run", "-m", "model=bpr", "trainer.max_epochs=2", "seed=1,2", *common]) == 0
        assert main(["run", "model=mostpop", "split=leave_one_out", "seed=1", *common]) == 0
    return {"root": root, "uri": uri}


def leaderboard(store, *args: str) -> int:
    return main(["leaderboard", "lb", "--tracking-uri", store["uri"],
                 "--out-dir", str(store["root"] / "results"), "--metrics", "ndcg@10,recall@10",
                 *args])


def test_publishes_every_format_and_indexes_it(store, capsys):
    assert leaderboard(store, "--split", "random_ratio", "--name", "lb_random") == 0
    out = capsys.readouterr().out
    assert "recbench leaderboard: lb_random · ml-100k · random_ratio" in out
    folder = store["root"] / "results" / "lb_random"
    table = pd.read_csv(folder / "leaderboard.csv")
    assert list(table["model"])[0] == "ease" and set(table["model"]) == {
        "ease", "itemknn", "bpr", "mostpop"}
    assert (table["seeds"] == 2).all() and table["ndcg@10_std"].notna().all()
    assert table["command"].str.startswith("recbench run -m ").all()
    assert table["command"].str.endswith("seed=1,2").all()
    bpr = table.set_index("model").loc["bpr"]
    assert "model=bpr" in bpr["command"] and "trainer.max_epochs=2" in bpr["command"]
    assert bpr["n_parameters"] > 0 and bpr["fit_time_s"] > 0
    assert table["versions"].str.contains("torch==").all()
    assert table["split_fingerprint"].nunique() == 1 and table["data_fingerprint"].nunique() == 1
    sig = pd.read_csv(folder / "significance.csv")
    assert len(sig) == 2 * 3 and set(sig["best"]) <= {"ease", "itemknn"}
    mostpop = sig[(sig["model"] == "mostpop") & (sig["metric"] == "ndcg@10")].iloc[0]
    assert mostpop["t_p_holm"] < 0.05 and mostpop["n_users"] > 900
    md = (folder / "leaderboard.md").read_text()
    assert "## ml-100k · random_ratio" in md and "### Significance" in md and "†" in md
    assert "### Reproduce" in md and "![bars](plots/ml-100k_random_ratio_bars.png)" in md
    tex = (folder / "leaderboard.tex").read_text()
    assert "\\toprule" in tex and tex.count("\\textbf{") == 2  # one best per metric column
    html = (folder / "index.html").read_text()
    assert "<table" in html and "data:image/png;base64," in html
    for kind in ("bars", "pareto", "curves"):  # curves: BPR's per-epoch validation metric
        for ext in ("png", "svg"):
            assert (folder / "plots" / f"ml-100k_random_ratio_{kind}.{ext}").stat().st_size > 0
    meta = json.loads((folder / "leaderboard.json").read_text())
    assert meta["protocols"] == ["ml-100k · random_ratio"] and meta["significance"]
    index = (store["root"] / "results" / "README.md").read_text()
    assert "[lb_random](lb_random/leaderboard.md)" in index


def test_beyond_accuracy_columns_directions_and_tradeoff_plots(store, capsys):
    """Runs with metrics=full: the default columns add the beyond-accuracy metrics, each
    with its direction; the best of each column follows that direction."""
    assert leaderboard(store, "--split", "random_ratio", "--name", "lb_full",
                       "--metrics", "ndcg@10,recall@10,arp@10,coverage@10,gini@10,"
                       "ndcg@10.activity_gap") == 0
    folder = store["root"] / "results" / "lb_full"
    table = pd.read_csv(folder / "leaderboard.csv").set_index("model")
    arp, coverage = table["arp@10 ↓"], table["coverage@10 ↑"]
    # MostPop: the most popular items for everyone
    assert arp.idxmax() == "mostpop" and coverage.idxmin() == "mostpop"
    assert table["gini@10 ↓"].idxmax() == "mostpop"
    assert "ndcg@10.activity_gap ↓" in table
    md = (folder / "leaderboard.md").read_text()
    assert "| ARP@10 ↓ |" in md and "| Coverage@10 ↑ |" in md and "NDCG@10 activity_gap ↓" in md
    tex = (folder / "leaderboard.tex").read_text()
    best_arp = f"\\textbf{{{arp.min():.4f}}}"
    assert best_arp in tex  # lower is better: the lowest ARP is bold
    sig = pd.read_csv(folder / "significance.csv")
    assert set(sig["metric"]) == {"ndcg@10", "recall@10", "arp@10"}  # per-user metrics only
    assert set(sig.loc[sig["metric"] == "arp@10", "best"]) == {arp.idxmin()}
    for kind in ("popularity", "coverage"):
        assert (folder / "plots" / f"ml-100k_random_ratio_{kind}.png").stat().st_size > 0
    html = (folder / "index.html").read_text()
    assert "ARP@10 ↓" in html and "average recommendation popularity" in html
    # without --metrics: the accuracy defaults, then the beyond-accuracy ones every run has
    assert main(["leaderboard", "lb", "--tracking-uri", store["uri"], "--split", "random_ratio",
                 "--out-dir", str(store["root"] / "results"), "--name", "lb_default"]) == 0
    columns = pd.read_csv(store["root"] / "results" / "lb_default" / "leaderboard.csv").columns
    assert {"ndcg@10 ↑", "coverage@10 ↑", "gini@10 ↓", "arp@10 ↓", "ild@10 ↑",
            "popreo@10 ↓"} <= set(columns)


def test_full_runs_log_intervals_slices_and_per_user_groups(store):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store["uri"])
    runs = client.search_runs([client.get_experiment_by_name("lb").experiment_id],
                              "tags.model = 'ease' and tags.split = 'random_ratio'")
    m = runs[0].data.metrics
    assert m["test_coverage_10.ci_low"] <= m["test_coverage_10.ci_high"]
    assert 0 < m["test_coverage_count_10"] <= 1682
    for group in ("activity_q1", "activity_q4", "gender_F", "gender_M", "age_q1"):
        assert 0 <= m[f"test_ndcg_10.{group}"] <= 1
    assert m["test_ndcg_10.gender_gap"] == pytest.approx(
        abs(m["test_ndcg_10.gender_F"] - m["test_ndcg_10.gender_M"]))
    assert runs[0].data.tags["ild_vectors"] == "features"  # ml-100k's genres
    path = client.download_artifacts(runs[0].info.run_id, "per_user_test_metrics.parquet",
                                     str(store["root"]))
    frame = pd.read_parquet(path)
    assert {"arp@10", "ild@10", "group.gender", "group.activity"} <= set(frame.columns)
    assert frame.groupby("group.gender")["ndcg@10"].mean().to_dict() == pytest.approx(
        {"F": m["test_ndcg_10.gender_F"], "M": m["test_ndcg_10.gender_M"]})


def test_mixed_protocols_are_refused_unless_grouped(store, capsys):
    assert leaderboard(store) == 2
    err = capsys.readouterr().err
    assert "span 2 protocols" in err and "--group" in err and "Traceback" not in err
    assert leaderboard(store, "--group", "--name", "lb_grouped") == 0
    md = (store["root"] / "results" / "lb_grouped" / "leaderboard.md").read_text()
    assert "## ml-100k · random_ratio" in md and "## ml-100k · leave_one_out" in md
    # a single model under leave-one-out, on one seed: nothing to compare, std n/a
    loo = md.split("## ml-100k · leave_one_out")[1]
    assert "± n/a" in loo and "single model" in loo


def test_runs_without_per_user_artifacts_get_no_significance_and_a_note(store, capsys):
    root = store["root"]
    copy = root / "copy"
    shutil.copytree(root / "mlartifacts", copy / "mlartifacts")
    shutil.copy(root / "mlflow.db", copy / "mlflow.db")
    uri = f"sqlite:///{copy / 'mlflow.db'}"
    import sqlite3
    with sqlite3.connect(copy / "mlflow.db") as db:  # point the copy at its own artifacts
        db.execute("update runs set artifact_uri = replace(artifact_uri, ?, ?)",
                   (str(root / "mlartifacts"), str(copy / "mlartifacts")))
    publish = ["leaderboard", "lb", "--split", "random_ratio", "--tracking-uri", uri,
               "--out-dir", str(copy / "results"), "--metrics", "NDCG@10,ndcg@10,recall@10"]
    assert main(publish) == 0
    assert (copy / "results" / "lb" / "significance.csv").exists()
    capsys.readouterr()
    for path in (copy / "mlartifacts").rglob("per_user_test_metrics.parquet"):
        path.unlink()
    assert main(publish) == 0  # published again: the stale significance.csv must go
    out = capsys.readouterr().out
    assert "note: No significance tests" in out and "per_user_test_metrics.parquet" in out
    folder = copy / "results" / "lb"
    assert not (folder / "significance.csv").exists()
    md = (folder / "leaderboard.md").read_text()
    assert "No significance tests" in md and "### Significance" not in md and "†" not in md


def test_experiment_without_finished_runs(store, capsys):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store["uri"])
    experiment = client.create_experiment("only_failed",
                                          artifact_location=str(store["root"] / "a"))
    client.set_terminated(client.create_run(experiment).info.run_id, "FAILED")
    assert main(["leaderboard", "only_failed", "--tracking-uri", store["uri"]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: experiment only_failed has no FINISHED runs")
    assert main(["leaderboard", "lbb", "--tracking-uri", store["uri"]]) == 2
    assert "unknown experiment 'lbb'. Did you mean 'lb'?" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--tag", "nokey"], "--tag takes NAME=VALUE"),
    (["--tag", "colour=red"], "filter 'colour': no run of lb has a tag or param"),
    (["--split", "random_ration"], "unknown split 'random_ration'. Did you mean 'random_ratio'?"),
    (["--metrics", "ndcg@10,recall@50"], "metric recall@50 was not logged"),
    (["--metrics", "ndgc@10"], "ndgc"),
    (["--alpha", "1.5"], "--alpha must be in (0, 1)"),
])
def test_bad_leaderboard_arguments(store, capsys, args, message):
    assert main(["leaderboard", "lb", "--tracking-uri", store["uri"], "--group",
                 "--out-dir", str(store["root"] / "bad"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
