"""The data set registry, readers, preprocessing, `recbench data`, downloads through the loader."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile

import numpy as np
import pandas as pd
import pytest

from recbench.cli import main
from recbench.config import build, compose, group_options
from recbench.data import TEST, TRAIN, load_dataset
from recbench.data.preprocess import apply_counts, apply_duplicates
from recbench.data.readers import read_adjacency, read_table
from recbench.errors import RecbenchError

SHARED = [n for n in group_options("dataset")
          if compose([f"dataset={n}"]).dataset.get("root", "").startswith(("shared:", "recbole:"))]


def test_registry_covers_every_shared_folder():
    from recbench.data.loader import shared_data_dir
    folders = {p.name for p in shared_data_dir().iterdir() if p.is_dir()}
    roots = {compose([f"dataset={n}"]).dataset.root.split(":")[1].split("/")[0] for n in SHARED}
    assert folders <= roots
    assert {"ml-1m", "ml-20m", "amazon-book", "yelp2018", "synthetic"} <= set(group_options("dataset"))


@pytest.mark.parametrize("name", SHARED)
def test_every_registered_data_set_loads(name):
    data = build(compose([f"dataset={name}"]), "dataset")()
    smoke = name in ("criteo-sample", "fuxictr-tiny")  # CTR samples: 100-300 rows
    assert len(data) > (100 if smoke else 1000) and data.user.max() == data.n_users - 1
    assert data.item.max() == data.n_items - 1 and len(data.source_sha256) == 64


def test_gowalla_m1_statistics_match_the_published_ones(capsys, tmp_path):
    assert main(["data", "describe", "dataset=gowalla_m1", "--out-dir", str(tmp_path)]) == 0
    md = (tmp_path / "datasets" / "gowalla_m1.md").read_text()
    for row in ("| users | 29,858 |", "| items | 40,981 |", "| train | 810,128 |",
                "| test | 217,242 |"):
        assert row in md
    index = (tmp_path / "datasets" / "README.md").read_text()
    assert "| [gowalla_m1](gowalla_m1.md) | 29,858 | 40,981 | 1,027,370 | 810,128 | 217,242 |" in index


def test_ml100k_has_features():
    data = build(compose(["dataset=ml-100k"]), "dataset")()
    assert data.item_features.loc["1", "movie_title"] == "Toy Story"
    assert list(data.user_features.columns) == ["age", "gender", "occupation", "zip_code"]
    assert len(data.item_features) == data.n_items


def test_data_list(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "gowalla_m1" in out and "download:ml-1m" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "unverified (trust on first use): train.txt" in rows["amazon-book"]
    assert "sha256 pinned" in rows["ml-1m"]


def test_readers_report_file_and_line(tmp_path):
    bad = tmp_path / "adj.txt"
    bad.write_text("0 1 2\n1 3 x4\n")
    with pytest.raises(RecbenchError, match=r"adj.txt:2: 'x4' is not an integer id"):
        read_adjacency(bad)
    seq = tmp_path / "seq.txt"
    seq.write_text("7 5 3 9\n8 1\n")
    frame = read_adjacency(seq, ordered=True)
    assert frame.values.tolist() == [["7", "5", 0.0], ["7", "3", 1.0], ["7", "9", 2.0],
                                     ["8", "1", 0.0]]
    csv = tmp_path / "r.csv"
    csv.write_text("u,i,t\n1,2,2019-01-01\n1,3,yesterday\n")
    with pytest.raises(RecbenchError, match=r"r.csv:3: timestamp 'yesterday' is not a number or a date"):
        read_table(csv, {"user": "u", "item": "i", "timestamp": "t"}, sep=",", header=True)
    with pytest.raises(RecbenchError, match=r"no column 'rating'"):
        read_table(csv, {"user": "u", "item": "i", "rating": "rating"}, sep=",", header=True)
    csv.write_text("u,i,t\n1,2,2019-01-01T00:00:00\n")
    parsed = read_table(csv, {"user": "u", "item": "i", "timestamp": "t"}, sep=",", header=True)
    assert parsed["timestamp"].tolist() == [1546300800.0]


def test_duplicate_policies_and_k_core():
    frame = pd.DataFrame({"user": ["a", "a", "a", "b"], "item": ["x", "x", "y", "x"],
                          "rating": [1.0, 2.0, 3.0, 4.0], "timestamp": [5.0, 1.0, 2.0, 3.0]})
    first = apply_duplicates(frame, "first", "t")
    assert first[first.item == "x"].query("user == 'a'")["rating"].tolist() == [2.0]  # earliest
    last = apply_duplicates(frame, "last", "t")
    assert last.query("user == 'a' and item == 'x'")["rating"].tolist() == [1.0]
    summed = apply_duplicates(frame, "sum", "t")
    row = summed.query("user == 'a' and item == 'x'")
    assert row["rating"].tolist() == [3.0] and row["timestamp"].tolist() == [1.0]
    assert len(apply_duplicates(frame, "keep", "t")) == 4
    # 2-core: b has one interaction -> dropped; then y has one -> dropped; x keeps a's two
    core = apply_counts(frame, "t", user_core=2, item_core=2)
    assert sorted(zip(core.user, core.item)) == [("a", "x"), ("a", "x")]
    with pytest.raises(RecbenchError, match="empty after k-core filtering"):
        apply_counts(frame, "t", user_core=5)


def test_min_rating_that_empties_names_the_filter():
    with pytest.raises(RecbenchError, match="empty after filtering with min_rating=99"):
        build(compose(["dataset=lastfm_hetrec2011", "dataset.min_rating=99999999"]), "dataset")()


@pytest.fixture
def served_zip(tmp_path, monkeypatch):
    """A zip with ratings.dat served on 127.0.0.1, registered as download 'toy'."""
    archive = tmp_path / "served" / "toy.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("toy/ratings.dat", "1::10::5::100\n1::11::3::200\n2::10::4::300\n")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(archive.parent), **k)
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from recbench.data import downloads
    entry = {"url": f"http://127.0.0.1:{server.server_port}/toy.zip",
             "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
             "archive_member": "toy/ratings.dat", "source": "test", "bytes": None}
    monkeypatch.setitem(downloads.DOWNLOADS, "toy", entry)
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    yield entry
    server.shutdown()


def test_download_root_fetches_verifies_and_loads(served_zip, tmp_path):
    spec = dict(name="toy", format="table", root="download:toy", files={"all": "ratings.dat"},
                columns={"user": 0, "item": 1, "rating": 2, "timestamp": 3}, sep="::")
    data = load_dataset(**spec)
    assert (data.n_users, data.n_items, len(data)) == (2, 2, 3)
    assert (tmp_path / "cache" / "downloads" / "toy" / "toy.zip").is_file()
    served_zip["sha256"] = "0" * 64  # the cached archive no longer matches: refetch, refuse
    (tmp_path / "cache" / "downloads" / "toy" / "toy" / "ratings.dat").unlink()
    with pytest.raises(RecbenchError, match="checksum mismatch"):
        load_dataset(**spec)


def test_predefined_parts_are_read(tmp_path):
    (tmp_path / "train.txt").write_text("0 1 2\n1 2 3\n")
    (tmp_path / "test.txt").write_text("0 3\n1 1\n")
    data = load_dataset(name="toy", format="adjacency", root=str(tmp_path),
                        files={"train": "train.txt", "test": "test.txt"})
    assert np.bincount(data.part).tolist() == [4, 0, 2]
    rows = data.item_ids[data.item] == "3"
    assert dict(zip(data.user_ids[data.user[rows]], data.part[rows])) == {"1": TRAIN, "0": TEST}


def test_changed_raw_file_never_reuses_the_cache(tmp_path, monkeypatch):
    from recbench.splits import RandomRatioSplit
    from recbench.splits.make import make_split

    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "all.txt").write_text("0 1 2 3 4\n1 2 3 4 5\n")
    cfg = {"_target_": "recbench.data.load_dataset", "name": "toy", "format": "adjacency",
           "root": str(raw), "files": {"all": "all.txt"}}
    load = lambda: load_dataset(**{k: v for k, v in cfg.items() if k != "_target_"})  # noqa: E731
    first = make_split(cfg, {"name": "r"}, load, RandomRatioSplit())
    assert make_split(cfg, {"name": "r"}, load, RandomRatioSplit()).fingerprint["cache"] == "hit"
    (raw / "all.txt").write_text("0 1 2 3 4\n1 2 3 4 6\n")  # one item changed
    changed = make_split(cfg, {"name": "r"}, load, RandomRatioSplit())
    assert changed.fingerprint["cache"] == "miss"
    assert changed.fingerprint["sha256"] != first.fingerprint["sha256"]
    assert "6" in changed.data.item_ids and "6" not in first.data.item_ids
