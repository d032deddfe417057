"""Readers, one small function per file format; each returns a frame of raw tokens.

Every reader returns a ``pandas.DataFrame`` with string columns ``user`` and ``item``
(raw ids, remapped later) and, where the format has them, numeric ``rating`` and
``timestamp``. Formats without real times but with a meaningful order (sequence files)
get ``timestamp`` = the 0-based position of the interaction in its user's sequence or in
the file, and the caller records that these are *ordinal* times, not seconds.

Malformed input stops with ``file:line`` and the offending text.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from recbench.errors import RecbenchError

_INT = re.compile(r"^-?\d+$")


def _require(path: Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise RecbenchError(f"data file not found: {path}; check the dataset root/files "
                            f"(or the shared data folder).")
    return path


def undecodable(path: Path) -> RecbenchError:
    """The error for a file that is not UTF-8 text, naming its first undecodable line."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):  # a UTF-8 sequence never contains b"\n"
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return RecbenchError(f"{path}:{lineno}: byte {raw[err.start:err.start + 1]!r} is "
                                     f"not UTF-8 text; re-save the file as UTF-8 (e.g. iconv "
                                     f"-f latin1 -t utf-8).")
    return RecbenchError(f"{path}: not UTF-8 text; re-save the file as UTF-8.")


def empty_file(path: Path) -> RecbenchError:
    """The error for a data file without a single line of data."""
    return RecbenchError(f"{path}: the file is empty; point dataset.root/files at the file "
                         f"with the interactions (or delete it to download it again).")


def _bad_token_line(path: Path, lines: list[str], check) -> RecbenchError:
    for lineno, line in enumerate(lines, 1):
        bad = [t for t in line.split() if not check(t)]
        if bad:
            return RecbenchError(f"{path}:{lineno}: '{bad[0]}' is not an integer id: "
                                 f"'{line.strip()[:120]}'")
    return RecbenchError(f"{path}: unreadable ids")


def read_adjacency(path: Path, ordered: bool = False) -> pd.DataFrame:
    """One line per user: ``user item item ...`` (whitespace separated integer ids).

    Args:
        ordered: the items of a line are in chronological order (S3-Rec sequence files):
            ``timestamp`` is then each item's 0-based position in the line.
    """
    path = _require(path)
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise undecodable(path) from None
    if not lines:
        raise empty_file(path)
    lengths = np.fromiter((len(line.split()) for line in lines), dtype=np.int64, count=len(lines))
    tokens = " ".join(lines).split()
    try:
        ids = np.array(tokens, dtype=np.int64)
    except ValueError:
        raise _bad_token_line(path, lines, _INT.match) from None
    except OverflowError:  # ids beyond int64 (e.g. 20+ digits) are still ids: Python ints
        if not all(map(_INT.match, tokens)):
            raise _bad_token_line(path, lines, _INT.match) from None
        ids = np.array([int(t) for t in tokens], dtype=object)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    is_user = np.zeros(len(ids), dtype=bool)
    is_user[starts] = True
    users = np.repeat(ids[starts], lengths - 1)
    frame = pd.DataFrame({"user": users.astype(str), "item": ids[~is_user].astype(str)})
    if ordered:
        line_start = np.repeat(starts + 1, lengths - 1)
        frame["timestamp"] = (np.flatnonzero(~is_user) - line_start).astype(np.float64)
    return frame


def read_table(path: Path, columns: dict[str, str | int], sep: str | None = None,
               header: bool = True, ordered: bool = False) -> pd.DataFrame:
    """Delimited text (CSV/TSV/whitespace/``::``) or parquet with a column mapping.

    Args:
        columns: canonical name -> source column (name, or 0-based position when the file
            has no header), e.g. ``{"user": "userId", "item": "movieId", "rating": "rating",
            "timestamp": "timestamp"}``. ``user`` and ``item`` are required.
        sep: field separator; None means any whitespace. Ignored for ``.parquet``.
        header: the first line names the columns.
        ordered: rows are in chronological order but carry no time (BERT4Rec / SASRec
            files): ``timestamp`` is the row's 0-based position in the file.
    """
    path = _require(path)
    if not {"user", "item"} <= set(columns):
        raise RecbenchError(f"columns for {path.name} must map at least user and item, "
                            f"got {sorted(columns)}.")
    if path.suffix == ".parquet":
        raw = pd.read_parquet(path)
    else:
        try:
            raw = pd.read_csv(path, sep=sep if sep is not None else r"\s+",
                              header=0 if header else None, dtype=str, keep_default_na=False,
                              engine="python" if sep and len(sep) > 1 else "c")
        except pd.errors.ParserError as err:
            raise RecbenchError(f"{path}: malformed row ({str(err).strip().splitlines()[-1]}); "
                                f"fix the file.") from None
        except pd.errors.EmptyDataError:
            raise empty_file(path) from None
        except UnicodeDecodeError:
            raise undecodable(path) from None
    missing = [src for src in columns.values() if src not in raw.columns]
    if missing:
        raise RecbenchError(f"{path}: no column {missing[0]!r}; columns are "
                            f"{list(raw.columns)[:12]}. Fix dataset.columns.")
    frame = pd.DataFrame({name: raw[src] for name, src in columns.items()})
    frame["user"], frame["item"] = frame["user"].astype(str), frame["item"].astype(str)
    for name in ("user", "item"):
        blank = frame[name].str.strip() == ""
        if blank.any():
            row = int(blank.to_numpy().argmax())
            raise RecbenchError(f"{path}:{row + 1 + header}: empty {name} id.")
    for name in ("rating", "timestamp"):
        if name in frame:
            frame[name] = _numeric(frame[name], path, name, header)
    if ordered and "timestamp" not in frame:
        frame["timestamp"] = np.arange(len(frame), dtype=np.float64)
    return frame


def _numeric(values: pd.Series, path: Path, name: str, header: bool) -> pd.Series:
    parsed = pd.to_numeric(values, errors="coerce")
    if name == "timestamp" and parsed.isna().any():  # dates such as 2019-03-01T10:00:00
        dates = pd.to_datetime(values, errors="coerce", utc=True)
        parsed = parsed.fillna(pd.Series(dates.astype("int64") / 1e9, index=values.index)
                               .where(dates.notna()))
    if parsed.isna().any():
        row = int(parsed.isna().to_numpy().argmax())
        raise RecbenchError(f"{path}:{row + 1 + header}: {name} '{values.iloc[row]}' is not "
                            f"{'a number or a date' if name == 'timestamp' else 'a number'}.")
    return parsed.astype(np.float64)
