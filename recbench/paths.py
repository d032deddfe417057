"""Where recbench finds its configs and experiments (the project checkout)."""

from __future__ import annotations

import os
from pathlib import Path

#: The project root: the directory holding ``configs/`` and ``experiments/``.
PROJECT_ROOT = Path(os.environ.get("RECBENCH_ROOT", Path(__file__).resolve().parents[1]))
CONFIG_DIR = PROJECT_ROOT / "configs"
