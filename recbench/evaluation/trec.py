"""Score an external ranking in TREC format with recbench's metrics.

qrels: ``qid 0 docid rel`` (whitespace separated); a doc is relevant when ``rel > 0``.
run:   ``qid Q0 docid rank score tag``; the rank column is ignored and each query's docs
       are ordered by score, highest first, ties broken by docid in descending string order
       — exactly as trec_eval does, so results agree with trec_eval / pytrec_eval.

Means are over the queries of the qrels with at least one relevant doc; a query missing
from the run scores 0 on every metric.

Beyond-accuracy metrics also need the train interactions (``train``, in the qrels format
``qid 0 docid 1``): popularity, the short head (rule ``head_share``, 0.8) and the ILD item
vectors (train columns) come from them; the catalogue is every docid of train, qrels and
run. Catalogue metrics are single values over the evaluated queries, with the train docs
of a query as its masked items (PopRSP's candidates).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from recbench.errors import RecbenchError
from recbench.evaluation.popularity import ItemStats
from recbench.evaluation.ranker import RankedChunk
from recbench.evaluation.registry import REGISTRY, parse_metric
from recbench.evaluation.suite import evaluate_chunks


#: Column layout of each TREC file kind, as error messages show it.
LAYOUTS = {"qrels": ("qid", "0", "docid", "rel"),
           "run": ("qid", "Q0", "docid", "rank", "score", "tag")}


def header_lines(path: Path) -> list[str]:
    """The leading lines of a file that start with ``#`` (a submitted run's header, e.g.
    ``# recbench protocol <sha256>``), without the ``#``. A UTF-8 byte order mark (written by
    some Windows tools) is not part of the first line."""
    lines = []
    try:
        with open(path, encoding="utf-8-sig") as f:
            for line in f:
                if not line.startswith("#"):
                    break
                lines.append(line[1:].strip())
    except UnicodeDecodeError:
        from recbench.data.readers import undecodable
        raise undecodable(path) from None
    return lines


def _read_columns(path: Path, what: str, skip: int = 0) -> pd.DataFrame:
    """Read a whitespace-separated ``what`` file (a key of :data:`LAYOUTS`) as strings.

    Every line must have exactly the layout's number of columns: an extra column would
    otherwise shift or drop columns silently. ``skip``: lines of a header
    (:func:`header_lines`) skipped.
    """
    from recbench.data.readers import undecodable

    n = len(LAYOUTS[what])
    if not Path(path).is_file():
        raise RecbenchError(f"{what} file not found: {path}")
    try:  # the column count comes from the first line; a longer line is a ParserError
        frame = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, engine="c",
                            keep_default_na=False, na_values=[], encoding="utf-8",
                            skiprows=skip)
        ok = frame.shape[1] == n and not (frame == "").any(axis=None)
    except pd.errors.ParserError:
        ok = False
    except pd.errors.EmptyDataError:
        raise RecbenchError(f"{path}: the {what} file is empty; expected lines "
                            f"'{' '.join(LAYOUTS[what])}'.") from None
    except UnicodeDecodeError:
        raise undecodable(path) from None
    if not ok:
        lineno, text = _first_bad_line(path, lambda fields: len(fields) != n, skip)
        raise RecbenchError(f"{path}:{lineno}: expected {n} columns in a {what} line "
                            f"('{' '.join(LAYOUTS[what])}'), got {len(text.split())}: '{text}'")
    return frame


def _first_bad_line(path: Path, bad, skip: int = 0) -> tuple[int, str]:
    """Number and text of the first non-blank line, after ``skip`` header lines, whose
    fields satisfy ``bad``."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if lineno > skip and fields and bad(fields):
                return lineno, line.strip()[:200]
    return 0, ""


def _not_number(text: str) -> bool:
    return bool(pd.isna(pd.to_numeric(pd.Series([text]), errors="coerce")).iloc[0])


def _numeric(frame: pd.DataFrame, col: int, path: Path, what: str, skip: int = 0) -> pd.Series:
    """Column ``col`` as numbers; a non-number stops with its file:line."""
    values = pd.to_numeric(frame[col], errors="coerce")
    if values.isna().any():
        lineno, text = _first_bad_line(path, lambda fields: _not_number(fields[col]), skip)
        layout = LAYOUTS[what]
        raise RecbenchError(f"{path}:{lineno}: {layout[col]} is not a number in '{text}'; "
                            f"a {what} line is '{' '.join(layout)}'.")
    return values


def read_qrels(path: Path) -> pd.DataFrame:
    """Frame ``qid, docid, rel`` (strings, strings, float) of a TREC qrels file."""
    frame = _read_columns(path, "qrels")
    return pd.DataFrame({"qid": frame[0], "docid": frame[2],
                         "rel": _numeric(frame, 3, path, "qrels")})


def read_run(path: Path, comments: bool = False) -> pd.DataFrame:
    """Frame ``qid, docid, pos``: each query's docs ordered as trec_eval orders them.

    ``pos`` is the 0-based position after sorting by score desc, ties by docid desc.
    ``comments``: skip a header of leading ``#`` lines (:func:`header_lines`).
    """
    skip = len(header_lines(path)) if comments and Path(path).is_file() else 0
    frame = _read_columns(path, "run", skip)
    _numeric(frame, 3, path, "run", skip)  # the rank is unused, but a non-number is a broken line
    # trec_eval keeps scores as C floats: compare them in float32 to rank exactly as it does
    run = pd.DataFrame({"qid": frame[0], "docid": frame[2],
                        "score": _numeric(frame, 4, path, "run", skip).astype(np.float32)})
    repeated = run.duplicated(["qid", "docid"])
    if repeated.any():
        row = run[repeated].iloc[0]
        raise RecbenchError(f"{path}: doc '{row.docid}' appears twice for query '{row.qid}'; "
                            f"a run must rank each doc once (trec_eval refuses duplicates too).")
    run = run.sort_values(["qid", "score", "docid"], ascending=[True, False, False],
                          kind="stable")
    run["pos"] = run.groupby("qid", sort=False).cumcount()
    return run[["qid", "docid", "pos"]]


def evaluate_trec(qrels: pd.DataFrame, run: pd.DataFrame, metrics: Sequence[str],
                  train: pd.DataFrame | None = None) -> dict[str, float]:
    """Mean of each metric over qrels queries with >= 1 relevant doc (missing run => 0);
    catalogue metrics as one value. ``train``: :func:`read_qrels` of the train file,
    required by the beyond-accuracy metrics."""
    if not metrics:
        raise RecbenchError("no metrics given; e.g. --metrics ndcg@10,recall@20.")
    parsed = [parse_metric(m) for m in metrics]
    beyond = [m for m, (name, _) in zip(metrics, parsed) if REGISTRY[name].kind != "accuracy"]
    if train is None and beyond:
        raise RecbenchError(f"{', '.join(beyond)} need the train interactions: pass --train "
                            f"FILE (qrels format: qid 0 docid 1).")
    k_max = max(k for _, k in parsed)
    relevant = qrels[qrels["rel"] > 0].drop_duplicates(["qid", "docid"])
    queries = pd.Index(sorted(relevant["qid"].unique()))
    if len(queries) == 0:
        raise RecbenchError("the qrels file has no query with a relevant document (rel > 0).")
    train = relevant.iloc[:0] if train is None else \
        train[train["rel"] > 0].drop_duplicates(["qid", "docid"])
    # rows: the queries first, then users known from train only; columns: every docid
    docs = pd.Index(sorted(set(train["docid"]) | set(relevant["docid"]) | set(run["docid"])))
    users = queries.append(pd.Index(sorted(set(train["qid"]) - set(queries))))

    def matrix(frame: pd.DataFrame) -> sp.csr_matrix:
        return sp.csr_matrix((np.ones(len(frame), np.float32),
                              (users.get_indexer(frame["qid"]), docs.get_indexer(frame["docid"]))),
                             shape=(len(users), len(docs)))

    top = run[(run["pos"] < k_max) & run["qid"].isin(queries)]
    at = (torch.from_numpy(queries.get_indexer(top["qid"]).astype(np.int64)),
          torch.from_numpy(top["pos"].to_numpy(np.int64)))
    items = torch.zeros(len(queries), k_max, dtype=torch.int64)
    items[at] = torch.from_numpy(docs.get_indexer(top["docid"]).astype(np.int64))
    valid = torch.zeros(len(queries), k_max, dtype=torch.bool)
    valid[at] = True
    found = top.merge(relevant[["qid", "docid"]], on=["qid", "docid"])
    hits = torch.zeros(len(queries), k_max, dtype=torch.bool)
    hits[torch.from_numpy(queries.get_indexer(found["qid"]).astype(np.int64)),
         torch.from_numpy(found["pos"].to_numpy(np.int64))] = True
    n_rel = torch.from_numpy(relevant.groupby("qid").size().reindex(queries).to_numpy())
    seen = matrix(train)  # a query's train docs: its masked items (PopRSP's candidates)
    stats = ItemStats.from_train(seen, item_vectors="interactions") if beyond else None
    chunk = RankedChunk(np.arange(len(queries)), items, valid, hits, n_rel)
    result = evaluate_chunks([chunk], metrics, seen, matrix(relevant), stats)
    values = {m: float(np.mean(v)) for m, v in result.per_user.items()} | result.per_run
    return {m: values[m] for m in metrics} | {m: v for m, v in values.items() if m not in metrics}
