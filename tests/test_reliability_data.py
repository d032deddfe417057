"""Hostile input to the data, split and TREC stages: a corrupt split cache is rebuilt, splits
without a valid / test part are refused, and broken files stop with one line naming
file:line and the fix (never a traceback, never a silently wrong score)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from recbench.cli import main
from recbench.data import load_dataset
from recbench.data.atomic import read_atomic_inter
from recbench.data.readers import read_adjacency, read_table
from recbench.errors import RecbenchError
from recbench.splits import (TEST, ColdUserSplit, GlobalTemporalSplit, PredefinedSplit,
                             RandomRatioSplit)
from recbench.splits.make import make_split
from tests.conftest import make_interactions


# ---------------------------------------------------------------- split cache
def test_truncated_split_cache_entry_is_rebuilt_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "all.txt").write_text("0 1 2 3 4\n1 2 3 4 5\n2 1 3 5 6\n")
    cfg = {"_target_": "recbench.data.load_dataset", "name": "toy", "format": "adjacency",
           "root": str(tmp_path), "files": {"all": "all.txt"}}
    load = lambda: load_dataset(**{k: v for k, v in cfg.items() if k != "_target_"})  # noqa: E731
    first = make_split(cfg, {"name": "r"}, load, RandomRatioSplit())
    [entry] = (tmp_path / "cache" / "splits").glob("*.npz")
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])  # a full disk, a kill

    with caplog.at_level(logging.WARNING):
        again = make_split(cfg, {"name": "r"}, load, RandomRatioSplit())
    assert again.fingerprint["cache"] == "miss"  # rebuilt, not a BadZipFile
    np.testing.assert_array_equal(again.assign, first.assign)
    [record] = [r for r in caplog.records if "corrupt" in r.getMessage()]
    assert record.levelno == logging.WARNING and str(entry) in record.getMessage()
    assert "\n" not in record.getMessage()
    assert make_split(cfg, {"name": "r"}, load, RandomRatioSplit()).fingerprint["cache"] == "hit"


# ---------------------------------------------------------------- empty split parts
@pytest.mark.parametrize("make, part", [
    (lambda: RandomRatioSplit(ratios=[1, 0, 0]), "valid"),
    (lambda: RandomRatioSplit(ratios=[0.9, 0.1, 0]), "test"),
    (lambda: ColdUserSplit(ratios=[0.9, 0, 0.1]), "valid"),
])
def test_ratios_without_a_valid_or_test_share_are_refused(make, part):
    with pytest.raises(RecbenchError, match=f"gives the {part} part no share") as err:
        make()
    assert "\n" not in str(err.value)


def test_temporal_cutoff_without_test_is_refused_but_no_validation_is_allowed():
    with pytest.raises(RecbenchError, match="split.test=0 holds out no test"):
        GlobalTemporalSplit(test=0)
    assert GlobalTemporalSplit(valid=0).valid_optional  # as predefined's valid_ratio=0


def test_run_with_ratios_1_0_0_exits_2_before_anything_is_logged(store, capsys):
    assert main(["run", "split.ratios=[1,0,0]", *store["overrides"]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: split.ratios gives the valid part no share") and "\n" not in err
    assert not Path(store["uri"].removeprefix("sqlite:///")).exists()


def test_a_split_that_leaves_a_part_empty_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    few = make_interactions([0, 0, 1, 1], [0, 1, 1, 2])  # 2 interactions per user: train-only
    with pytest.raises(RecbenchError, match=r"split 'random_ratio' leaves the valid part of "
                                            r"dataset 'toy' empty.*min_user_interactions"):
        make_split({"name": "toy"}, {"name": "random_ratio"}, lambda: few, RandomRatioSplit())
    assert not (tmp_path / "cache" / "splits").exists()  # nothing cached

    # predefined with valid_ratio=0 asks for no validation (published repros): still fine
    data = make_interactions([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 2, 3])
    data = replace(data, part=np.array([0, 0, TEST, 0, 0, TEST], dtype=np.int8))
    split = make_split({"name": "toy"}, {"name": "predefined"}, lambda: data,
                       PredefinedSplit(valid_ratio=0), use_cache=False)
    assert split.valid.nnz == 0 and split.test.nnz == 2
    with pytest.raises(RecbenchError, match="leaves the valid part"):  # asked for one: refused
        make_split({"name": "toy"}, {"name": "predefined"}, lambda: data,
                   PredefinedSplit(valid_ratio=0.1, min_user_interactions=5), use_cache=False)


# ---------------------------------------------------------------- TREC files
@pytest.mark.parametrize("run, where, expected", [
    # a 7th column on every line used to be dropped silently (pandas), scoring 0.0 / wrong
    ("q Q0 a 1 2.0 t x\nq Q0 b 2 1.0 t x\n", "run.txt:1",
     "expected 6 columns in a run line ('qid Q0 docid rank score tag'), got 7"),
    ("q Q0 a 1 2.0 t\nq Q0 b 2 1.0 t x y\n", "run.txt:2", "got 8"),
    ("q Q0 a 1 2.0 t\n\nq Q0 b first 1.0 t\n", "run.txt:3", "rank is not a number"),
    ("q Q0 a 1 high t\n", "run.txt:1", "score is not a number"),
])
def test_malformed_run_lines_name_file_line_and_format(tmp_path, capsys, run, where, expected):
    (tmp_path / "qrels.txt").write_text("q 0 a 1\nq 0 b 1\n")
    (tmp_path / "run.txt").write_text(run)
    assert main(["evaluate", "--qrels", str(tmp_path / "qrels.txt"), "--run",
                 str(tmp_path / "run.txt"), "--metrics", "ndcg@10"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{where}:" in err and expected in err, err


def test_malformed_qrels_and_train_lines_are_refused(tmp_path, capsys):
    (tmp_path / "qrels.txt").write_text("q 0 a 1 extra\n")
    (tmp_path / "run.txt").write_text("q Q0 a 1 2.0 t\n")
    (tmp_path / "train.txt").write_text("q 0 b 1\nq 0 c yes\n")
    args = ["evaluate", "--run", str(tmp_path / "run.txt"), "--metrics", "ndcg@10"]
    assert main([*args, "--qrels", str(tmp_path / "qrels.txt")]) == 2
    assert "qrels.txt:1: expected 4 columns in a qrels line ('qid 0 docid rel'), got 5" in \
        capsys.readouterr().err
    (tmp_path / "qrels.txt").write_text("q 0 a 1\n")
    assert main([*args, "--qrels", str(tmp_path / "qrels.txt"), "--train",
                 str(tmp_path / "train.txt")]) == 2
    assert "train.txt:2: rel is not a number in 'q 0 c yes'" in capsys.readouterr().err


# ---------------------------------------------------------------- data files
def test_ids_beyond_int64_are_ids_not_a_crash(tmp_path):
    big = "9" * 40
    (tmp_path / "adj.txt").write_text(f"1 2 {big}\n{big} 2\n")
    data = load_dataset(name="adj", format="adjacency", root=str(tmp_path),
                        files={"all": "adj.txt"})
    assert data.user_ids.tolist() == ["1", big] and data.item_ids.tolist() == ["2", big]
    (tmp_path / "t.csv").write_text(f"u,i\n{big},10\n3,{big}\n3,9\n")
    data = load_dataset(name="t", format="table", root=str(tmp_path), files={"all": "t.csv"},
                        columns={"user": "u", "item": "i"}, sep=",", header=True)
    assert data.user_ids.tolist() == ["3", big]  # numeric order, as for small ids
    assert data.item_ids.tolist() == ["9", "10", big]


def _readers(path: Path):
    return {"adjacency": lambda: read_adjacency(path),
            "table": lambda: read_table(path, {"user": 0, "item": 1}, header=False),
            "atomic": lambda: read_atomic_inter(path)}


@pytest.mark.parametrize("reader", ["adjacency", "table", "atomic"])
def test_non_utf8_bytes_name_file_and_line(tmp_path, reader):
    path = tmp_path / "data.txt"
    rows = b"user_id:token\titem_id:token\n" if reader == "atomic" else b""
    path.write_bytes(rows + b"1\t2\n3\t4\n5\t6 caf\xe9\n")
    with pytest.raises(RecbenchError, match="not UTF-8 text; re-save the file as UTF-8") as err:
        _readers(path)[reader]()
    line = 4 if reader == "atomic" else 3
    assert f"data.txt:{line}:" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("reader", ["adjacency", "table", "atomic"])
def test_empty_file_names_the_file(tmp_path, reader):
    path = tmp_path / "data.txt"
    path.write_text("")
    with pytest.raises(RecbenchError, match=r"data.txt: the file is empty; point dataset"):
        _readers(path)[reader]()
