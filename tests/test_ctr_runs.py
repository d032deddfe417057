"""CTR estimators trained through the shared Lightning glue (determinism, exact resume),
synthetic-ctr's logged optimum and gap, what a CTR run's hash covers, and a CTR
leaderboard end to end (AUC / LogLoss / gAUC columns, paired bootstrap marks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recbench.cli import main
from recbench.config import compose, config_hash
from recbench.data.ctr import load_synthetic_ctr
from recbench.models.base import FitContext
from recbench.models.ctr.deepfm import DeepFM
from recbench.models.ctr.fm import FM
from recbench.models.ctr.lr import LR
from recbench.splits import RandomRatioSplit
from recbench.tasks.ctr import CTRPrediction

SMALL = ["dataset.n_rows=4000", "dataset.cardinalities=[60,40,10]"]
RUN = ["task=ctr", "dataset=synthetic-ctr", "split=random_global", *SMALL,
       "trainer.max_epochs=3"]


@pytest.fixture(scope="module")
def parts():
    split = CTRPrediction(None).split(
        {"name": "synthetic-ctr"}, {"name": "random_global"},
        lambda: load_synthetic_ctr(n_rows=3000, cardinalities=[50, 30, 10], seed=1),
        RandomRatioSplit(scope="global", seed=0))
    return split.parts[0], split.parts[1]


def _fit(make, parts, seed, epochs, checkpoints=None, epochs_run=None):
    ctx = FitContext(seed=seed, valid_metric="auc",
                     trainer={"max_epochs": epochs, "progress_bar": False, "patience": 10},
                     checkpoint_dir=checkpoints,
                     log=None if epochs_run is None else lambda v, step: epochs_run.append(step))
    return make().fit(*parts, ctx)


#: the resume and seeding logic is the shared Lightning glue: one MLP model and LR suffice
MAKERS = {"deepfm": lambda: DeepFM(hidden=[16], batch_size=256),
          "lr": lambda: LR(batch_size=256)}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_same_seed_same_predictions_other_seed_others(name, parts):
    first, second, other = (_fit(MAKERS[name], parts, s, 2).predict(parts[1]) for s in (4, 4, 5))
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_resumed_training_ends_exactly_like_an_uninterrupted_one(name, parts, tmp_path):
    straight = _fit(MAKERS[name], parts, 2, 4)
    folder = str(tmp_path / "ckpt")
    _fit(MAKERS[name], parts, 2, 2, checkpoints=folder)  # "killed" after epoch 2
    assert torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["epoch"] == 1
    epochs_run = []
    resumed = _fit(MAKERS[name], parts, 2, 4, checkpoints=folder, epochs_run=epochs_run)
    assert sorted(set(epochs_run)) == [2, 3]  # only the missing epochs were trained
    assert resumed.best_epoch == straight.best_epoch
    assert np.array_equal(resumed.predict(parts[1]), straight.predict(parts[1]))


def test_lr_counts_only_the_weights_it_uses(parts):
    lr, fm = _fit(LR, parts, 0, 1), _fit(FM, parts, 0, 1)
    rows = sum(parts[0].sizes)
    assert lr.n_parameters() == rows + 1  # one weight per vocabulary row, and the bias
    assert fm.n_parameters() == rows * 11 + 1  # FM: plus a 10-vector per row


def test_a_ctr_run_s_hash_ignores_the_top_n_metric_suite():
    base = compose(["task=ctr", "dataset=ml-100k-ctr", "model=fm"])
    other = compose(["task=ctr", "dataset=ml-100k-ctr", "model=fm", "metrics=full",
                     "metrics.ks=[5]"])
    assert config_hash(base) == config_hash(other)
    topn = [compose(["model=ease"]), compose(["model=ease", "metrics.ks=[5]"])]
    assert config_hash(topn[0]) != config_hash(topn[1])  # there the suite is the result


def test_synthetic_runs_log_the_optimum_and_their_gap(store):
    import mlflow

    assert main(["run", *RUN, "model=fm", *store["overrides"]]) == 0
    client = mlflow.MlflowClient(store["uri"])
    [run] = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    m = run.data.metrics
    assert m["test_auc_gap"] == pytest.approx(m["test_optimal_auc"] - m["test_auc"])
    assert m["test_logloss_gap"] == pytest.approx(m["test_logloss"] - m["test_optimal_logloss"])
    assert m["test_optimal_auc"] > m["test_auc"]  # nothing beats the truth on 400 rows by luck
    assert run.data.tags["valid_metric"] == "auc"
    assert not any(k.startswith("metrics.") for k in run.data.params)  # not read, not logged
    predictions = pd.read_parquet(client.download_artifacts(run.info.run_id,
                                                            "test_predictions.parquet"))
    assert list(predictions.columns) == ["row", "user", "label", "probability"]
    assert len(predictions) == 400 and predictions["row"].is_unique


def test_ctr_leaderboard_end_to_end(store, tmp_path, capsys):
    assert main(["run", "-m", *RUN, "model=lr,fm", "seed=1,2", *store["overrides"]]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "default", "--tracking-uri", store["uri"],
                 "--out-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "AUC ↑" in out and "LogLoss ↓" in out and "gAUC ↑" in out
    # generated data: the optimum and the gaps join the default columns
    assert "Bayes-optimal AUC ↑" in out and "AUC gap to optimal ↓" in out
    assert "paired bootstrap over test users" in out
    sig = pd.read_csv(tmp_path / "out" / "default" / "significance.csv")
    assert set(sig["metric"]) == {"auc", "logloss", "gauc"} and len(sig) == 3
    assert {"boot_p", "boot_p_holm", "ci_low", "ci_high"} <= set(sig.columns)
    board = pd.read_csv(tmp_path / "out" / "default" / "leaderboard.csv")
    assert set(board["model"]) == {"lr", "fm"} and (board["seeds"] == 2).all()
    md = (tmp_path / "out" / "default" / "leaderboard.md").read_text()
    assert "paired bootstrap p (Holm)" in md and "95% interval" in md


def test_recbole_deepfm_through_the_ctr_bridge(parts):
    """RecBole's DeepFM on recbench's encoded rows: seeded, early-stopped on recbench's
    validation AUC, and it learns the pairwise signal."""
    from recbench.models.recbole.ctr import RecBoleCTR

    params = {"embedding_size": 8, "mlp_hidden_size": [16], "train_batch_size": 256,
              "learning_rate": 0.01}
    fitted = [RecBoleCTR("DeepFM", params).fit(*parts, FitContext(
        seed=s, trainer={"max_epochs": 3, "patience": 5, "progress_bar": False}))
        for s in (1, 1, 2)]
    p = [m.predict(parts[1]) for m in fitted]
    assert np.array_equal(p[0], p[1]) and not np.array_equal(p[0], p[2])
    assert p[0].shape == (len(parts[1]),) and ((p[0] > 0) & (p[0] < 1)).all()
    from recbench.evaluation.ctr import auc
    assert auc(parts[1].labels, p[0]) > 0.6
    assert fitted[0].epochs_trained == 3 and fitted[0].best_epoch is not None


def test_recbole_token_map_sends_unseen_indices_to_padding():
    from recbench.models.recbole.atomic import id_map

    mapping = id_map(np.array(["[PAD]", "4", "2"]), 6)  # RecBole's field2id_token
    assert mapping.tolist() == [0, 0, 2, 0, 1, 0]


@pytest.mark.parametrize("name, message", [
    ("BPR", "RecBole model 'BPR' is general: model=recbole_ctr runs context-aware models"),
    ("DeepFm", "RecBole has no model 'DeepFm' (names are case-sensitive). Did you mean "
               "'DeepFM'?"),
])
def test_recbole_ctr_refuses_other_models(name, message):
    from recbench.models.recbole.ctr import RecBoleCTR

    with pytest.raises(ValueError) as err:
        RecBoleCTR(name)
    assert message in str(err.value)
