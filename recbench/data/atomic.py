"""Reader for RecBole atomic files (``.inter``): tab-separated, typed header ``name:type``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from recbench.data.readers import empty_file, undecodable
from recbench.errors import RecbenchError

#: Atomic column name -> our canonical column name.
CANONICAL = {"user_id": "user", "item_id": "item", "rating": "rating", "timestamp": "timestamp"}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_atomic_inter(path: Path) -> pd.DataFrame:
    """Read a RecBole ``.inter`` file into a frame with columns user, item[, rating, timestamp].

    Raises:
        RecbenchError: the file is missing, lacks user_id/item_id, or has a malformed row
            (reported as ``file:line``).
    """
    path = Path(path)
    if not path.is_file():
        raise RecbenchError(f"data file not found: {path}; check the dataset path.")
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
    except UnicodeDecodeError:
        raise undecodable(path) from None
    if not first.strip():
        raise empty_file(path)
    header = first.rstrip("\n").split("\t")
    names = [h.split(":", 1)[0] for h in header]
    if "user_id" not in names or "item_id" not in names:
        raise RecbenchError(f"{path}:1: header {header} lacks user_id/item_id columns.")
    try:
        frame = pd.read_csv(path, sep="\t", skiprows=1, header=None, names=names, dtype=str,
                            keep_default_na=False, engine="c", on_bad_lines="error")
    except pd.errors.ParserError as err:
        detail = str(err).strip().splitlines()[-1]
        raise RecbenchError(f"{path}: malformed row ({detail}); fix the file.") from None
    except UnicodeDecodeError:
        raise undecodable(path) from None
    frame = frame.rename(columns=CANONICAL)
    frame = frame[[c for c in CANONICAL.values() if c in frame.columns]]
    for col in ("rating", "timestamp"):
        if col in frame:
            values = pd.to_numeric(frame[col], errors="coerce")
            bad = values.isna() & (frame[col] != "")
            if bad.any():
                row = int(bad.to_numpy().argmax())
                raise RecbenchError(
                    f"{path}:{row + 2}: {col} '{frame[col].iloc[row]}' is not a number; fix the row."
                )
            frame[col] = values
    return frame


def read_atomic_features(path: Path, id_column: str) -> pd.DataFrame:
    """Read a RecBole ``.item`` / ``.user`` file: one row per raw id, typed header stripped.

    Returns a frame indexed by the raw id (string), other columns as strings.
    """
    path = Path(path)
    if not path.is_file():
        raise RecbenchError(f"feature file not found: {path}; fix dataset.features.")
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [c.split(":", 1)[0] for c in frame.columns]
    if id_column not in frame:
        raise RecbenchError(f"{path}:1: no {id_column} column in {list(frame.columns)}.")
    return frame.set_index(id_column)
