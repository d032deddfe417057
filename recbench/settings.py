"""Typed descriptions of config groups: per key its type, the values it accepts and whether
it changes results.

The groups that configure recbench itself (``metrics``, ``trainer``, ``tracking``,
``sweep``, ``tuning`` and the run's top-level keys) each declare a ``{key: Setting}``
schema beside the package they configure (:mod:`recbench.evaluation.options`,
:mod:`recbench.models.trainer_settings`, :mod:`recbench.tracking.settings`,
:mod:`recbench.config`). The groups that build an object (``task``, ``dataset``, ``split``,
``model``) are described by its constructor instead: types by the signature's
annotations, ranges by the class's ``parameter_constraints``
(:mod:`recbench.models.constraints`); all their keys change results.

The values themselves live in the YAML files of ``configs/`` (one place); a test keeps
each schema's keys equal to its default file's. From the schemas come the one-line
validation errors and :func:`not_result_keys`, the keys that the config hash, the
leaderboards' reproduce commands and the reproduction tables leave out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from recbench.errors import RecbenchError, check_keys, unknown_choice


@dataclass(frozen=True)
class Setting:
    """One config key.

    Attributes:
        kind: the type as annotation text (``"int"``, ``"float | None"``, ``"list[int]"``,
            ``"bool"``, ``"str"``); checked by :func:`value_problem`.
        accepts: the values of that type it takes: an ``Interval`` or ``OneOf``
            (:mod:`recbench.models.constraints`), or ``check(value, node, where)`` that
            raises the one-line error itself; None: any value of the type.
        result: whether it changes results; False: left out of the config hash and of
            reproduce commands (where runs go, how much is logged, memory/speed knobs).
        says: what the error says the value must be, when the default wording (from
            ``kind`` and ``accepts``) would be unclear.
    """

    kind: str
    accepts: Any = None
    result: bool = True
    says: str | None = None

    def check(self, value: Any, node: Any, where: str) -> None:
        """Raise the one-line :class:`RecbenchError` when ``value`` (at ``where``, a key of
        ``node``) does not fit."""
        from recbench.models.constraints import OneOf

        if type(value).__module__ == "numpy" and hasattr(value, "item"):
            value = value.item()  # a numpy scalar (a caller of the Python API): its value
        if callable(self.accepts):
            self.accepts(value, node, where)
            return
        wrong_type = value_problem(value, self.kind)
        if wrong_type is None and (self.accepts is None or value in self.accepts):
            return
        if self.says is None and isinstance(self.accepts, OneOf):
            raise unknown_choice(where, value, self.accepts.choices)
        must = self.says or (f"{value_problem(None, self.kind) or self.kind}"
                             + (f" {self.accepts}" if self.accepts is not None else ""))
        raise RecbenchError(f"{where} must be {must}, got {value!r}.")


Schema = dict[str, Setting]


def check_group(node: Any, schema: Schema, where: str) -> None:
    """Unknown keys (close matches suggested), then every value against its setting."""
    from omegaconf import OmegaConf

    check_keys(node, schema, where)
    values = OmegaConf.to_container(node, resolve=True)
    for key, value in values.items():
        schema[key].check(value, values, f"{where}.{key}")


def not_result_keys(schemas: dict[str, Schema]) -> tuple[str, ...]:
    """The keys that do not change results, ``"group"`` when none of a group's keys does,
    else ``"group.key"`` (``schemas``: group -> schema; ``""``: the top level)."""
    keys: list[str] = []
    for group, schema in schemas.items():
        idle = [k for k, s in schema.items() if not s.result]
        if group and len(idle) == len(schema):
            keys.append(group)
        else:
            keys += [f"{group}.{k}" if group else k for k in idle]
    return tuple(keys)


#: scalar annotation -> how the one-line error names what it accepts
_ACCEPTS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
            "None": "null"}


def value_problem(value: Any, annotation: str) -> str | None:
    """What ``value`` must be when it does not fit ``annotation``, else None
    (``value_problem(None, "int")`` names what an ``int`` takes: "an integer").

    Hydra accepts any value anywhere, and Python would take most of them: ``l2=true`` runs
    as 1.0, ``l2=nan`` or ``l2=1e400`` (inf) pass ``l2 > 0`` checks and fail inside the
    tracked run, ``l2=abc`` fails with a comparison error. Only numbers, bools, strings,
    null and lists of those are checked; anything else is left to the constructor.
    """
    if annotation.startswith(("list[", "tuple[")):
        item = annotation.split("[", 1)[1].split(",")[0].rstrip("]").strip()
        if item in ("int", "float") and (not isinstance(value, (list, tuple)) or any(
                value_problem(v, item) for v in value)):
            return "a list of " + ("integers" if item == "int" else "finite numbers")
        return None
    kinds = [part.strip() for part in annotation.split("|")]
    if not set(kinds) <= set(_ACCEPTS) or not set(kinds) & {"int", "float", "bool"}:
        return None
    fits = {type(None): "None", bool: "bool", int: "int", float: "float", str: "str"}.get(
        type(value))
    if fits == "int" and "float" in kinds:
        fits = "float"  # an integer is a number
    if fits not in kinds:
        if "float" in kinds and "int" in kinds:
            kinds.remove("int")
        return " or ".join(_ACCEPTS[kind] for kind in kinds)
    if fits == "float" and not math.isfinite(value):
        return "a finite number"
    return None
