"""Compose, validate and fingerprint run configs (Hydra + OmegaConf).

Everything here runs before anything is written to MLflow: a bad config value stops the
run with one line naming the bad value, the valid choices and the closest match.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Iterable
from typing import Any

from hydra.errors import HydraException
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from recbench.errors import RecbenchError, check_keys, closest, unknown_choice
from recbench.evaluation.registry import ACCURACY, parse_metric
from recbench.evaluation.options import OPTION_KEYS as SUITE_OPTIONS, check_suite_options
from recbench.models.trainer_settings import check_trainer
from recbench.paths import CONFIG_DIR
from recbench.safe_names import check_name

#: Config groups (folders of ``configs/``) and the top-level keys a run config may hold.
GROUPS = ("task", "dataset", "split", "model", "metrics", "trainer", "tracking", "experiment",
          "hparams_search")
TOP_LEVEL = {"name", "seed", "verbose", "task", "dataset", "split", "model", "metrics",
             "trainer", "tracking", "sweep", "tuning"}
BUILT = ("task", "dataset", "split", "model")  # groups holding a ``_target_`` to construct
#: run-config nodes a group's constructor receives besides its own keys (a task is scored
#: with the run's metric suite)
PASSED_IN = {"task": ("metrics",)}
METRICS_KEYS = {"ranking", "names", "ks", "valid_metric", "chunk_size", *SUITE_OPTIONS}
TRACKING_KEYS = {"uri", "artifact_root"}
#: Keys that never change results: left out of the config hash, the reproduce commands of
#: leaderboards and the settings reproductions are matched by (the one list of them).
NOT_HASHED = ("tracking", "verbose", "sweep", "tuning", "trainer.progress_bar",
              "metrics.chunk_size")
#: the same keys as the prefixes of command-line overrides (``tracking.uri=...``)
NOT_RESULT_OVERRIDES = tuple(p for key in NOT_HASHED for p in (f"{key}=", f"{key}."))
#: groups that entered the run config after runs were logged, with the option those runs
#: had: at that option the group is left out of the config hash, so earlier runs keep theirs
HASHED_UNLESS = {"task": "topn"}


def group_options(group: str) -> list[str]:
    """Names of the options of a config group: the YAML files in ``configs/<group>/``, those
    in sub-folders as ``folder/name`` (e.g. ``model=recbole/bpr``)."""
    root = CONFIG_DIR / group
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))


def check_group_choice(group: str, value: str) -> None:
    """Raise the standard one-line error if ``value`` is not an option of ``group``."""
    if value not in (None, "null") and value not in group_options(group):
        raise unknown_choice(group, value, group_options(group))


# --------------------------------------------------------------------------- composing
def _parse_overrides(overrides: list[str]):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        raise RecbenchError(f"bad override: {str(err).splitlines()[0]}") from None


def _override_values(override) -> list[str]:
    """The values an override takes: several for a sweep (``a,b,c``), else one."""
    if override.is_sweep_override():
        return [str(v) for v in override.sweep_string_iterator()]
    return [override.get_value_element_as_str()]


def compose(overrides: Iterable[str] = (), *, hydra_config: bool = False) -> DictConfig:
    """Compose ``configs/run.yaml`` with Hydra overrides (sweep values are not allowed here).

    Raises:
        RecbenchError: an unknown group option or a misspelt key, as one line.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    overrides = list(overrides)
    for o in _parse_overrides(overrides):
        group = o.key_or_group.lstrip("+~")
        if group in GROUPS and not o.is_delete():
            for value in _override_values(o):
                check_group_choice(group, value)
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return hydra_compose("run", overrides=overrides, return_hydra_config=hydra_config)
    except HydraException as err:
        raise _explain(err, overrides) from None
    except (ValueError, KeyError) as err:
        raise RecbenchError(f"bad override {overrides}: {str(err).splitlines()[0]}") from None


def _explain(err: Exception, overrides: list[str]) -> RecbenchError:
    """Turn a Hydra composition error into one line with a close-match hint."""
    text = str(err)
    first = text.splitlines()[0]
    if "Could not append to config. An item is already at" in text:
        key = first.rsplit("'", 2)[-2] if first.count("'") >= 2 else "the key"
        return RecbenchError(f"config key '{key}' exists already: set it without '+' "
                             f"({key}=value).")
    if "not in struct" in text or "Could not override" in text or "Could not append" in text:
        for o in overrides:
            key = o.split("=", 1)[0].lstrip("+~")
            if f"'{key}'" in text:
                where = ""
                full_key = str(getattr(err.__cause__, "full_key", None) or "")
                if full_key.startswith(key + "."):  # a mapping value with a key the node lacks
                    key, where = full_key, f" in '{o}'"
                parent, _, leaf = key.rpartition(".")
                try:
                    with_defaults = compose([o2 for o2 in overrides if o2 != o])
                    node = OmegaConf.select(with_defaults, parent) if parent else with_defaults
                except RecbenchError:
                    node = None
                keys = list(node.keys()) if isinstance(node, DictConfig) else []
                hint = closest(leaf, keys)
                return RecbenchError(
                    f"unknown config key '{key}'{where}."
                    + (f" Did you mean '{parent + '.' if parent else ''}{hint}'?" if hint else "")
                    + (f" Valid keys of '{parent or 'the run config'}': {', '.join(map(str, keys))}."
                       if keys else " Use +key=value to add a new key.")
                    + (f" To add keys, use +{o.lstrip('+~')}." if where and not hint else ""))
    return RecbenchError(f"bad config: {first}")


def sweep_dimensions(cli_overrides: list[str], sweeper_params: dict | None) -> dict[str, list[str]]:
    """Sweep values per key: the experiment's ``hydra.sweeper.params`` overlaid by the CLI's."""
    dims: dict[str, list[str]] = {}
    for key, value in (sweeper_params or {}).items():
        dims[key] = _override_values(_parse_overrides([f"{key}={value}"])[0])
    for o in _parse_overrides(cli_overrides):
        dims[o.input_line.split("=", 1)[0]] = _override_values(o)
    return dims


def validate_sweep(overrides: list[str]) -> tuple[int, DictConfig]:
    """Check every value of every sweep dimension before a (multi)run starts.

    Composes once per value (varying one dimension at a time, others at their first value)
    and validates each result, so a typo in the 4th model of a sweep fails before run 1.

    Returns:
        ``(n_runs, cfg)``: how many runs the sweep will launch, and the config of the first
        (with Hydra's node), e.g. to name the sweep's parent run.
    """
    first = [f"{o.input_line.split('=', 1)[0]}={_override_values(o)[0]}"
             for o in _parse_overrides(overrides)]
    base = compose(first, hydra_config=True)
    params = OmegaConf.to_container(base.hydra.sweeper.params, resolve=True) \
        if base.hydra.sweeper.get("params") else None
    optuna = "n_trials" in base.hydra.sweeper
    if optuna:  # an Optuna search space (empty: nothing to tune, one trial)
        _check_search(overrides, params or {}, base)
        for key, spec in (params or {}).items():  # every key must exist, take its lowest value
            low = spec.get("low", (spec.get("choices") or [None])[0])
            check_buildable(compose([*first, f"{key}={low}"]))
        if not params:
            check_buildable(compose(first))
        n_trials = int(base.hydra.sweeper.n_trials) if params else 1
        return n_trials + len(base.hydra.sweeper.get("final_seeds") or []), base
    dims = sweep_dimensions(overrides, params)
    first_of = {k: v[0] for k, v in dims.items()}
    n_runs = 1
    checked = False
    for key, values in dims.items():
        n_runs *= len(values)
        for value in values:
            check = {**first_of, key: value}
            check_buildable(compose([f"{k}={v}" for k, v in check.items()]))
            checked = True
    if not checked:
        check_buildable(compose(first))
    return n_runs, base


def _check_search(overrides: list[str], space: dict, cfg: DictConfig) -> None:
    """An Optuna search draws its own values: no sweep overrides, a well-formed space, and
    final seeds independent of the trials' seed."""
    for o in _parse_overrides(overrides):
        if o.is_sweep_override():
            raise RecbenchError(
                f"'{o.input_line}': an Optuna search (hparams_search) draws its own values and "
                f"cannot also sweep; re-run the best trial on several seeds with "
                f"tuning.seeds=[1,2,3] instead.")
    for key, spec in space.items():
        if not isinstance(spec, dict) or "type" not in spec:
            raise RecbenchError(
                f"search space entry '{key}: {spec}' is not an Optuna spec like "
                f"{{type: float, low: 0.1, high: 1.0}}; an experiment's grid "
                f"(hydra.sweeper.params) cannot be combined with hparams_search.")
    seeds = list(cfg.hydra.sweeper.get("final_seeds") or [])
    if cfg.seed in seeds:
        raise RecbenchError(
            f"tuning.seeds {seeds} contains the trials' seed ({cfg.seed}): the "
            f"reported runs must take no part in the selection; pick another seed, e.g. seed=0.")


def check_buildable(cfg: DictConfig) -> None:
    """Validate a config, type-check its data set arguments and construct its task, split
    and model (hyper-parameter checks)."""
    validate(cfg)
    build(cfg, "task")
    build(cfg, "dataset")
    build(cfg, "split")
    build(cfg, "model")


# --------------------------------------------------------------------------- validating
def target_parameters(node: DictConfig, where: str) -> tuple[Any, set[str]]:
    """The object named by ``node._target_`` and the keyword arguments it accepts."""
    if "_target_" not in node:
        raise RecbenchError(f"config '{where}' has no _target_ (the class or function to build).")
    try:
        target = get_object(node._target_)
    except Exception:
        raise RecbenchError(f"{where}._target_ '{node._target_}' cannot be imported; "
                            f"check the module and class name.") from None
    params = inspect.signature(target).parameters
    return target, {n for n, p in params.items()
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def validate(cfg: DictConfig) -> None:
    """Check a composed run config; raise a one-line :class:`RecbenchError` on the first problem."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        _validate(cfg)
    except OmegaConfBaseException as err:
        raise RecbenchError(f"bad config: {str(err).splitlines()[0]}") from None


#: config values that become file or folder names (plots, downloads, data set pages)
PATH_NAMES = {"dataset.name": "dataset.name=ml-100k", "split.name": "split.name=random_ratio",
              "model.name": "model.name=ease", "model.label": "model.label=ease-tuned"}

def _validate(cfg: DictConfig) -> None:
    check_keys(cfg, TOP_LEVEL, "run")
    missing = TOP_LEVEL - {"verbose", "sweep", "tuning"} - set(cfg.keys())
    if missing:
        raise RecbenchError(f"the run config lacks {sorted(missing)}; do not delete them (~key).")
    if not isinstance(cfg.seed, int) or isinstance(cfg.seed, bool) or not 0 <= cfg.seed < 2**32:
        raise RecbenchError(f"seed must be an integer in [0, 2**32), got {cfg.seed!r}.")
    check_name(cfg.name, "name", "name=my_benchmark")  # the experiment's artifact folder
    for group in BUILT:
        node = cfg[group]
        _, params = target_parameters(node, group)
        check_keys(node, params - set(PASSED_IN.get(group, ())) | {"name", "label", "_target_"},
                   group)
    for key, example in PATH_NAMES.items():  # tags that reports turn into file names
        value = OmegaConf.select(cfg, key)
        if value or key != "model.label":  # no label: runs are named by model.name
            check_name(value, key, example)
    check_keys(cfg.metrics, METRICS_KEYS, "metrics")
    if cfg.metrics.ranking != "full":
        raise RecbenchError(f"metrics.ranking '{cfg.metrics.ranking}' is not supported; "
                            f"use 'full' (sampled metrics are not implemented).")
    for name in metric_names(cfg):
        parse_metric(name)
    name, k = parse_metric(cfg.metrics.valid_metric)
    if cfg.metrics.valid_metric != f"{name}@{k}":
        raise RecbenchError(f"write metrics.valid_metric as {name}@{k}, not "
                            f"'{cfg.metrics.valid_metric}'.")
    if name not in ACCURACY:
        raise RecbenchError(f"metrics.valid_metric '{cfg.metrics.valid_metric}' must be an "
                            f"accuracy metric ({', '.join(ACCURACY)}): early stopping and "
                            f"model selection maximise it.")
    check_suite_options(cfg.metrics)
    if not isinstance(cfg.metrics.chunk_size, int) or cfg.metrics.chunk_size < 1:
        raise RecbenchError(f"metrics.chunk_size must be a positive integer, "
                            f"got {cfg.metrics.chunk_size!r}.")
    check_trainer(cfg.trainer)
    check_keys(cfg.tracking, TRACKING_KEYS, "tracking")
    if "sweep" in cfg:
        check_keys(cfg.sweep, ("parent", "rerun", "final", "owner"), "sweep")
    if "tuning" in cfg:
        check_keys(cfg.tuning, ("n_trials", "seeds"), "tuning")
        n_trials, seeds = cfg.tuning.n_trials, cfg.tuning.seeds
        if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
            raise RecbenchError(f"tuning.n_trials must be a positive integer, got {n_trials!r}.")
        if not OmegaConf.is_list(seeds) or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise RecbenchError(f"tuning.seeds must be a list of integers, e.g. [1,2,3], "
                                f"got {seeds!r}.")


def metric_names(cfg: DictConfig) -> list[str]:
    """``["precision@5", ..., "f1@20"]``: every metric at every K of ``cfg.metrics``."""
    return suite_metric_names(cfg.metrics)


def suite_metric_names(metrics: DictConfig) -> list[str]:
    """Every metric at every K of a ``metrics`` node."""
    from omegaconf import ListConfig

    names, ks = metrics.names, metrics.ks
    if not isinstance(names, ListConfig) or not isinstance(ks, ListConfig) or not names or not ks:
        raise RecbenchError("metrics.names and metrics.ks must both be non-empty lists, "
                            "e.g. metrics.ks=[10,20].")
    for k in ks:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise RecbenchError(f"metrics.ks must hold positive integers, got {k!r}.")
    return list(dict.fromkeys(f"{n}@{k}" for n in names for k in ks))  # duplicates once


def model_label(cfg: DictConfig) -> str:
    """How runs and leaderboards name the model: ``model.label`` if set, else ``model.name``
    (the RecBole bridge labels its runs ``recbole-<Model>``)."""
    return str(cfg.model.get("label") or cfg.model.name)


def build(cfg: DictConfig, group: str) -> Any:
    """Construct the object of a ``task`` / ``dataset`` / ``split`` / ``model`` config node.

    For ``dataset`` this returns a zero-argument loader (loading happens later, inside the
    tracked run); ``split`` and ``model`` nodes are constructed right away, so bad
    hyper-parameters fail before anything is logged.
    """
    node = cfg[group]
    target, params = target_parameters(node, group)
    kwargs = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items()
              if k not in ("_target_", "label") and (k != "name" or "name" in params)}
    _check_types(target, kwargs, group)
    kwargs |= {key: cfg[key] for key in PASSED_IN.get(group, ())}
    if group == "dataset":
        return lambda: target(**kwargs)
    try:
        return target(**kwargs)
    except (ValueError, TypeError) as err:
        raise RecbenchError(f"{group} '{node.name}': {err}") from None


def _check_types(target: Any, kwargs: dict, group: str) -> None:
    """Raise the one-line error for the first argument that does not fit its annotation."""
    signature = inspect.signature(target).parameters
    for key, value in kwargs.items():
        problem = key in signature and value_problem(value, annotation_text(signature[key]))
        if problem:
            raise RecbenchError(f"{group}.{key} must be {problem}, got {value!r}.")


def annotation_text(param: inspect.Parameter) -> str:
    """A parameter's annotation as text (``"float | None"``, ``"list[int]"``); for an
    unannotated one, the type of its number or bool default, else ``""``."""
    annotation = param.annotation
    if annotation is param.empty:
        default = param.default
        return type(default).__name__ if isinstance(default, (bool, int, float)) else ""
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


#: scalar annotation -> how the one-line error names what it accepts
_ACCEPTS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
            "None": "null"}


def value_problem(value: Any, annotation: str) -> str | None:
    """What ``value`` must be when it does not fit ``annotation``, else None.

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


# --------------------------------------------------------------------------- fingerprints
def resolved(cfg: DictConfig) -> dict:
    """The resolved config as plain containers, without Hydra's own node."""
    data = OmegaConf.to_container(cfg, resolve=True)
    data.pop("hydra", None)
    return data


def config_hash(cfg: DictConfig, *, seed: bool = True) -> str:
    """sha256 of the resolved config minus settings that do not change results (tracking).

    With ``seed=False`` the run seed is left out too: runs that differ only by seed share
    this hash, which is how leaderboards group seeds of one configuration.
    """
    data = resolved(cfg)
    for group, option in HASHED_UNLESS.items():
        if (data.get(group) or {}).get("name") == option:
            data.pop(group)
    for key in NOT_HASHED + (() if seed else ("seed",)):
        parent, _, leaf = key.rpartition(".")
        (data.get(parent, {}) if parent else data).pop(leaf, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def flatten(data: dict, prefix: str = "") -> dict[str, str]:
    """``{"model": {"l2": 500}} -> {"model.l2": "500"}`` (lists are JSON-encoded)."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, list) else str(value)
    return flat
