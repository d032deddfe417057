"""Load any registered data set: find its files, read them, preprocess, remap ids.

A data set is described by its ``configs/dataset/<name>.yaml`` (the keyword arguments of
:func:`load_dataset`). ``root`` says where the files are:

- ``recbole:<name>`` — the example data shipped inside the recbole wheel (ml-100k);
- ``shared:<folder>`` — ``$RECBENCH_SHARED_DATA/<folder>``, default ``../shared/data`` next
  to the project checkout;
- ``download:<name>`` — fetched once (sha256-checked) into ``$RECBENCH_CACHE/downloads``;
- anything else — a directory, relative to the project root.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from recbench.data.atomic import read_atomic_features, read_atomic_inter, sha256_file
from recbench.data.interactions import TEST, TRAIN, Interactions, from_frame
from recbench.data.preprocess import apply_counts, apply_duplicates, apply_min_rating
from recbench.data.readers import read_adjacency, read_table
from recbench.errors import RecbenchError, unknown_choice
from recbench.paths import PROJECT_ROOT

FORMATS = ("atomic", "adjacency", "table")
PARTS = {"all": None, "train": TRAIN, "test": TEST}


def shared_data_dir() -> Path:
    return Path(os.environ.get("RECBENCH_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


def cache_dir() -> Path:
    return Path(os.environ.get("RECBENCH_CACHE", PROJECT_ROOT / ".cache"))


def resolve_root(root: str, files: dict[str, str]) -> Path:
    """Directory holding a data set's files (downloading them first for ``download:``)."""
    scheme, _, rest = str(root).partition(":")
    if scheme == "recbole" and rest:
        from recbench.data.movielens import recbole_example_dir
        return recbole_example_dir(rest)
    if scheme == "shared" and rest:
        return shared_data_dir() / rest
    if scheme == "download" and rest:
        from recbench.data.download import fetch_dataset
        return fetch_dataset(rest, cache_dir() / "downloads")
    path = Path(root)
    return path if path.is_absolute() else PROJECT_ROOT / path


def source_digest(root: str, files: dict[str, str]) -> str:
    """sha256 over the sha256 of each raw file (with its part): identifies the raw bytes."""
    directory = resolve_root(root, dict(files))
    digest = hashlib.sha256()
    for part, filename in sorted(files.items()):
        path = directory / filename
        if not path.is_file():
            raise RecbenchError(f"data file not found: {path}; check the dataset root/files.")
        digest.update(f"{part}:{sha256_file(path)};".encode())
    return digest.hexdigest()


def _read(path: Path, format: str, columns: dict | None, sep: str | None, header: bool,
          ordered: bool) -> pd.DataFrame:
    if format == "atomic":
        return read_atomic_inter(path)
    if format == "adjacency":
        return read_adjacency(path, ordered=ordered)
    return read_table(path, columns or {"user": 0, "item": 1}, sep=sep, header=header,
                      ordered=ordered)


def load_dataset(name: str, format: str, root: str, files: dict[str, str],
                 columns: dict[str, str | int] | None = None, sep: str | None = None,
                 header: bool = False, ordered: bool = False,
                 features: dict[str, str] | None = None, min_rating: float | None = None,
                 duplicates: str = "first", user_core: int = 0, item_core: int = 0,
                 min_user_interactions: int = 0, min_item_interactions: int = 0) -> Interactions:
    """Read, preprocess and remap one data set.

    Args:
        name: data set name (used in messages and tags).
        format: ``atomic`` (RecBole ``.inter``), ``adjacency`` (``user item item ...``
            lines) or ``table`` (delimited text / parquet with ``columns``).
        root: where the files are (see the module docstring).
        files: part -> file name: ``{"all": f}`` for one file, or ``{"train": f, "test": g}``
            for a data set with a predefined split (each row then carries its part).
        columns, sep, header: for ``table`` files (see :func:`read_table`).
        ordered: rows / lines are in time order without times: positions become ordinal
            timestamps (sequence data sets).
        features: ``{"user": file, "item": file}`` RecBole atomic side-information files.
        min_rating: keep ratings ``>= min_rating`` (explicit to implicit).
        duplicates: repeated (user, item) pairs: ``first``, ``last``, ``sum`` or ``keep``.
        user_core, item_core: iterative k-core (0 = off).
        min_user_interactions, min_item_interactions: one-pass minimum counts (0 = off).
    """
    if format not in FORMATS:
        raise unknown_choice("dataset format", format, FORMATS)
    unknown = set(files) - set(PARTS)
    if unknown or not files or ("all" in files and len(files) > 1):
        raise RecbenchError(f"dataset.files of '{name}' must be {{all: FILE}} or "
                            f"{{train: FILE, test: FILE}}, got {dict(files)}.")
    directory = resolve_root(root, dict(files))
    frames = []
    for part, filename in ((p, files[p]) for p in PARTS if p in files):  # all | train, test
        frame = _read(directory / filename, format, columns, sep, header, ordered)
        if PARTS[part] is not None:
            frame["part"] = PARTS[part]
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    n_raw = len(frame)
    frame = apply_min_rating(frame, min_rating, name)
    frame = apply_duplicates(frame, duplicates, name)
    frame = apply_counts(frame, name, user_core, item_core, min_user_interactions,
                         min_item_interactions)
    data = from_frame(frame, name=name, source_sha256=source_digest(root, files),
                      timestamp_kind="ordinal" if ordered else "seconds",
                      meta={"path": str(directory), "raw_rows": n_raw, "rows": len(frame)})
    if features:
        data = with_features(data, root, features)
    return data


def with_features(data: Interactions, root: str, features: dict[str, str]) -> Interactions:
    """Attach RecBole atomic user / item feature tables, aligned to the contiguous ids."""
    from dataclasses import replace

    directory = resolve_root(root, {})
    found = {}
    for kind, filename in features.items():
        if kind not in ("user", "item"):
            raise RecbenchError(f"dataset.features keys must be user/item, got '{kind}'.")
        table = read_atomic_features(directory / filename, f"{kind}_id")
        ids = data.user_ids if kind == "user" else data.item_ids
        found[f"{kind}_features"] = table.reindex(pd.Index(ids, name=f"{kind}_id"))
    return replace(data, **found)
