"""ml-100k-ctr: every rating a labelled row, split by the top-N protocols, encoded from
train only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recbench.data.ctr import load_ml100k_ctr
from recbench.data.features import OOV, fit_encoders
from recbench.data.loader import resolve_root
from recbench.splits.base import TEST, TRAIN
from recbench.splits.temporal_global import GlobalTemporalSplit


def test_every_rating_is_a_row_labelled_by_the_threshold():
    data = load_ml100k_ctr(threshold=4)
    root = resolve_root("recbole:ml-100k", {"all": "ml-100k.inter"})
    raw = pd.read_csv(root / "ml-100k.inter", sep="\t")  # the file itself, read apart
    assert len(data) == len(raw) == 100_000 and data.name == "ml-100k-ctr"
    assert data.labels.mean() == (raw["rating:float"] >= 4).mean()
    assert load_ml100k_ctr(threshold=5).labels.mean() == (raw["rating:float"] >= 5).mean()
    first = data.frame.iloc[0]  # raw line 1: user 196 rated item 242 at 881250949
    assert (first.user_id, first.item_id, first.gender, first.occupation) == \
        ("196", "242", "M", "writer")
    assert pd.Timestamp(881250949, unit="s").hour == int(first.hour)
    toy_story = data.frame[data.frame.item_id == "1"].iloc[0]
    assert toy_story.genres.split(" ") == ["Animation", "Children's", "Comedy"]


def test_protocols_split_the_rows_and_encoders_see_train_only():
    data = load_ml100k_ctr()
    parts = GlobalTemporalSplit(test=0.1, valid=0.1).assign(data)
    assert np.bincount(parts).tolist() == [81_000, 9_000, 10_000]
    ts = data.timestamp
    assert ts[parts == TRAIN].max() <= ts[parts == TEST].min()  # no future in train
    train = data.frame[parts == TRAIN]
    encoders = fit_encoders(train, list(data.fields))
    users = encoders[0]
    assert set(users.vocabulary) == set(train.user_id)
    test_users = users.transform(data.frame.user_id[parts == TEST])
    unseen = ~data.frame.user_id[parts == TEST].isin(set(train.user_id)).to_numpy()
    assert unseen.any() and (test_users[unseen] == OOV).all() and (test_users[~unseen] > 1).all()
