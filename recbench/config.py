"""Compose, validate and fingerprint run configs (Hydra + OmegaConf).

Everything here runs before anything is written to MLflow: a bad config value stops the
run with one line naming the bad value, the valid choices and the closest match.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Iterable
from typing import Any

from hydra.errors import HydraException
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from recbench.errors import RecbenchError, check_keys, closest, unknown_choice
from recbench.evaluation.options import METRICS
from recbench.evaluation.registry import ACCURACY, parse_metric
from recbench.models.constraints import AT_LEAST_ONE, Interval
from recbench.models.trainer_settings import TRAINER
from recbench.paths import CONFIG_DIR
from recbench.safe_names import check_name
from recbench.settings import Setting, check_group, not_result_keys, value_problem
from recbench.tracking.settings import SWEEP, TRACKING

#: Config groups (folders of ``configs/``) and the top-level keys a run config may hold.
GROUPS = ("task", "dataset", "split", "model", "metrics", "trainer", "tracking", "experiment",
          "hparams_search")
TOP_LEVEL = {"name", "seed", "verbose", "task", "dataset", "split", "model", "metrics",
             "trainer", "tracking", "sweep", "tuning"}
BUILT = ("task", "dataset", "split", "model")  # groups holding a ``_target_`` to construct
#: run-config nodes a group's constructor receives besides its own keys (a task is scored
#: with the run's metric suite)
PASSED_IN = {"task": ("metrics",)}
#: keys of a built group read by its stage rather than by the constructor (every split
#: protocol takes ``train_fraction``: :mod:`recbench.splits.fraction`)
STAGE_KEYS = {"split": {"train_fraction": Setting(
    "float", Interval(0, 1, "right"),
    says="a fraction in (0, 1] (the share of each user's train interactions models learn from)")}}
#: the run config's own keys (the groups have theirs: :mod:`recbench.settings`)
RUN = {
    "name": Setting("str", lambda value, node, where: check_name(value, "name",
                                                                 "name=my_benchmark")),
    "seed": Setting("int", Interval(0, 2**32, "left"), says="an integer in [0, 2**32)"),
    "verbose": Setting("bool", result=False),  # what the terminal shows
}
#: the budget of ``hparams_search=<model>``: how much is tried, not what a run gives
TUNING = {
    "n_trials": Setting("int", AT_LEAST_ONE, result=False, says="a positive integer"),
    "seeds": Setting("list[int]", result=False, says="a list of integers, e.g. [1,2,3]"),
}
#: the described groups (``""``: the top level); task, dataset, split and model are
#: described by their constructors, and all their keys change results
SCHEMAS = {"": RUN, "metrics": METRICS, "trainer": TRAINER, "tracking": TRACKING,
           "sweep": SWEEP, "tuning": TUNING}
#: Keys that never change results: left out of the config hash, the reproduce commands of
#: leaderboards and the settings reproductions are matched by (the one list of them)
NOT_HASHED = not_result_keys(SCHEMAS)
#: the same keys as the prefixes of command-line overrides (``tracking.uri=...``)
NOT_RESULT_OVERRIDES = tuple(p for key in NOT_HASHED for p in (f"{key}=", f"{key}."))
#: groups that entered the run config after runs were logged, with the option those runs
#: had: at that option the group is left out of the config hash, so earlier runs keep theirs
HASHED_UNLESS = {"task": "topn"}
#: keys that entered a group after runs were logged, with the value those runs had: at that
#: value the key is left out of the config hash (and params), so earlier runs keep theirs;
#: ``(key, value)`` instead of a value: left out while that sibling key holds that value
HASHED_UNLESS_VALUE = {"split.train_fraction": 1.0, "metrics.sampled": ("ranking", "full")}
#: config groups a task does not read: left out of its runs' hash and params (a CTR run's
#: results do not depend on the top-N metric suite)
TASK_IGNORES = {"ctr": ("metrics",)}


def file_sha256(path: str | None) -> str | None:
    """The sha256 of a file's bytes, for the config resolver ``${file_sha256:PATH}``: a
    config that names a file made outside recbench (a submission's rankings) hashes its
    content, so a changed file is a new run, not a FINISHED one skipped. None when the
    path is unset or no file (the model that reads it says so in one line)."""
    from pathlib import Path

    from recbench.data.atomic import sha256_file

    return sha256_file(Path(path)) if path and Path(path).is_file() else None


OmegaConf.register_new_resolver("file_sha256", file_sha256, replace=True)


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
    for key in ("seed", "name", "verbose"):  # the experiment's name is its artifact folder
        if key in cfg:
            RUN[key].check(cfg[key], cfg, key)
    for group in BUILT:
        node = cfg[group]
        _, params = target_parameters(node, group)
        own = STAGE_KEYS.get(group, {})
        check_keys(node, params - set(PASSED_IN.get(group, ())) | {"name", "label", "_target_"}
                   | set(own), group)
        for key, setting in own.items():
            if key in node:
                setting.check(node[key], node, f"{group}.{key}")
    _check_task_fits(cfg)
    for key, example in PATH_NAMES.items():  # tags that reports turn into file names
        value = OmegaConf.select(cfg, key)
        if value or key != "model.label":  # no label: runs are named by model.name
            check_name(value, key, example)
    check_group(cfg.metrics, METRICS, "metrics")
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
    for group in ("trainer", "tracking", "sweep", "tuning"):
        if group in cfg:
            check_group(cfg[group], SCHEMAS[group], group)


def group_task(cfg: DictConfig, group: str) -> str:
    """The task a data set or model serves: a model class's ``task`` attribute (top-N
    when it has none), a data set's loader by what it returns (CTR rows, or interactions)."""
    target, _ = target_parameters(cfg[group], group)
    if group == "model":
        return getattr(target, "task", "topn")
    returned = inspect.signature(target).return_annotation
    return "ctr" if "CTRData" in str(getattr(returned, "__name__", returned)) else "topn"


def _check_task_fits(cfg: DictConfig) -> None:
    """A model and a data set of the run's task, or one line saying which to pick."""
    task = cfg.task.name
    for group, example in (("model", {"topn": "model=ease", "ctr": "model=fm"}),
                           ("dataset", {"topn": "dataset=ml-100k", "ctr": "dataset=ml-100k-ctr"})):
        kind = group_task(cfg, group)
        if kind != task:
            what = {("model", "topn"): "ranks items (top-N)",
                    ("model", "ctr"): "predicts clicks (CTR)",
                    ("dataset", "topn"): "holds interactions (top-N)",
                    ("dataset", "ctr"): "holds labelled rows (CTR)"}[group, kind]
            raise RecbenchError(f"{group} '{cfg[group].name}' {what}, but the run's task is "
                                f"task={task}: use task={kind}, or a {group} of task={task} "
                                f"({example[task]}).")
    if task == "ctr" and cfg.split.get("train_fraction", 1.0) != 1.0:
        raise RecbenchError(f"split.train_fraction applies to top-N splits (each user's train "
                            f"interactions); a CTR split keeps every train row: leave it at "
                            f"1.0, got {cfg.split.train_fraction}.")
    if task == "ctr" and cfg.dataset.get("fields") is not None:  # checked now, not once loaded
        from recbench.data.features import FieldSpec

        for spec in OmegaConf.to_container(cfg.dataset.fields, resolve=True):
            try:
                FieldSpec(**spec)
            except (TypeError, ValueError) as err:
                raise RecbenchError(f"dataset.fields: {str(err).splitlines()[0]} "
                                    f"(in {spec!r}).") from None


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
              if k not in ("_target_", "label", *STAGE_KEYS.get(group, ()))
              and (k != "name" or "name" in params)}
    _check_types(target, kwargs, group)
    kwargs |= {key: cfg[key] for key in PASSED_IN.get(group, ())}
    if group == "dataset":
        return functools.partial(target, **kwargs)
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


# --------------------------------------------------------------------------- fingerprints
def resolved(cfg: DictConfig) -> dict:
    """The resolved config as plain containers, without Hydra's own node."""
    data = OmegaConf.to_container(cfg, resolve=True)
    data.pop("hydra", None)
    return data


def result_config(cfg: DictConfig, *, seed: bool = True) -> dict:
    """The resolved config minus the keys that do not change results (:data:`NOT_HASHED`,
    from the schemas): what a run's config hash covers and what it logs as MLflow params
    (the whole config is its ``config.yaml`` artifact). ``seed=False`` leaves the seed out.
    """
    data = resolved(cfg)
    for group, option in HASHED_UNLESS.items():
        if (data.get(group) or {}).get("name") == option:
            data.pop(group)
    for group in TASK_IGNORES.get((data.get("task") or {}).get("name", "topn"), ()):
        data.pop(group, None)
    for key, neutral in HASHED_UNLESS_VALUE.items():
        group, _, leaf = key.partition(".")
        node = data.get(group)
        if not isinstance(node, dict) or leaf not in node:
            continue
        sibling, value = neutral if isinstance(neutral, tuple) else (leaf, neutral)
        if node.get(sibling) == value:
            node.pop(leaf)
    for key in NOT_HASHED + (() if seed else ("seed",)):
        parent, _, leaf = key.rpartition(".")
        (data.get(parent, {}) if parent else data).pop(leaf, None)
    return data


def config_hash(cfg: DictConfig, *, seed: bool = True) -> str:
    """sha256 of :func:`result_config`. With ``seed=False`` runs that differ only by seed
    share this hash, which is how leaderboards group seeds of one configuration."""
    data = result_config(cfg, seed=seed)
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
