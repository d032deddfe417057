"""CTR data sets published as labelled CSV files: BARS' ``*_x1`` sets (train/valid/test,
reczoo/Datasets layout) and small samples (DeepCTR, FuxiCTR), one row per impression.

Every column named in ``fields`` is a model input; ``label_column`` is the click (0/1). The parts
a data set publishes are kept as they are (``split=predefined``); a single file can be
split like any other CTR data set (``split=random_global``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recbench.data.ctr import CTRData
from recbench.data.features import FieldSpec
from recbench.data.interactions import TEST, TRAIN, VALID, Interactions
from recbench.errors import RecbenchError

PARTS = {"train": TRAIN, "valid": VALID, "test": TEST}
#: the column gAUC groups by when a data set names no user field (Criteo): one group
NO_USER = "__all__"


def _read(path, sep: str, **kwargs) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""],
                           **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise RecbenchError(f"cannot read {path}: {str(err).splitlines()[0]}; check the "
                            f"file (a CSV with a header line).") from None


def _checked(path, label: str, columns: list[str], sep: str, labels_only: bool = False
             ) -> pd.DataFrame:
    """The file's label and field columns (only its label with ``labels_only``), after
    checking that every column exists and every label is 0 or 1."""
    header = _read(path, sep, nrows=0).columns
    missing = [c for c in dict.fromkeys([label, *columns]) if c not in header]
    if missing:
        raise RecbenchError(f"{path} has no column(s) {', '.join(missing)} (it has "
                            f"{', '.join(header[:12])}); fix dataset.fields or "
                            f"dataset.label_column.")
    wanted = {label} if labels_only else {label, *columns}
    # only the label and the fields: Criteo-size files hold nothing else in memory
    frame = _read(path, sep, usecols=lambda c: c in wanted)
    values = frame[label].fillna("").str.strip()
    bad = ~values.isin(["0", "1", "0.0", "1.0"])
    if bad.any():
        raise RecbenchError(f"label column '{label}' of {path} must hold 0 or 1; line "
                            f"{int(np.argmax(bad.to_numpy())) + 2} holds '{values[bad].iloc[0]}'"
                            f" ({int(bad.sum())} such row{'s' * (int(bad.sum()) != 1)}); set "
                            f"dataset.label_column to the "
                            f"click column.")
    return frame


def _paths(name: str, root: str, files: dict[str, str]) -> dict[str, object]:
    """part -> path of each file (downloaded first when ``root`` says so)."""
    from recbench.data.loader import resolve_root

    unknown = set(files) - set(PARTS) - {"all"}
    if unknown or not files or ("all" in files and len(files) > 1):
        raise RecbenchError(f"dataset.files of '{name}' takes train/valid/test or one 'all' "
                            f"file, got {', '.join(files)}.")
    folder = resolve_root(root, dict(files))
    paths = {part: folder / filename for part, filename in files.items()}
    for path in paths.values():
        if not path.is_file():
            raise RecbenchError(f"data file not found: {path}; check dataset.root and "
                                f"dataset.files.")
    return paths


def _columns(fields: list[dict], user_field: str | None, item_field: str | None
             ) -> tuple[tuple[FieldSpec, ...], list[str]]:
    specs = tuple(FieldSpec(**f) for f in fields)
    return specs, [s.name for s in specs] + [c for c in (user_field, item_field)
                                             if c and c not in {s.name for s in specs}]


def check_ctr_files(name: str, root: str, files: dict[str, str], label_column: str,
                    fields: list[dict], user_field: str | None = None,
                    item_field: str | None = None, sep: str = ",") -> None:
    """What :func:`load_ctr_files` checks, read cheaply (headers and the label column):
    run by ``recbench run`` before any run starts, so a missing file, field or label
    column, or a label that is not 0/1, is one line and nothing is logged."""
    _, columns = _columns(fields, user_field, item_field)
    for path in _paths(name, root, files).values():
        _checked(path, label_column, columns, sep, labels_only=True)


def load_ctr_files(name: str, root: str, files: dict[str, str], label_column: str,
                   fields: list[dict], user_field: str | None = None,
                   item_field: str | None = None, sep: str = ",") -> CTRData:
    """Read labelled CSV files into :class:`~recbench.data.ctr.CTRData`.

    Args:
        name: the data set's name.
        root: folder of the files (``shared:``, ``download:`` or a path, as for top-N sets).
        files: part -> file name; parts ``train``, ``valid``, ``test`` (all three: kept as
            published), or ``all`` (one file, split by the run's protocol).
        label_column: the click column (values 0/1).
        fields: the model inputs, as :class:`~recbench.data.features.FieldSpec` dicts.
        user_field: the column gAUC groups by (None: one group, gAUC = AUC).
        item_field: the column read as the item of each row (protocols that need items).
        sep: the column separator.
    """
    from recbench.data.loader import source_digest

    specs, columns = _columns(fields, user_field, item_field)
    frames, parts = [], []
    for part, path in _paths(name, root, files).items():
        frame = _checked(path, label_column, columns, sep)
        frames.append(frame)
        parts.append(np.full(len(frame), PARTS.get(part, TRAIN), dtype=np.int8))
    frame = pd.concat(frames, ignore_index=True)
    labels = frame[label_column].str.strip().astype(float).astype(np.int8).to_numpy()
    if user_field is None:
        frame[NO_USER] = "all"
    users, user_ids = pd.factorize(frame[user_field or NO_USER].fillna(""), sort=True)
    items, item_ids = pd.factorize(frame[item_field].fillna("") if item_field else
                                   pd.Series(np.zeros(len(frame), np.int64)), sort=True)
    digest = source_digest(root, dict(files))
    interactions = Interactions(
        name=name, user=users.astype(np.int64), item=items.astype(np.int64),
        timestamp=np.arange(len(frame), dtype=np.float64), rating=None,
        user_ids=np.asarray(user_ids).astype(str), item_ids=np.asarray(item_ids).astype(str),
        source_sha256=digest, timestamp_kind="ordinal",
        part=None if "all" in files else np.concatenate(parts))
    kept = frame[list(dict.fromkeys([*columns, user_field or NO_USER]))]
    return CTRData(interactions, kept.reset_index(drop=True), labels, specs,
                   user_field=user_field or NO_USER)


load_ctr_files.check = check_ctr_files  # what `recbench run` calls before any run starts
