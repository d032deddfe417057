"""On-disk cache of loaded data + split assignment, keyed by the split fingerprint.

A cache entry is one ``.npz`` (no pickles: ``allow_pickle=False``) holding the
interaction arrays, the id maps and the per-interaction assignment, plus the JSON
metadata. It is written to a temporary file and renamed, so a crash never leaves a
half-written entry; an entry damaged anyway (a full disk, a partial copy) is deleted with a
warning and rebuilt. The key is the sha256 of the raw file digests and the resolved
dataset + split config, so a changed input or config never reuses a stale entry.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from recbench.data.interactions import Interactions
from recbench.errors import one_line

log = logging.getLogger(__name__)

ARRAYS = ("user", "item", "timestamp", "rating", "part", "user_ids", "item_ids")


#: what a damaged entry raises when read
UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def write_npz(path: Path, meta: dict, **arrays: np.ndarray) -> None:
    """Write ``arrays`` and the JSON ``meta`` to ``path`` through a temp file and a rename:
    a crash never leaves a half-written entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".part-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta, default=str)), **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def drop_unreadable(path: Path, err: Exception, what: str) -> None:
    """Delete a damaged entry with a warning: the caller rebuilds it, instead of every run
    of the config failing until someone removes it."""
    log.warning("%s cache entry %s is corrupt (%s: %s); deleting it and rebuilding it.",
                what, path, type(err).__name__, one_line(err))
    with contextlib.suppress(OSError):  # unreadable and undeletable: the next save replaces it
        path.unlink()


def save(path: Path, data: Interactions, assign: np.ndarray) -> None:
    arrays = {k: getattr(data, k) for k in ARRAYS if getattr(data, k) is not None}
    arrays["user_ids"] = arrays["user_ids"].astype(str)
    arrays["item_ids"] = arrays["item_ids"].astype(str)
    meta = {"name": data.name, "source_sha256": data.source_sha256,
            "timestamp_kind": data.timestamp_kind, "meta": data.meta}
    write_npz(path, meta, assign=assign, **arrays)


def load(path: Path) -> tuple[Interactions, np.ndarray] | None:
    """The cached (data, assignment), or None when absent or unreadable.

    An unreadable entry (truncated by a full disk, or damaged) is deleted with a warning:
    the caller rebuilds it, instead of every run of the config failing until it is removed.
    """
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] if k in z else None for k in ARRAYS}
            assign = z["assign"]
        data = Interactions(name=meta["name"], source_sha256=meta["source_sha256"],
                            timestamp_kind=meta["timestamp_kind"], meta=meta["meta"], **arrays)
    except UNREADABLE as err:
        drop_unreadable(path, err, "split")
        return None
    return data, assign
