"""One switch for the third-party logs recbench quiets (Lightning, MLflow, alembic)."""

from __future__ import annotations

import logging
import os

LOGGERS = ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric", "mlflow",
           "alembic")


def configure_logging(verbose: bool) -> None:
    """INFO logs of Lightning and MLflow when ``verbose``, else warnings only."""
    level = logging.INFO if verbose else logging.WARNING
    # MLflow sets its own level when first imported (often after this): tell it too
    os.environ["MLFLOW_LOGGING_LEVEL"] = logging.getLevelName(level)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(level)
