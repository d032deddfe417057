"""``recbench data export``: a split as files another system can train on and predict for,
with ``protocol.json``, so that its rankings (or CTR probabilities) can come back as a run
(:mod:`recbench.models.submission`).

Top-N, per format (raw ids throughout):

- ``csv/``: ``items.csv`` (the catalogue every list ranks, in recbench's item order:
  equal scores rank the earlier item first), ``train.csv`` (user, item[, timestamp]),
  ``valid.csv``, ``fold_in.csv`` (cold users' interactions, read at scoring time, never
  trained on; only under cold-user protocols), and per part asked for
  (``--part``) ``<part>_users.csv`` (the users to rank) and ``<part>_masked.csv`` (each
  such user's items the ranking leaves out: train, and validation at test).
- ``trec/``: the same as qrels (``user 0 item 1``), topics (one user a line) and
  ``items.txt``.
- ``recbole/``: RecBole atomic files ``<dataset>.train.inter``, ``.valid.inter``,
  ``.fold_in.inter``, ``.<part>_masked.inter``, ``.<part>_users.user`` and ``.items.item``.

CTR (``csv`` only): ``train.csv`` and ``valid.csv`` (``row_id``, the fields, ``label``) and
``test.csv`` (``row_id`` and the fields, no label).

The test part's held-out items (and CTR test labels) are never written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from recbench.errors import RecbenchError, unknown_choice

FORMATS = ("csv", "trec", "recbole")
PARTS = ("test", "valid")
MASKING = {"valid": "train, fold-in and train rows left out by split.train_fraction",
           "test": "train, fold-in, train rows left out by split.train_fraction, and valid"}


def parse_choices(text: str, choices: tuple[str, ...], what: str) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``, each one of ``choices``."""
    values = list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    if not values:
        raise RecbenchError(f"{what} takes a comma-separated list of {', '.join(choices)}.")
    for value in values:
        if value not in choices:
            raise unknown_choice(what, value, choices)
    return values


def _out_folder(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise RecbenchError(f"--out {out} is a file: name a folder (created if missing).")
    return out


def export(cfg, out: Path, formats: list[str], parts: list[str]) -> list[Path]:
    """Write the split of the composed run config ``cfg`` under ``out``; return the files."""
    from recbench.config import build, metric_names, resolved

    out = _out_folder(out)
    task = build(cfg, "task")
    plain = resolved(cfg)
    load, protocol = build(cfg, "dataset"), build(cfg, "split")
    if task.name == "ctr":
        if formats != ["csv"]:
            raise RecbenchError(f"a CTR split is exported as CSV rows only, got --format "
                                f"{','.join(formats)}: use --format csv.")
        split = task.split(plain["dataset"], plain["split"], load, protocol)
        files = _ctr_files(load(), split)
        about = {"task": "ctr", "metrics": ["auc", "logloss", "gauc"],
                 "submission": "a CSV 'row_id,probability' (one line per row of the part, "
                               "probabilities in [0, 1]) per part: test.csv's rows, and "
                               "valid.csv's for validation"}
    else:
        split = task.split(plain["dataset"], plain["split"], load, protocol)
        if "trec" in formats:
            _check_trec_ids(split.data)
        files = _topn_files(split, formats, parts)
        names = metric_names(cfg)
        about = {"task": "topn", "masking": {p: MASKING[p] for p in parts},
                 "metrics": names, "valid_metric": str(cfg.metrics.valid_metric),
                 "k": max(int(m.split("@")[1]) for m in names),
                 "submission": "a TREC run file 'user Q0 item rank score tag' (raw ids) per "
                               "part: the top-k items of each of <part>_users, masked items "
                               "left out, ranked by score (highest first; write distinct "
                               "scores, e.g. k - rank)"}
    fingerprint = split.fingerprint
    protocol_json = {
        "dataset": cfg.dataset.name, "split": cfg.split.name,
        "split_fingerprint": fingerprint["sha256"], "data_fingerprint": fingerprint["data_sha256"],
        "header": f"# recbench protocol {fingerprint['sha256']}",
        "header_note": "write it as the first line of each submitted file: a file made for "
                       "another split is then refused",
        **about, "parts": parts if task.name != "ctr" else ["test", "valid"],
        "stats": fingerprint["stats"],
        "files": sorted(name for name in files),
    }
    writers = {**{out / name: frame for name, frame in files.items()},
               out / "protocol.json": lambda p: p.write_text(json.dumps(protocol_json,
                                                                        indent=2) + "\n")}
    written = []
    try:
        for path, write in writers.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            written.append(path)
            write(path)
    except OSError as err:  # a folder in a file's place, a read-only disk, ...
        for done in written:  # nothing half-written stays behind
            if done.is_file():
                done.unlink()
        raise RecbenchError(f"cannot write {path} "
                            f"({err.strerror or err}): name another --out folder.") from None
    return written


def _check_trec_ids(data) -> None:
    for what, ids in (("user", data.user_ids), ("item", data.item_ids)):
        spaced = [i for i in np.asarray(ids).astype(str) if len(i.split()) != 1]
        if spaced:
            raise RecbenchError(f"{len(spaced)} {what} ids of dataset '{data.name}' hold "
                                f"white space (e.g. '{spaced[0]}'), which TREC files cannot "
                                f"carry: use --format csv.")


def _pairs(data, rows: np.ndarray, timestamps: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame({"user": data.user_ids[data.user[rows]],
                          "item": data.item_ids[data.item[rows]]})
    if timestamps and data.timestamp is not None:
        times = data.timestamp[rows]
        whole = np.isfinite(times).all() and (times == np.round(times)).all()
        frame["timestamp"] = times.astype(np.int64) if whole else times
    return frame


def _matrix_pairs(data, matrix, users: np.ndarray) -> pd.DataFrame:
    sub = matrix[users].tocoo()
    return pd.DataFrame({"user": data.user_ids[users[sub.row]], "item": data.item_ids[sub.col]})


def _topn_files(split, formats: list[str], parts: list[str]) -> dict:
    """``{relative path: write(path)}`` of every file of the top-N export."""
    from recbench.evaluation.ranker import seen_matrix
    from recbench.splits.base import FOLD_IN, TRAIN, VALID
    from recbench.tasks.topn import TopNRanking

    data = split.data
    tables = {"train": _pairs(data, np.flatnonzero(split.assign == TRAIN)),
              "valid": _pairs(data, np.flatnonzero(split.assign == VALID))}
    if split.fold_in.nnz:  # cold users (split=cold_user): read at scoring time only
        tables["fold_in"] = _pairs(data, np.flatnonzero(split.assign == FOLD_IN))
    users = {}
    for part in parts:
        truth = split.test if part == "test" else split.valid
        targets = np.flatnonzero(np.diff(truth.indptr) > 0)
        masked = seen_matrix(truth.shape, TopNRanking._masked(split)
                             + ([split.valid] if part == "test" else [])).tocsr()
        users[part] = pd.DataFrame({"user": data.user_ids[targets]})
        tables[f"{part}_masked"] = _matrix_pairs(data, masked, targets)
    items = pd.DataFrame({"item": data.item_ids})  # the catalogue, in recbench's order
    files = {}
    for fmt in formats:
        files |= _items_file(fmt, items, data.name)
        for name, frame in tables.items():
            files |= _pairs_file(fmt, name, frame, data.name)
        for part, frame in users.items():
            files |= _users_file(fmt, part, frame, data.name)
    return files


def _pairs_file(fmt: str, name: str, frame: pd.DataFrame, dataset: str) -> dict:
    if fmt == "csv":
        return {f"csv/{name}.csv": lambda p: frame.to_csv(p, index=False)}
    if fmt == "trec":
        qrels = pd.DataFrame({"qid": frame["user"], "iter": 0, "docid": frame["item"], "rel": 1})
        return {f"trec/{name}.qrels": lambda p: qrels.to_csv(p, sep=" ", header=False,
                                                              index=False)}
    columns = {"user": "user_id:token", "item": "item_id:token", "timestamp": "timestamp:float"}
    atomic = frame.rename(columns=columns)
    return {f"recbole/{dataset}.{name}.inter": lambda p: atomic.to_csv(p, sep="\t", index=False)}


def _items_file(fmt: str, items: pd.DataFrame, dataset: str) -> dict:
    if fmt == "csv":
        return {"csv/items.csv": lambda p: items.to_csv(p, index=False)}
    if fmt == "trec":
        return {"trec/items.txt": lambda p: items.to_csv(p, header=False, index=False)}
    atomic = items.rename(columns={"item": "item_id:token"})
    return {f"recbole/{dataset}.items.item": lambda p: atomic.to_csv(p, sep="\t", index=False)}


def _users_file(fmt: str, part: str, frame: pd.DataFrame, dataset: str) -> dict:
    if fmt == "csv":
        return {f"csv/{part}_users.csv": lambda p: frame.to_csv(p, index=False)}
    if fmt == "trec":
        return {f"trec/{part}.topics": lambda p: frame.to_csv(p, header=False, index=False)}
    atomic = frame.rename(columns={"user": "user_id:token"})
    return {f"recbole/{dataset}.{part}_users.user": lambda p: atomic.to_csv(p, sep="\t",
                                                                            index=False)}


def _ctr_files(data, split) -> dict:
    """Train and valid rows with labels, test rows without, each with its ``row_id`` (the
    row's position in the data set: what a submission names)."""
    from recbench.splits.base import TEST, TRAIN, VALID

    files = {}
    for name, part, labelled in (("train", TRAIN, True), ("valid", VALID, True),
                                 ("test", TEST, False)):
        ids = split.parts[part].ids
        frame = data.frame.iloc[ids].reset_index(drop=True)
        frame.insert(0, "row_id", ids)
        if labelled:
            frame["label"] = data.labels[ids]
        files[f"csv/{name}.csv"] = lambda p, frame=frame: frame.to_csv(p, index=False)
    return files
