"""split.train_fraction (recbench/splits/fraction.py) and `recbench study data-fraction`:
nested seeded subsets of each user's train part, valid and test untouched, the left-out
rows masked but never trained on, hashes unchanged at 1.0, and the published curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recbench.cli import main
from recbench.config import compose, config_hash, resolved
from recbench.data.interactions import TEST, TRAIN, VALID
from recbench.splits.fraction import HIDDEN, hide_train


def test_subsets_are_nested_seeded_and_keep_ceil_f_n_per_user():
    rng = np.random.default_rng(0)
    user = np.repeat(np.arange(50), rng.integers(1, 30, size=50))
    assign = rng.choice([TRAIN, TRAIN, TRAIN, VALID, TEST], size=len(user)).astype(np.int8)
    n_train = np.bincount(user[assign == TRAIN], minlength=50)
    kept = {}
    for f in (0.1, 0.25, 0.5, 1.0):
        out = hide_train(user, assign, f, seed=7)
        assert np.array_equal(out == VALID, assign == VALID)  # valid and test untouched
        assert np.array_equal(out == TEST, assign == TEST)
        counts = np.bincount(user[out == TRAIN], minlength=50)
        expected = np.where(n_train > 0, np.maximum(np.ceil(f * n_train), 1), 0)
        assert np.array_equal(counts, expected)
        assert np.array_equal((out == TRAIN) | (out == HIDDEN), assign == TRAIN)
        kept[f] = set(np.flatnonzero(out == TRAIN))
    assert kept[0.1] <= kept[0.25] <= kept[0.5] <= kept[1.0]
    assert kept[1.0] == set(np.flatnonzero(assign == TRAIN))
    other = set(np.flatnonzero(hide_train(user, assign, 0.5, seed=8) == TRAIN))
    assert other != kept[0.5]  # the seed decides which rows


def test_the_full_fraction_changes_no_hash_or_fingerprint(ml100k, tmp_path, monkeypatch):
    """Runs logged before the key existed keep their config hash and split fingerprint:
    finished runs are still found, and leaderboards still pair them with new ones."""
    from recbench.config import build
    from recbench.splits.make import make_split

    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path))
    with_key, without = compose(["model=ease"]), compose(["model=ease", "~split.train_fraction"])
    assert "train_fraction" in with_key.split and "train_fraction" not in without.split
    assert config_hash(with_key) == config_hash(without)
    assert config_hash(compose(["model=ease", "split.train_fraction=0.5"])) != config_hash(without)
    prints = []
    for cfg in (with_key, without, compose(["model=ease", "split.train_fraction=0.5"])):
        plain = resolved(cfg)
        prints.append(make_split(plain["dataset"], plain["split"], lambda: ml100k,
                                 build(cfg, "split")).fingerprint["sha256"])
    assert prints[0] == prints[1] != prints[2]


class Oracle:
    """Scores 1 on the given items of each user, 0 elsewhere."""

    uses_sequences = False

    def __init__(self, items: sp.csr_matrix):
        self.items = items

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.items[users.numpy()].toarray().astype(np.float32))


def test_hidden_rows_are_masked_like_train(ml100k, tmp_path, monkeypatch):
    """An oracle that also scores the hidden rows top scores as on the full split: had
    the hidden rows not been masked, they would crowd the test items out of the lists."""
    from recbench.config import build
    from recbench.splits.make import make_split

    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path))
    scored = {}
    for f in (1.0, 0.5):
        cfg = compose(["model=mostpop", f"split.train_fraction={f}"])
        plain = resolved(cfg)
        split = make_split(plain["dataset"], plain["split"], lambda: ml100k, build(cfg, "split"))
        task = build(cfg, "task")
        if f < 1:
            assert split.hidden.nnz > 0.4 * (split.train.nnz + split.hidden.nnz)
            assert split.train.multiply(split.hidden).nnz == 0
        scored[f] = task.evaluate(Oracle(split.test + split.hidden), split).metrics
    assert scored[0.5]["test_recall@10"] == pytest.approx(scored[1.0]["test_recall@10"])
    assert scored[0.5]["test_ndcg@10"] == pytest.approx(scored[1.0]["test_ndcg@10"])
    assert scored[1.0]["test_recall@10"] > 0.5


def test_bad_fractions_and_ctr_say_one_line(store, capsys):
    for value, words in (("0", "must be a fraction in (0, 1]"), ("1.5", "must be a fraction")):
        assert main(["run", "model=mostpop", f"split.train_fraction={value}",
                     *store["overrides"]]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
    assert main(["run", "task=ctr", "dataset=ml-100k-ctr", "split=random_global", "model=lr",
                 "split.train_fraction=0.5", *store["overrides"]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: split.train_fraction applies to top-N splits (each user's train "
                   "interactions); a CTR split keeps every train row: leave it at 1.0, "
                   "got 0.5."]


def test_the_study_runs_each_model_on_each_fraction_and_publishes_curves(store, tmp_path, capsys):
    common = [*store["overrides"], "metrics.bootstrap=0", "tracking.energy=false"]
    assert main(["run", "-m", "model=mostpop,itemknn", "seed=1", "name=lb", *common]) == 0
    capsys.readouterr()
    out = tmp_path / "results"
    args = ["study", "data-fraction", "lb", "--fractions", "0.25,1", "--seeds", "1,2",
            "--tracking-uri", store["uri"], "--out-dir", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("done: ") == 8 and "[8/8] mostpop · ml-100k · random_ratio f=1 seed=2" \
        in printed and "[lb_data_fraction] test ndcg@10=" in printed
    table = pd.read_csv(out / "lb" / "data_fraction" / "data_fraction.csv")
    assert len(table) == 4 and (table["seeds"] == 2).all()
    full = pd.read_csv(out / "lb" / "data_fraction" / "data_fraction.csv").set_index(
        ["model", "fraction"])["mean"]
    # f=1 re-runs the leaderboard's configuration: the same numbers (deterministic models)
    from recbench.report.runs import finished_runs
    from mlflow import MlflowClient

    original = finished_runs(MlflowClient(store["uri"]), ["lb"]).set_index("tag.model")
    for model in ("mostpop", "itemknn"):
        assert full[(model, 1.0)] == pytest.approx(original.loc[model, "test_ndcg_10"], abs=1e-6)
        assert full[(model, 0.25)] < full[(model, 1.0)]  # less data, lower accuracy
    assert (out / "lb" / "data_fraction" / "data_fraction.png").stat().st_size > 0
    assert "| dataset | split | model | f=0.25 | f=1 |" in (
        out / "lb" / "data_fraction" / "data_fraction.md").read_text()
    assert main(args) == 0  # resumed: nothing runs again
    assert capsys.readouterr().out.count("skip: ") == 8
    for bad, words in ((["--fractions", "0,1"], "--fractions takes fractions in (0, 1]"),
                       (["--metric", "ndcg@ten"], "ndcg@ten"),
                       (["--out-dir", str(tmp_path / "results" / "lb" / "data_fraction" /
                                          "data_fraction.csv")], "cannot write the study")):
        assert main([*args, *bad]) == 2
        captured = capsys.readouterr()
        assert words in captured.err and len(captured.err.strip().splitlines()) == 1
        assert "done: " not in captured.out  # nothing ran


def test_early_stopping_masks_the_hidden_rows_as_the_reported_metric_does(store):
    """The epoch kept is the best one under the same masks as the logged valid metric: the
    best point of the per-epoch curve is the final validation value."""
    import mlflow

    assert main(["run", "model=bpr", "split.train_fraction=0.5", "trainer.max_epochs=3",
                 "tracking.energy=false", "metrics.bootstrap=0", *store["overrides"]]) == 0
    client = mlflow.MlflowClient(store["uri"])
    [run] = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    curve = client.get_metric_history(run.info.run_id, "epoch_valid_ndcg_10")
    assert len(curve) == 3
    assert max(m.value for m in curve) == pytest.approx(run.data.metrics["valid_ndcg_10"],
                                                        abs=1e-12)
