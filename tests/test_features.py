"""CTR feature encoders: fitted on train only, deterministic, plain data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recbench.data.features import MISSING, OOV, FieldEncoder, FieldSpec, fit_encoders

TRAIN = pd.DataFrame({"city": ["b", "a", "a", None, "c", "b", "a"],
                      "genres": ["x|y", "y", "", None, "y|z|x", "y", "x"],
                      "count": [1, 5, None, 3, 100, 7, 2]})
TEST = pd.DataFrame({"city": ["a", "d", None, "c"], "genres": ["z|q", "x|y|z", None, "y"],
                     "count": [2, None, 1000, -4]})


def test_categorical_vocabulary_comes_from_train_by_count_then_value():
    [enc] = fit_encoders(TRAIN, [FieldSpec("city")])
    assert enc.vocabulary == ["a", "b", "c"]  # 3, 2, 1 train rows
    assert enc.transform(TEST["city"]).tolist() == [2, OOV, MISSING, 4]  # "d": test only
    [rare] = fit_encoders(TRAIN, [FieldSpec("city", min_count=2)])
    assert rare.vocabulary == ["a", "b"] and rare.transform(TEST["city"]).tolist()[3] == OOV
    assert enc.size == 5  # missing, out of vocabulary, a, b, c


def test_sequences_pad_truncate_and_share_the_categorical_rule():
    [enc] = fit_encoders(TRAIN, [FieldSpec("genres", "sequence", max_len=2)])
    assert enc.vocabulary == ["y", "x", "z"]  # y 4, x 3, z 1
    assert enc.transform(TEST["genres"]).tolist() == [[4, OOV], [3, 2], [0, 0], [2, 0]]


def test_numeric_transforms():
    log, bucket = fit_encoders(TRAIN, [FieldSpec("count", "numeric", transform="log"),
                                       FieldSpec("count", "numeric", transform="bucket",
                                                 buckets=3)])
    assert log.transform(TEST["count"]) == pytest.approx([np.log(3), 0.0, np.log(1001), 0.0])
    edges = np.quantile([1, 5, 3, 100, 7, 2], [1 / 3, 2 / 3])  # train rows only
    assert bucket.edges == pytest.approx(edges)
    assert bucket.transform(TEST["count"]).tolist() == [2, MISSING, 4, 2]
    assert not log.spec.indexed and bucket.spec.indexed and log.size == 0


def test_fitting_never_reads_test_rows():
    both = pd.concat([TRAIN, TEST], ignore_index=True)
    specs = [FieldSpec("city"), FieldSpec("genres", "sequence"),
             FieldSpec("count", "numeric", transform="bucket")]
    from_train = [e.to_dict() for e in fit_encoders(TRAIN, specs)]
    assert [e.to_dict() for e in fit_encoders(both.iloc[:len(TRAIN)], specs)] == from_train
    assert [e.to_dict() for e in fit_encoders(both, specs)] != from_train


def test_encoders_are_plain_data():
    for enc in fit_encoders(TRAIN, [FieldSpec("city"), FieldSpec("genres", "sequence"),
                                    FieldSpec("count", "numeric", transform="bucket")]):
        again = FieldEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
        column = TEST[enc.spec.name]
        assert np.array_equal(again.transform(column), enc.transform(column))


def test_bad_specs():
    with pytest.raises(ValueError, match="kind must be one of"):
        FieldSpec("x", kind="text")
    with pytest.raises(ValueError, match="not columns of the data"):
        fit_encoders(TRAIN, [FieldSpec("zip")])
