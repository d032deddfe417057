"""Where runs are stored: the embedded sqlite store by default, or any MLflow tracking URI."""

from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from recbench.errors import RecbenchError, first_line
from recbench.safe_names import check_name


def resolve_store(uri: str | None, artifact_root: str | None) -> tuple[str, str | None]:
    """``(tracking_uri, artifact_root)``; None means the embedded store in the working directory.

    The embedded store is ``sqlite:///<cwd>/mlflow.db`` with artifacts in ``<cwd>/mlartifacts``.
    A given URI with no artifact root leaves artifact placement to that server.
    """
    if uri is None:
        uri = f"sqlite:///{Path.cwd() / 'mlflow.db'}"
        artifact_root = artifact_root or str(Path.cwd() / "mlartifacts")
    return uri, (str(Path(artifact_root).resolve()) if artifact_root else None)


def client_for(uri: str | None, artifact_root: str | None = None) -> MlflowClient:
    tracking_uri, _ = resolve_store(uri, artifact_root)
    return MlflowClient(tracking_uri=tracking_uri)


def get_or_create_experiment(client: MlflowClient, name: str, artifact_root: str | None) -> str:
    """Id of the MLflow experiment called ``name``, created (artifacts under root/name) if new."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if artifact_root:  # the name becomes a folder: '..' or 'a/b' would leave the root
        check_name(name, "experiment name", "name=my_benchmark")
        location = Path(artifact_root, name).as_uri()
    # MLflow 3's UI opens experiments of this kind on the training-runs table (not GenAI traces)
    try:
        return client.create_experiment(name, artifact_location=location, tags={
            "mlflow.experimentKind": "custom_model_development"})
    except MlflowException as err:  # another process created it since the lookup above
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return client.get_experiment_by_name(name).experiment_id


class StoreUnavailable(RecbenchError):
    """The MLflow store stopped taking writes (disk full, server gone) during a run."""


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, or None for any other store."""
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


@contextmanager
def init_lock(uri: str):
    """Serialise the first use of a sqlite store across processes: MLflow creates its
    tables on first use, and two sweeps starting at once on a new file would both try
    (``table ... already exists``). A no-op for servers, which create their own."""
    path = sqlite_path(uri)
    if path is None or not path.parent.is_dir():
        yield
        return
    with open(path.parent / f".{path.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried: permission bits say nothing to
    root, nor about /proc or a read-only mount). The probe file has no name and vanishes."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def check_store(uri: str, artifact_root: str | None, timeout: float = 5.0) -> None:
    """One-line error, within ``timeout`` seconds, when runs could not be logged to this
    store: a sqlite file that cannot be created or written, an artifact root that cannot
    be created, a server that does not answer (MLflow's client would retry for minutes)."""
    path = sqlite_path(uri)
    folders = [(path.parent, f"the MLflow store {path}")] if path is not None else []
    if artifact_root and not artifact_root.startswith(("s3:", "gs:", "wasbs:", "http")):
        folders.append((Path(artifact_root), f"the artifact root {artifact_root}"))
    for folder, what in folders:  # an artifact root's missing folders are made by MLflow
        existing = next((p for p in [folder, *folder.parents] if p.exists()), Path("/"))
        if not _writable(existing) or (path is not None and folder == path.parent
                                       and existing != folder):
            raise RecbenchError(f"cannot write {what}: {folder} is not a writable folder; "
                                f"fix tracking.uri / tracking.artifact_root.")
    if path is not None and path.exists() and not (path.is_file()
                                                   and os.access(path, os.W_OK)):
        raise RecbenchError(f"cannot write the MLflow store {path}: not a writable file; "
                            f"fix tracking.uri.")
    if uri.startswith(("http://", "https://")):
        import urllib.request

        try:
            urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout).read()
        except Exception as err:
            reason = getattr(err, "reason", None) or err
            raise RecbenchError(f"the MLflow server {uri} does not answer ({reason}); start it "
                                f"(recbench server) or fix tracking.uri.") from None


def check_study_storage(url: str) -> None:
    """One-line error when the Optuna storage of a search cannot be opened. The usual
    cluster mistake: Optuna and MLflow both keep an ``alembic_version`` table, so one
    database (or schema) cannot hold both; a study needs its own database or schema.
    Sweeps starting together on a new storage race to create its tables: the losers find
    them on a second try."""
    import time

    import optuna

    attempts = 4
    for attempt in range(1, attempts + 1):
        try:
            optuna.storages.get_storage(url)
            return
        except Exception as err:
            first = first_line(err) or type(err).__name__
            if "table schema" in first or attempt == attempts:  # no race: retrying won't help
                break
            time.sleep(0.5 * attempt)
    if "table schema" in first:
        raise RecbenchError(
            f"the Optuna storage {url} holds another tool's tables (MLflow's?): give the "
            f"study its own database or schema, e.g. "
            f"hydra.sweeper.storage='postgresql://.../DB?options=-csearch_path%3Doptuna' "
            f"(CREATE SCHEMA optuna first).")
    raise RecbenchError(f"cannot open the Optuna storage {url} ({first}); fix "
                        f"hydra.sweeper.storage.")


def search_all_runs(client: MlflowClient, experiment_ids: list[str], where: str = "") -> list:
    """Every run matching ``where`` in the experiments, page by page (MLflow returns at
    most 1,000 per call)."""
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, where, max_results=1000, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return runs
