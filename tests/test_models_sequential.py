"""Sequential models (GRU4Rec, SASRec, BERT4Rec): sequences, windows, masks, padding,
the runner's train -> train+valid input switch, and learning on ml-100k leave-one-out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recbench.config import build, compose
from recbench.data.sequences import Sequences, user_sequences
from recbench.errors import RecbenchError
from recbench.evaluation.ranker import evaluate
from recbench.models.base import FitContext
from recbench.models.bert4rec import BERT4Rec, BERT4RecModule
from recbench.models.gru4rec import GRU4Rec, GRU4RecModule
from recbench.models.mostpop import MostPop
from recbench.models.sasrec import SASRec, SASRecModule
from recbench.models.sequential import attention_mask
from recbench.splits import build_split
from recbench.splits.base import TRAIN, VALID
from recbench.splits.leave_k_out import LeaveKOutSplit
from tests.conftest import make_interactions

N_ITEMS = 9
MODULES = {
    "sasrec": lambda: SASRecModule(N_ITEMS, 8, 6, n_layers=2, n_heads=2, dropout=0.1, loss="ce"),
    "bert4rec": lambda: BERT4RecModule(N_ITEMS, 8, 6, n_layers=2, n_heads=2, dropout=0.1,
                                       loss="ce", mask_prob=0.3),
    "gru4rec": lambda: GRU4RecModule(N_ITEMS, 8, 6, hidden=5, n_layers=2, dropout=0.1, loss="ce"),
}


# ----------------------------------------------------------------------------- sequences
def toy_sequences() -> Sequences:
    # user 0: items 3, 1, 4 at times 30, 10, 20 (row order breaks the tie of items 2 and 5)
    data = make_interactions(user=[0, 0, 0, 1, 1, 1, 0], item=[3, 1, 4, 2, 5, 0, 2],
                             timestamp=[30, 10, 20, 7, 7, 9, 40])
    return user_sequences(data)


def test_sequences_are_time_ordered_with_row_order_breaking_ties():
    seqs = toy_sequences()
    assert seqs.indptr.tolist() == [0, 4, 7]
    assert seqs.items.tolist() == [1, 4, 3, 2, 2, 5, 0]
    assert seqs.last(np.array([1, 0]), 5).tolist() == [[6, 6, 2, 5, 0], [6, 1, 4, 3, 2]]
    assert seqs.last(np.array([0]), 2).tolist() == [[3, 2]]


def test_next_item_windows_make_every_item_but_the_first_a_target_exactly_once():
    rng = np.random.default_rng(0)
    lengths = [1, 2, 5, 7, 11, 0, 3]
    users = np.repeat(np.arange(len(lengths)), lengths)
    data = make_interactions(user=users, item=rng.integers(0, 20, len(users)),
                             timestamp=rng.permutation(len(users)))
    seqs = user_sequences(data)
    max_len = 3
    windows, owner = seqs.windows(max_len + 1, max_len)
    pad = seqs.pad
    for u, n in enumerate(lengths):
        rows = windows[owner == u]
        targets = [t for r in rows for i, t in zip(r[:-1], r[1:]) if i != pad and t != pad]
        expected = seqs.items[seqs.indptr[u] + 1:seqs.indptr[u + 1]].tolist()
        assert sorted(targets) == sorted(expected)  # each target once
        assert len(rows) == max(-(-(n - 1) // max_len), 0)
        for r in rows:  # left padding only, then consecutive items of the sequence
            real = r[r != pad]
            assert (r[:len(r) - len(real)] == pad).all()
            seq = seqs.items[seqs.indptr[u]:seqs.indptr[u + 1]].tolist()
            assert any(seq[s:s + len(real)] == real.tolist() for s in range(len(seq)))
    plain, owner = seqs.windows(4, 4)  # non-overlapping: every item exactly once
    assert sorted(plain[plain != pad].tolist()) == sorted(seqs.items.tolist())


def test_split_sequences_add_the_valid_item_after_the_train_items(ml100k):
    split = build_split(ml100k, LeaveKOutSplit().assign(ml100k), {"t": 1})
    train, both = split.sequences(TRAIN), split.sequences(TRAIN, VALID)
    users = np.flatnonzero(np.diff(split.valid.indptr))
    assert (both.lengths()[users] == train.lengths()[users] + 1).all()
    assert (both.last(users, 1)[:, 0] == split.valid[users].indices).all()
    assert (both.last(users, 2)[:, 0] == train.last(users, 1)[:, 0]).all()


def test_data_without_order_has_no_sequences():
    with pytest.raises(RecbenchError, match="no timestamps or order"):
        user_sequences(make_interactions([0, 1], [1, 0]))


# ---------------------------------------------------------------------- masks and padding
def test_attention_mask_blocks_padding_keys_and_the_future():
    seq = torch.tensor([[9, 9, 1, 2]])
    causal = attention_mask(seq, pad=9, causal=True, n_heads=1)[0].int().tolist()
    assert causal == [[0, 1, 1, 1], [1, 0, 1, 1], [1, 1, 0, 1], [1, 1, 0, 0]]
    both = attention_mask(seq, pad=9, causal=False, n_heads=2)
    assert both.shape == (2, 4, 4)
    assert both[1].int().tolist() == [[0, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]]


def test_sasrec_is_causal_changing_a_later_item_never_changes_an_earlier_state():
    torch.manual_seed(0)
    module = MODULES["sasrec"]().eval()
    seq = torch.tensor([[9, 4, 1, 7, 2, 5]])
    with torch.no_grad():
        base = module.encode(seq)
        for t in range(1, 5):
            changed = seq.clone()
            changed[0, t + 1] = (changed[0, t + 1] + 3) % N_ITEMS
            out = module.encode(changed)
            torch.testing.assert_close(out[0, :t + 1], base[0, :t + 1], rtol=0, atol=0)
            assert not torch.allclose(out[0, t + 1], base[0, t + 1])


def test_bert4rec_is_bidirectional_a_later_item_changes_earlier_states():
    torch.manual_seed(0)
    module = MODULES["bert4rec"]().eval()
    seq = torch.tensor([[9, 4, 1, 7, 2, 5]])
    changed = seq.clone()
    changed[0, 5] = 0
    with torch.no_grad():
        assert not torch.allclose(module.encode(seq)[0, 2], module.encode(changed)[0, 2])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_left_padding_does_not_change_the_latest_state(name):
    torch.manual_seed(0)
    module = MODULES[name]().eval()
    short, padded = torch.tensor([[4, 1, 7]]), torch.tensor([[9, 9, 9, 4, 1, 7]])
    with torch.no_grad():
        torch.testing.assert_close(module.encode(padded)[0, -1], module.encode(short)[0, -1],
                                   rtol=1e-5, atol=1e-6)
        # and the padding actually matters to a sequence that has those items instead
        assert not torch.allclose(module.encode(torch.tensor([[2, 3, 8, 4, 1, 7]]))[0, -1],
                                  module.encode(short)[0, -1])


def test_bert4rec_scores_from_the_latest_items_plus_the_mask_token():
    module = MODULES["bert4rec"]()
    toy = toy_sequences()
    module.history = Sequences(toy.indptr, toy.items, N_ITEMS)  # the module's item count
    x = module.scoring_input(np.array([0, 1]))
    assert x.tolist() == [[N_ITEMS, 1, 4, 3, 2, N_ITEMS + 1], [N_ITEMS] * 2 + [2, 5, 0, N_ITEMS + 1]]


def test_bert4rec_masks_at_least_one_item_per_window_and_only_real_items():
    module = MODULES["bert4rec"]()
    module.generator = torch.Generator().manual_seed(0)
    seen = []
    module.target_loss = lambda hidden, targets, users: seen.append((targets, users)) or hidden.sum()
    windows = torch.tensor([[9, 9, 9, 9, 9, 3], [1, 2, 3, 4, 5, 6]])
    module.batch_loss((torch.tensor([4, 7]), windows))
    targets, users = seen[0]
    assert 3 in targets.tolist() and set(users.tolist()) <= {4, 7}
    assert 9 not in targets.tolist() and (users == 4).sum() == 1


def test_bce_loss_equals_the_hand_computed_value():
    module = MODULES["sasrec"]()
    module.loss_name, module.negatives = "bce", 2
    module.sampler = type("Fixed", (), {"sample": lambda self, u, n: torch.tensor([[0, 1], [2, 3]])})()
    hidden = torch.randn(2, 8)
    targets = torch.tensor([5, 6])
    emb = module.item_emb.weight
    pos = (hidden * emb[targets]).sum(1)
    neg = hidden @ emb[:4].T  # (2, 4): row r uses negatives r*2, r*2+1
    neg = torch.stack([neg[0, :2], neg[1, 2:]])
    expected = -(torch.log(torch.sigmoid(pos)).mean() + torch.log(torch.sigmoid(-neg)).mean())
    got = module.target_loss(hidden, targets, torch.tensor([0, 1]))
    torch.testing.assert_close(got, expected)


# ------------------------------------------------------------------ training and scoring
@pytest.fixture(scope="module")
def loo(ml100k):
    return build_split(ml100k, LeaveKOutSplit().assign(ml100k), {"loo": 1})


def fit(model, split, epochs, seed=0):
    ctx = FitContext(seed=seed, trainer={"max_epochs": epochs, "progress_bar": False,
                                         "accelerator": "cpu"},
                     sequences=split.sequences(TRAIN))
    return model.fit(split.train, split.valid, ctx)


def test_sequential_model_without_sequences_is_refused(loo):
    with pytest.raises(RecbenchError, match="sequential: pass the train sequences"):
        SASRec().fit(loo.train, loo.valid, FitContext(trainer={"max_epochs": 1}))


FAST = {"dim": 32, "batch_size": 64, "optimizer": {"lr": 3e-3}}  # a test-sized budget


@pytest.mark.parametrize("model,epochs", [
    (SASRec(dropout=0.2, **FAST), 5), (GRU4Rec(hidden=64, max_len=20, dropout=0.2, **FAST), 5),
    (BERT4Rec(dropout=0.1, **FAST), 16)], ids=["sasrec", "gru4rec", "bert4rec"])
def test_sequential_models_beat_mostpop_on_ml100k_leave_one_out(loo, model, epochs):
    pop = MostPop().fit(loo.train, loo.valid)
    _, base = evaluate(pop.score, loo.test, [loo.train, loo.valid], ["ndcg@10"])
    fit(model, loo, epochs)
    model.set_sequences(loo.sequences(TRAIN, VALID))
    _, values = evaluate(model.score, loo.test, [loo.train, loo.valid], ["ndcg@10"])
    assert values["ndcg@10"].mean() > 1.2 * base["ndcg@10"].mean()  # MostPop: 0.039


def test_same_seed_same_scores_and_set_sequences_changes_the_input(loo):
    users = torch.arange(0, 943, 50)
    a, b, c = (fit(SASRec(dim=16, max_len=10, n_layers=1), loo, 1, seed=s) for s in (3, 3, 4))
    torch.testing.assert_close(a.score(users), b.score(users), rtol=0, atol=0)
    assert not torch.allclose(a.score(users), c.score(users))
    before = a.score(users)
    a.set_sequences(loo.sequences(TRAIN, VALID))  # the valid item is now the latest input
    assert not torch.allclose(a.score(users), before)
    with pytest.raises(ValueError, match="sequences are for"):
        a.set_sequences(toy_sequences())


def test_sasrec_trains_with_the_sampled_bce_loss(loo):
    model = fit(SASRec(loss="bce", negatives=4, sampler="popularity", max_len=20), loo, 2)
    assert model.module.sampler is not None and model.epochs_trained == 2


@pytest.mark.parametrize("cls,kwargs,match", [
    (SASRec, {"n_heads": 3}, "n_heads must divide dim"), (SASRec, {"loss": "bpr"}, "loss must be one of"),
    (SASRec, {"max_len": 0}, "max_len must be >= 1"), (GRU4Rec, {"hidden": 0}, "hidden must be >= 1"),
    (GRU4Rec, {"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    (BERT4Rec, {"mask_prob": 0.0}, r"mask_prob must be in \(0, 1\)"),
    (BERT4Rec, {"sampler": "zipf"}, "sampler must be one of"),
])
def test_bad_arguments_are_refused_in_one_line(cls, kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        cls(**kwargs)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name,cls", [("sasrec", SASRec), ("gru4rec", GRU4Rec),
                                      ("bert4rec", BERT4Rec)])
def test_configs_compose_and_build(name, cls):
    model = build(compose([f"model={name}", "split=leave_one_out"]), "model")
    assert type(model) is cls and model.uses_sequences


def test_the_runner_feeds_train_sequences_then_adds_the_valid_item_for_testing(store,
                                                                               monkeypatch):
    from recbench.cli import main
    from recbench.models.sequential import SequentialRecommender

    given = []
    original = SequentialRecommender.set_sequences

    def record(self, sequences):
        given.append(sequences.lengths().copy())
        original(self, sequences)

    monkeypatch.setattr(SequentialRecommender, "set_sequences", record)
    rc = main(["run", "model=sasrec", "split=leave_one_out", "model.dim=8", "model.max_len=5",
               "model.n_layers=1", "trainer.max_epochs=1", *store["overrides"]])
    assert rc == 0 and len(given) == 2  # before validation, then before testing
    valid_users = given[1] > given[0]
    assert (given[1] - given[0])[valid_users].max() == 1 and valid_users.sum() > 900
