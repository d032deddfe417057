"""Shared fixtures: the embedded data set, a split of it, an isolated MLflow store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import pytest

from recbench.data import load_ml100k
from recbench.data.interactions import Interactions
from recbench.splits import RandomRatioSplit, build_split

ROOT = Path(__file__).resolve().parents[1]
QUIET = {"progress_bar": False}  #: FitContext trainer settings of model tests: no progress bar


#: the longest test files (minutes each in CI), collected first: `make test`'s two workers
#: take whole files in collection order, and a long file started last is the run's tail
LONGEST_FIRST = ("test_postgres.py", "test_ui.py", "test_reliability_tracking.py",
                 "test_cli_run.py", "test_optuna.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory):
    """Each test process gets its own $RECBENCH_CACHE (split cache, checkpoints, downloads):
    the two workers of `make test` never share a checkpoint folder, and no test reads
    what an earlier session left in the project's .cache."""
    saved = os.environ.get("RECBENCH_CACHE")
    os.environ["RECBENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if saved is None:
        os.environ.pop("RECBENCH_CACHE", None)
    else:
        os.environ["RECBENCH_CACHE"] = saved


@pytest.fixture(scope="session")
def ml100k():
    return load_ml100k()


@pytest.fixture(scope="session")
def ml100k_split(ml100k):
    return build_split(ml100k, RandomRatioSplit().assign(ml100k), {"test": True})


@pytest.fixture
def low_rank():
    """Binary matrix thresholded from a rank-4 score matrix, 120 users x 80 items."""
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(120, 4)) @ rng.normal(size=(4, 80))
    return sp.csr_matrix(scores > np.quantile(scores, 0.85), dtype=np.float32)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty MLflow store in tmp_path; the test runs with tmp_path as working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return {"uri": uri, "overrides": [f"tracking.uri={uri}",
                                      f"tracking.artifact_root={tmp_path / 'mlartifacts'}",
                                      "trainer.progress_bar=false"]}


def ndcg_on_test(model, s) -> float:
    """Mean NDCG@10 of a fitted model on the test part of split ``s`` (train and valid
    items masked): the number model tests compare against MostPop's."""
    from recbench.evaluation import evaluate

    _, values = evaluate(model.score, s.test, [s.train, s.valid], ["ndcg@10"])
    return float(values["ndcg@10"].mean())


def make_interactions(user, item, timestamp=None, name="toy") -> Interactions:
    """Interactions from raw index arrays (ids are their own raw ids)."""
    user, item = np.asarray(user, dtype=np.int64), np.asarray(item, dtype=np.int64)
    return Interactions(
        name=name, user=user, item=item,
        timestamp=None if timestamp is None else np.asarray(timestamp, dtype=np.float64),
        rating=None, user_ids=np.arange(user.max() + 1).astype(str),
        item_ids=np.arange(item.max() + 1).astype(str), source_sha256="0" * 64)


def recbench_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed `recbench` console script in a separate process."""
    exe = Path(sys.executable).with_name("recbench")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONHASHSEED": "0",
                                            "RECBENCH_CACHE": str(Path(cwd) / "cache")})
