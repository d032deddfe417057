"""MovieLens-100K, embedded: read from the atomic files shipped inside the recbole wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from recbench.data.atomic import read_atomic_inter, sha256_file
from recbench.data.interactions import Interactions, from_frame
from recbench.errors import RecbenchError


def recbole_example_dir(name: str) -> Path:
    """Directory ``recbole/dataset_example/<name>`` inside the installed recbole package.

    Found through importlib without importing recbole (its import pulls in heavy deps).
    """
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise RecbenchError("package 'recbole' is not installed; run `make install`.")
    return Path(list(spec.submodule_search_locations)[0]) / "dataset_example" / name


def load_ml100k(min_rating: float | None = None) -> Interactions:
    """Load MovieLens-100K as implicit feedback: each rating is one positive interaction.

    Args:
        min_rating: keep only ratings ``>= min_rating`` (1..5); None keeps all 100,000.
    """
    path = recbole_example_dir("ml-100k") / "ml-100k.inter"
    frame = read_atomic_inter(path)
    data = from_frame(frame, name="ml-100k", source_sha256=sha256_file(path), min_rating=min_rating)
    data.meta["path"] = str(path)
    return data
