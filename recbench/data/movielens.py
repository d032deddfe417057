"""MovieLens-100K, embedded: the atomic files shipped inside the recbole wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from recbench.errors import RecbenchError


def recbole_example_dir(name: str) -> Path:
    """Directory ``recbole/dataset_example/<name>`` inside the installed recbole package.

    Found through importlib without importing recbole (its import pulls in heavy deps).
    """
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise RecbenchError("package 'recbole' is not installed; run `make install`.")
    path = Path(list(spec.submodule_search_locations)[0]) / "dataset_example" / name
    if not path.is_dir():
        raise RecbenchError(f"recbole ships no example data set '{name}' (looked in {path}).")
    return path


def load_ml100k(min_rating: float | None = None):
    """MovieLens-100K as implicit feedback (each rating one interaction), with features.

    The same as ``dataset=ml-100k``; see ``configs/dataset/ml-100k.yaml``.
    """
    from recbench.data.loader import load_dataset

    return load_dataset(name="ml-100k", format="atomic", root="recbole:ml-100k",
                        files={"all": "ml-100k.inter"},
                        features={"user": "ml-100k.user", "item": "ml-100k.item"},
                        min_rating=min_rating)
