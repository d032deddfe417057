"""Loading MovieLens-100K from the recbole wheel; the atomic reader's error messages."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.data import load_ml100k
from recbench.data.atomic import read_atomic_inter
from recbench.errors import RecbenchError


def test_ml100k_shape_and_ids(ml100k):
    assert (ml100k.n_users, ml100k.n_items, len(ml100k)) == (943, 1682, 100_000)
    # contiguous ids, raw ids sorted numerically ("2" before "10")
    assert ml100k.user.min() == 0 and ml100k.user.max() == 942
    assert list(ml100k.item_ids[:3]) == ["1", "2", "3"] and ml100k.item_ids[9] == "10"
    assert ml100k.timestamp is not None and ml100k.timestamp.min() > 8e8
    assert len(ml100k.source_sha256) == 64
    assert ml100k.to_csr().nnz == 100_000


def test_ml100k_is_deterministic_and_filters(ml100k):
    again = load_ml100k()
    np.testing.assert_array_equal(again.user, ml100k.user)
    np.testing.assert_array_equal(again.item, ml100k.item)
    high = load_ml100k(min_rating=4)
    assert len(high) == int((ml100k.rating >= 4).sum()) == 55_375
    assert high.rating.min() == 4


def test_min_rating_that_empties_the_data_says_so():
    with pytest.raises(RecbenchError, match="empty after filtering with min_rating=6"):
        load_ml100k(min_rating=6)


def test_atomic_reader_names_file_and_line(tmp_path):
    path = tmp_path / "x.inter"
    path.write_text("user_id:token\titem_id:token\trating:float\n1\t2\t5\n1\t3\tfive\n")
    with pytest.raises(RecbenchError, match=r"x.inter:3: rating 'five' is not a number"):
        read_atomic_inter(path)
    path.write_text("user_id:token\titem_id:token\n1\t2\n1\t3\t4\t5\n")
    with pytest.raises(RecbenchError, match="malformed row"):
        read_atomic_inter(path)
    path.write_text("user:token\titem:token\n1\t2\n")
    with pytest.raises(RecbenchError, match="lacks user_id/item_id"):
        read_atomic_inter(path)
    with pytest.raises(RecbenchError, match="not found"):
        read_atomic_inter(tmp_path / "missing.inter")
