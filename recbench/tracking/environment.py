"""What a run ran on: Python, packages, git commit, machine."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys

from recbench.paths import PROJECT_ROOT

PACKAGES = ("recbench", "torch", "pytorch-lightning", "numpy", "scipy", "pandas", "hydra-core",
            "omegaconf", "mlflow", "recbole")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def environment() -> dict:
    """A JSON-able description of the software and machine a run used."""
    import torch

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "python": sys.version.split()[0],
        "packages": versions,
        "git": {"commit": _git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None},
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.is_available(),
            "hostname": platform.node(),
        },
        "command": " ".join(sys.argv),
    }
