"""recbench interactions as RecBole benchmark atomic files.

RecBole's documented way to train on a pre-made split is ``benchmark_filename``: one
``<name>.<part>.inter`` file per part, read in order. recbench ids are written as tokens
(``"0"`` .. ``"n-1"``), every user and item is listed in ``<name>.user`` / ``<name>.item`` so
RecBole's id space covers all of them, and :func:`id_map` reads RecBole's remapping back.

General models read ``user_id, item_id`` rows. Sequential models read RecBole's augmented
next-item rows ``user_id, item_id_list, item_id``: the input list holds the user's
``max_len`` items before the target, oldest first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recbench.data.sequences import Sequences

USER, ITEM, ITEM_LIST = "user_id", "item_id", "item_id_list"


def _write(path: Path, frame: pd.DataFrame, types: dict[str, str]) -> None:
    frame = frame.rename(columns={c: f"{c}:{types[c]}" for c in frame.columns})
    frame.to_csv(path, sep="\t", index=False)


def write_ids(directory: Path, name: str, n_users: int, n_items: int) -> None:
    """``<name>.user`` and ``<name>.item``: every recbench user / item id as a token."""
    _write(directory / f"{name}.user", pd.DataFrame({USER: np.arange(n_users)}), {USER: "token"})
    _write(directory / f"{name}.item", pd.DataFrame({ITEM: np.arange(n_items)}), {ITEM: "token"})


def write_pairs(path: Path, matrix: sp.csr_matrix) -> None:
    """One ``user_id, item_id`` row per nonzero of ``matrix`` ``(n_users, n_items)``."""
    coo = matrix.tocoo()
    _write(path, pd.DataFrame({USER: coo.row, ITEM: coo.col}), {USER: "token", ITEM: "token"})


def _token_lists(lists: np.ndarray, pad: int) -> list[str]:
    """``(n, max_len)`` left-padded rows -> space-separated token strings without padding."""
    return [" ".join(map(str, row[row != pad])) for row in lists]


def write_next_item_rows(path: Path, sequences: Sequences, max_len: int) -> None:
    """RecBole's augmented training rows: for every item of every sequence but the first,
    ``(user, the max_len items before it, item)``."""
    lengths = sequences.lengths()
    users = np.repeat(np.arange(sequences.n_users), lengths)
    starts = np.repeat(sequences.indptr[:-1], lengths)
    positions = np.arange(len(sequences.items))
    keep = positions > starts  # a user's first item has nothing before it
    lists = sequences._gather(positions[keep], starts[keep], max_len)
    frame = pd.DataFrame({USER: users[keep], ITEM_LIST: _token_lists(lists, sequences.pad),
                          ITEM: sequences.items[keep]})
    _write(path, frame, {USER: "token", ITEM_LIST: "token_seq", ITEM: "token"})


def write_held_out_rows(path: Path, history: Sequences, part: sp.csr_matrix, max_len: int) -> None:
    """Evaluation rows: one per nonzero ``(user, item)`` of ``part``, its input the user's
    latest ``max_len`` items of ``history`` (for RecBole's own evaluator)."""
    coo = part.tocoo()
    lists = history.last(coo.row, max_len)
    frame = pd.DataFrame({USER: coo.row, ITEM_LIST: _token_lists(lists, history.pad),
                          ITEM: coo.col})
    _write(path, frame, {USER: "token", ITEM_LIST: "token_seq", ITEM: "token"})


def id_map(id_tokens: np.ndarray, n: int) -> np.ndarray:
    """``(n,) int64``: RecBole's internal id of each recbench id ``0..n-1``.

    Args:
        id_tokens: RecBole's ``field2id_token[field]``, the token of each internal id
            (index 0 is ``"[PAD]"``).
    """
    ours = id_tokens[1:].astype(np.int64)
    mapping = np.zeros(n, dtype=np.int64)  # 0 (padding) for an id RecBole never saw
    mapping[ours] = np.arange(1, len(id_tokens), dtype=np.int64)
    return mapping
