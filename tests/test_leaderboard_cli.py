"""`recbench leaderboard` end to end on a real MLflow store: every output format, the
results index, and bad input (no finished runs, missing per-user artifacts, mixed
protocols, a single seed) answered with a message, never a crash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from recbench.cli import main


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Runs of 4 models x 2 seeds (random 80/10/10) + MostPop under leave-one-out, seed 1."""
    root = tmp_path_factory.mktemp("lb")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    common = [f"tracking.uri={uri}", f"tracking.artifact_root={root / 'mlartifacts'}",
              "trainer.progress_bar=false", "name=lb", "metrics.ks=[10]"]
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
