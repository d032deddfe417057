"""Names that become file or folder names: one rule, and a safe stand-in for any value.

Experiment names (artifact and leaderboard folders), data set, split and model names (plot
files, download folders, data set pages) all end up in paths. A value such as ``..`` or
``../../tmp/x`` must never leave the folder it is written in, whether it comes from a
config, a CLI argument or a tag read back from an MLflow store that anyone may log to:
configs and arguments are checked (:func:`check_name`), values read from a store are made
safe (:func:`file_component`), and destructive writes check containment (:func:`inside`).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from recbench.errors import RecbenchError

MAX_LENGTH = 100  # a slug joins several names plus a suffix: stay far below 255 bytes
# first a letter, digit or _ (never '.', so never '.' or '..'), then no separator of any OS;
# '+' joins experiment names in a leaderboard's default folder name
_SAFE = re.compile(r"\w[\w.+\-]*")
_UNSAFE_CHAR = re.compile(r"[^\w.+\-]")
RULE = (f"letters, digits, _ . + - starting with a letter, digit or _, at most {MAX_LENGTH} "
        f"characters")


def is_safe_name(value) -> bool:
    """True when ``value`` is a string usable as one file or folder name as it is."""
    return (isinstance(value, str) and len(value) <= MAX_LENGTH
            and _SAFE.fullmatch(value) is not None)


def check_name(value, what: str, example: str) -> str:
    """``value`` if it is a safe name, else the one-line error naming ``what`` and the fix.

    Args:
        what: how the user sets the value, e.g. ``"dataset.name"`` or ``"--name"``.
        example: a valid setting shown in the message, e.g. ``"name=my_benchmark"``.
    """
    if not is_safe_name(value):
        raise RecbenchError(f"{what} must be a non-empty word of {RULE} (it names files "
                            f"and folders), got {value!r}; e.g. {example}.")
    return value


def file_component(value) -> str:
    """``value`` itself when it is a safe name, else a safe stand-in for it.

    For names read back from a store, which an older or hostile client may have logged:
    unsafe characters become ``_`` and a short hash of the original is appended, so distinct
    values keep distinct files.
    """
    text = str(value)
    if is_safe_name(text):
        return text
    cleaned = _UNSAFE_CHAR.sub("_", text)[:MAX_LENGTH - 9].lstrip(".+-")
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned}-{digest}" if cleaned else digest


def inside(path: Path, folder: Path) -> Path:
    """``path`` resolved, after checking that it lies strictly inside ``folder`` (resolved:
    symbolic links and ``..`` cannot lead out)."""
    resolved, root = Path(path).resolve(), Path(folder).resolve()
    if root not in resolved.parents:
        raise RecbenchError(f"{path} is not inside {folder}; refusing to write there: "
                            f"use a plain name ({RULE}).")
    return resolved
