"""User-facing errors: one line that names the problem and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RecbenchError(Exception):
    """An error caused by user input (config, files, CLI arguments).

    The CLI prints ``error: <message>`` on one line and exits with status 2,
    never a traceback.
    """


def first_line(err: BaseException) -> str:
    """The first line of an exception's message ('' when it has none): long messages (SQL,
    HTTP bodies) stay out of one-line errors."""
    return (str(err).strip().splitlines() or [""])[0]


def one_line(value: object) -> str:
    """``str(value)`` with all whitespace runs (newlines included) collapsed to one space:
    the whole message on one line (:func:`first_line` keeps only its first line)."""
    return " ".join(str(value).split()) or type(value).__name__


def closest(value: str, choices: Iterable[str]) -> str | None:
    """Return the choice most similar to ``value``, or None if nothing is close."""
    matches = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_choice(kind: str, value: str, choices: Iterable[str]) -> RecbenchError:
    """Build the standard "unknown X" error: bad value, valid choices, closest match."""
    choices = sorted(str(c) for c in choices)
    hint = closest(value, choices)
    did_you_mean = f" Did you mean '{hint}'?" if hint else ""
    return RecbenchError(
        f"unknown {kind} '{value}'.{did_you_mean} Valid choices: {', '.join(choices)}."
    )


def check_keys(node, allowed: Iterable[str], where: str) -> None:
    """Raise the standard "unknown config key" error (close match suggested) for a key of
    the mapping ``node`` (a config node at ``where``) that is not in ``allowed``."""
    from omegaconf import DictConfig

    allowed = set(allowed)
    if not isinstance(node, DictConfig):
        raise RecbenchError(f"config '{where}' must be a mapping, got {node!r}.")
    for key in node.keys():
        if key not in allowed:
            hint = closest(str(key), allowed)
            raise RecbenchError(
                f"unknown config key '{where}.{key}'."
                + (f" Did you mean '{where}.{hint}'?" if hint else "")
                + f" Valid keys: {', '.join(sorted(allowed))}.")
