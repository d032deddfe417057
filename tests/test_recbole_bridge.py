"""The RecBole bridge: shims, conversion to RecBole's structures, runs, and metric parity.

Parity: on the same split and the same trained RecBole model, RecBole's own evaluator
(``Trainer.evaluate``, full ranking) and recbench's evaluator agree on Recall, NDCG, MRR,
Hit and Precision@10 to 1e-4. Two definitions differ and are pinned as differences:
RecBole's MAP@K divides by ``min(|relevant|, K)`` (recbench, like trec_eval, by
``|relevant|``), and RecBole does not mask history items for sequential models.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbench.config import build, check_buildable, compose
from recbench.data.sequences import Sequences
from recbench.errors import RecbenchError
from recbench.evaluation.metrics import per_user_metrics
from recbench.evaluation.ranker import evaluate, topk_items
from recbench.models.base import FitContext
from recbench.models.recbole import atomic
from recbench.models.recbole.catalog import supported
from recbench.models.recbole.session import (general_scores, prepare_split,
                                             sequential_scores)
from recbench.models.recbole.shims import import_recbole
from recbench.splits import build_split
from recbench.splits.base import FOLD_IN, TRAIN, VALID
from recbench.splits.leave_k_out import LeaveKOutSplit
from tests.test_cli_run import runs_of

PARITY = ["recall@10", "ndcg@10", "mrr@10", "hit@10", "precision@10"]
RECBOLE_NAMES = ["Recall", "NDCG", "MRR", "Hit", "Precision", "MAP"]


# ------------------------------------------------------------------ shims
def test_shims_fix_the_upstream_breaks_without_quick_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import_recbole()
    assert np.float_ is np.float64 and np.complex_ is np.complex128
    matrix = sp.dok_matrix((3, 4), dtype=np.float32)
    matrix._update({(0, 1): 1.0, (2, 3): 5.0})  # removed in SciPy 1.12, used by LightGCN
    assert matrix.toarray().tolist() == [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 5]]
    assert "recbole.quick_start" not in sys.modules and "ray" not in sys.modules
    import recbole.trainer.trainer as trainer_module

    trainer_module.get_tensorboard(None).add_scalar("x", 1.0, 0)  # writes nothing
    assert not (tmp_path / "log_tensorboard").exists()


# ------------------------------------------------------------------ config errors
@pytest.mark.parametrize("overrides, message", [
    (["model.name=bpr"], "RecBole has no model 'bpr'.*Did you mean 'BPR'"),
    (["model.name=LightGNC"], "Did you mean 'LightGCN'"),
    (["model.name=DeepFM"], "'DeepFM' is context-aware.*task=ctr as model=recbole_ctr"),
    (["model.name=KGAT"], "'KGAT' is knowledge-aware.*knowledge graph"),
    (["model.name=FDSA"], "'FDSA' needs item attributes"),
    (["+model.params.embeding_size=8"], "no setting 'embeding_size'. Did you mean 'embedding_size'"),
    (["+model.params.epochs=3"], "params.epochs is set by recbench.*trainer.max_epochs"),
])
def test_bad_recbole_configs_fail_in_one_line_before_anything_runs(overrides, message):
    with pytest.raises(RecbenchError, match=message) as err:
        check_buildable(compose(["model=recbole", *overrides]))
    assert "\n" not in str(err.value)


def test_the_catalog_lists_general_and_sequential_models_only():
    names = supported()
    assert {"BPR", "LightGCN", "EASE", "ItemKNN", "NeuMF", "MultiVAE", "SASRec"} <= set(names)
    assert not {"DeepFM", "KGAT", "FDSA", "DIN"} & set(names)


@pytest.mark.parametrize("option", ["recbole/bpr", "recbole/lightgcn", "recbole/ease",
                                    "recbole/itemknn", "recbole/neumf", "recbole/multivae",
                                    "recbole/sasrec"])
def test_recbole_model_files_compose_and_build(option):
    cfg = compose([f"model={option}"])
    model = build(cfg, "model")
    assert cfg.model.label == f"recbole-{model.name}"


# ------------------------------------------------------------------ conversion
def test_id_map_inverts_recboles_token_table():
    tokens = np.array(["[PAD]", "2", "0", "3"])  # RecBole id 1 is our 2, id 2 our 0, ...
    assert atomic.id_map(tokens, 5).tolist() == [2, 0, 1, 3, 0]  # 4 unseen -> padding


def test_next_item_rows_are_recboles_augmentation(tmp_path):
    seqs = Sequences(indptr=np.array([0, 3, 4, 6]), items=np.array([3, 1, 2, 0, 4, 4]),
                     n_items=5)
    atomic.write_next_item_rows(tmp_path / "x.inter", seqs, max_len=2)
    lines = (tmp_path / "x.inter").read_text().splitlines()
    assert lines[0] == "user_id:token\titem_id_list:token_seq\titem_id:token"
    # user 0: 3 -> 1, (3 1) -> 2; user 1 has one item; user 2: 4 -> 4
    assert lines[1:] == ["0\t3\t1", "0\t3 1\t2", "2\t4\t4"]


def test_sequential_scores_right_pad_and_shift_the_inputs():
    seen = {}

    class Fake:
        device = torch.device("cpu")

        def full_sort_predict(self, batch):
            seen["list"], seen["len"] = batch["seq"].tolist(), batch["len"].tolist()
            return torch.arange(2 * 5, dtype=torch.float32).reshape(2, 5)

    pad = 4
    inputs = np.array([[pad, pad, 2, 0], [pad, pad, pad, pad]])
    items = np.array([3, 1, 4, 2])  # RecBole id of our items 0..3
    scores = sequential_scores(Fake(), inputs, pad, items, "seq", "len")
    assert seen["list"] == [[4, 3, 0, 0], [0, 0, 0, 0]] and seen["len"] == [2, 1]
    assert scores.tolist() == [[3, 1, 4, 2], [8, 6, 9, 7]]


# ------------------------------------------------------------------ parity
@pytest.fixture(scope="module")
def loo(ml100k):
    return build_split(ml100k, LeaveKOutSplit().assign(ml100k), {"loo": 1})


def recbole_pipeline(split, name, kind, params, tmp_path, epochs):
    """RecBole's own data_preparation + model + trainer on a recbench split."""
    session, train, valid, test = prepare_split(
        split, name, kind, {"metric_decimal_place": 12, **params}, tmp_path / "recbench",
        seed=0, metrics=RECBOLE_NAMES)
    model = session.build_model()
    trainer = session.build_trainer(model)
    for epoch in range(epochs):
        trainer._train_epoch(train, epoch)
    model.eval()
    return session, model, {k: float(v) for k, v in trainer.evaluate(
        test, load_best_model=False, show_progress=False).items()}


def recbole_map(hits: torch.Tensor, n_rel: torch.Tensor, k: int) -> torch.Tensor:
    """RecBole's MAP@K (evaluator/metrics.py): precision at hits / min(|relevant|, K)."""
    hits = hits[:, :k].double()
    precision = hits.cumsum(1) / torch.arange(1, k + 1, dtype=torch.float64)
    return (precision * hits).sum(1) / n_rel.clamp(max=k)


@pytest.mark.parametrize("name, params, epochs", [("EASE", {}, 1),
                                                  ("BPR", {"embedding_size": 16}, 3)])
def test_recboles_evaluator_and_ours_agree_on_the_same_general_model(
        ml100k_split, tmp_path, name, params, epochs):
    split = ml100k_split
    session, model, theirs = recbole_pipeline(split, name, "general", params, tmp_path, epochs)

    def score(users):
        with torch.no_grad():
            return general_scores(model, users, session.users, session.items, "user_id",
                                  "item_id")

    seen = [split.train, split.valid]
    _, ours = evaluate(score, split.test, seen, PARITY + ["map@10"])
    for metric in PARITY:
        assert abs(ours[metric].mean() - theirs[metric]) < 1e-4, metric
    assert ours["ndcg@10"].mean() > 0.05  # a trained model, not an all-zero agreement

    # MAP differs by definition: RecBole divides by min(|relevant|, 10), we by |relevant|
    users = torch.arange(split.n_users)
    n_rel = torch.from_numpy(np.diff(split.test.indptr))[users]
    masked = torch.from_numpy((split.train + split.valid).toarray() > 0)
    relevant = torch.from_numpy(split.test.toarray() > 0)
    items, valid = topk_items(score(users), masked, 10)
    hits = (relevant.gather(1, items) & valid)[n_rel > 0]
    assert abs(recbole_map(hits, n_rel[n_rel > 0], 10).mean().item() - theirs["map@10"]) < 1e-4
    ours_again = per_user_metrics(hits, n_rel[n_rel > 0], ["map@10"])["map@10"].mean()
    assert abs(float(ours_again) - ours["map@10"].mean()) < 1e-9
    assert theirs["map@10"] - ours["map@10"].mean() > 1e-3  # the documented difference


def test_recboles_evaluator_and_ours_agree_on_a_sequential_model(loo, tmp_path):
    params = {"embedding_size": 16, "hidden_size": 16, "MAX_ITEM_LIST_LENGTH": 10}
    session, model, theirs = recbole_pipeline(loo, "GRU4Rec", "sequential", params,
                                              tmp_path, epochs=1)
    history = loo.sequences(TRAIN, FOLD_IN, VALID)

    def score(users):
        with torch.no_grad():
            return sequential_scores(model, history.last(users.numpy(), 10), history.pad,
                                     session.items, model.ITEM_SEQ, model.ITEM_SEQ_LEN)

    # RecBole masks nothing for sequential models; recbench masks the items already seen
    _, unmasked = evaluate(score, loo.test, [], PARITY)
    for metric in PARITY:
        assert abs(unmasked[metric].mean() - theirs[metric]) < 1e-4, metric
    assert unmasked["hit@10"].mean() > 3 * 10 / loo.n_items  # trained: 3x a random ranking
    _, masked = evaluate(score, loo.test, [loo.train, loo.valid], PARITY)
    assert not np.allclose(masked["hit@10"].mean(), unmasked["hit@10"].mean())


# ------------------------------------------------------------------ the bridge model in runs
def fit(model, split, epochs, seed=0, **ctx):
    trainer = {"max_epochs": epochs, "progress_bar": False, "accelerator": "cpu", "patience": 2}
    return model.fit(split.train, split.valid, FitContext(seed=seed, trainer=trainer, **ctx))


def test_bridge_is_deterministic(ml100k_split):
    def trained(seed):
        model = build(compose(["model=recbole/bpr", "model.params.embedding_size=16"]), "model")
        curves = []
        fit(model, ml100k_split, 3, seed, log=lambda values, step: curves.append(values))
        return model, curves

    first, curves = trained(0)
    again, _ = trained(0)
    other, _ = trained(1)
    users = torch.arange(50)
    assert torch.equal(first.score(users), again.score(users))
    assert not torch.equal(first.score(users), other.score(users))
    assert len(curves) == 3 and all("train_loss" in c and "epoch_valid_ndcg@10" in c
                                    for c in curves)


@pytest.mark.parametrize("option", ["recbole/bpr", "recbole/lightgcn"])
def test_bridge_restores_the_best_epoch(ml100k_split, option, monkeypatch):
    """Epoch 0 is made the best (the validation value the loop sees decreases); the final
    model must score exactly as epoch 0 did. LightGCN caches its propagated embeddings
    outside the state dict, so this also checks that those are restored."""
    import recbench.models.recbole.model as bridge

    real = []

    def falling(score, truth, exclude, metrics, chunk_size):
        users, values = evaluate(score, truth, exclude, metrics, chunk_size)
        real.append(values[metrics[0]].mean())
        return users, {metrics[0]: np.full(len(users), 1.0 / len(real))}

    monkeypatch.setattr(bridge, "evaluate", falling)
    model = build(compose([f"model={option}", "model.params.embedding_size=16",
                           "model.params.learning_rate=0.01"]), "model")
    fit(model, ml100k_split, 4)
    assert model.best_epoch == 0 and model.epochs_trained == 3  # patience 2
    assert len(set(real)) == 3  # the weights changed between validations
    _, per_user = evaluate(model.score, ml100k_split.valid, [ml100k_split.train], ["ndcg@10"])
    assert abs(per_user["ndcg@10"].mean() - real[0]) < 1e-9


def test_recbole_run_is_logged_like_a_native_model(store):
    from recbench.cli import main

    rc = main(["run", "model=recbole", "model.name=EASE", *store["overrides"]])
    assert rc == 0
    _, [run] = runs_of(store["uri"])
    assert run.info.status == "FINISHED" and run.info.run_name == "recbole-EASE-seed42"
    assert run.data.tags["model"] == "recbole-EASE"
    assert run.data.params["model.name"] == "EASE"
    # RecBole's EASE on ml-100k, random 8:1:1 split: NDCG@10 ~ 0.33, Recall@10 ~ 0.28
    assert 0.30 < run.data.metrics["test_ndcg_10"] < 0.37
    assert 0.25 < run.data.metrics["test_recall_10"] < 0.31
    # EASE's item-item weights, over RecBole's 1,682 items plus its padding item 0
    assert run.data.metrics["n_parameters"] == 1683 * 1683
    assert not (Path.cwd() / "log_tensorboard").exists() and not (Path.cwd() / "saved").exists()


def test_a_sequential_recbole_model_runs_under_leave_one_out(store):
    from recbench.cli import main

    rc = main(["run", "model=recbole", "model.name=GRU4Rec", "split=leave_one_out",
               "+model.params.embedding_size=16", "+model.params.hidden_size=16",
               "+model.params.MAX_ITEM_LIST_LENGTH=10", "trainer.max_epochs=2",
               *store["overrides"]])
    assert rc == 0
    _, [run] = runs_of(store["uri"])
    assert run.data.tags["model"] == "recbole-GRU4Rec"
    assert run.data.metrics["test_hit_10"] > 0.02  # it learned something (random: 10/1682)
