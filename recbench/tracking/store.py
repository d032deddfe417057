"""Where runs are stored: the embedded sqlite store by default, or any MLflow tracking URI."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient


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
    location = Path(artifact_root, name).as_uri() if artifact_root else None
    # MLflow 3's UI opens experiments of this kind on the training-runs table (not GenAI traces)
    return client.create_experiment(name, artifact_location=location,
                                    tags={"mlflow.experimentKind": "custom_model_development"})
