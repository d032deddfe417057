"""RecBole's model zoo, read from the installed package without importing it.

A RecBole model ``X`` lives in ``recbole/model/<kind>_recommender/<x>.py`` with its default
hyper-parameters in ``recbole/properties/model/X.yaml``; this module answers "does X
exist, what kind is it, which keys may a run set" from those files alone, so a config is
checked in milliseconds, before anything is logged.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import yaml

from recbench.errors import closest

#: RecBole model kinds the bridge runs (its protocol has users, items and time order only)
SUPPORTED = ("general", "sequential")
#: kinds refused, with the reason shown to the user
REFUSED = {
    "context_aware": "it predicts clicks from features (CTR prediction): run it with "
                     "task=ctr as model=recbole_ctr model.name={name}",
    "knowledge_aware": "it needs a knowledge graph (.kg and .link files), which recbench "
                       "data sets do not have",
    "exlib": "it wraps XGBoost/LightGBM feature models (CTR prediction), not a ranking model",
}
#: sequential models that also need item features (attributes) RecBole reads from .item
NEEDS_FEATURES = {"FDSA": "item attributes (selected_features)",
                  "S3Rec": "item attributes and a pre-training stage",
                  "GRU4RecF": "item features (selected_features)",
                  "KSR": "a knowledge graph", "GRU4RecKG": "a knowledge graph",
                  "SASRecF": "item features (selected_features)",
                  "DIN": "user/item features (it is a CTR model)",
                  "DIEN": "user/item features (it is a CTR model)"}
#: RecBole settings recbench owns, and where a user sets them instead
OWNED = {
    "epochs": "trainer.max_epochs", "stopping_step": "trainer.patience",
    "eval_step": "trainer.valid_every", "seed": "seed", "valid_metric": "metrics.valid_metric",
    "metrics": "metrics.names", "topk": "metrics.ks", "eval_args": "split",
    "eval_batch_size": "metrics.chunk_size", "data_path": "dataset",
    "benchmark_filename": "split", "checkpoint_dir": "(not used)",
    "use_gpu": "trainer.accelerator", "gpu_id": "trainer.accelerator",
    "USER_ID_FIELD": "(fixed)", "ITEM_ID_FIELD": "(fixed)", "TIME_FIELD": "(fixed)",
    "load_col": "(fixed)", "reproducibility": "trainer.deterministic",
}
#: RecBole training settings a run may pass through ``model.params``
TRAINING_KEYS = ("learner", "learning_rate", "train_batch_size", "weight_decay",
                 "clip_grad_norm", "train_neg_sample_args", "require_pow", "shuffle",
                 "MAX_ITEM_LIST_LENGTH", "enable_amp")


def _package_dir() -> Path:
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("package 'recbole' is not installed; run `make install`.")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def models() -> dict[str, str]:
    """``{model name: kind}`` of every model RecBole ships, e.g. ``{"BPR": "general"}``."""
    root = _package_dir()
    found = {}
    for path in sorted((root / "properties" / "model").glob("*.yaml")):
        module = path.stem.lower()
        for kind in (*SUPPORTED, *REFUSED):
            if (root / "model" / f"{kind}_recommender" / f"{module}.py").exists():
                found[path.stem] = kind
                break
    return found


def supported() -> list[str]:
    """Names of the RecBole models the bridge runs."""
    return [n for n, k in models().items() if k in SUPPORTED and n not in NEEDS_FEATURES]


def model_kind(name: str, task: str = "topn") -> str:
    """``"general"`` or ``"sequential"`` for a RecBole model the top-N bridge can run;
    ``"context_aware"`` with ``task="ctr"`` (the CTR bridge runs those only).

    Raises:
        ValueError: an unknown name (with the closest match), or a model that needs inputs
            recbench data sets lack.
    """
    zoo = models()
    if name not in zoo:
        hint = next((n for n in zoo if n.lower() == name.lower()), None) or closest(name, list(zoo))
        raise ValueError(f"RecBole has no model '{name}' (names are case-sensitive)."
                         + (f" Did you mean '{hint}'?" if hint else "")
                         + f" Supported here: {', '.join(supported())}.")
    kind = zoo[name]
    if task == "ctr":
        if kind != "context_aware" or name in ("DIN", "DIEN"):  # DIN/DIEN: behaviour sequences
            raise ValueError(f"RecBole model '{name}' is {kind.replace('_', '-')}: "
                             f"model=recbole_ctr runs context-aware models, e.g. DeepFM.")
        return kind
    if kind in REFUSED:
        raise ValueError(f"RecBole model '{name}' is {kind.replace('_', '-')}: "
                         f"{REFUSED[kind].format(name=name)}. Or pick a general or sequential "
                         f"model, e.g. BPR or SASRec.")
    if name in NEEDS_FEATURES:
        raise ValueError(f"RecBole model '{name}' needs {NEEDS_FEATURES[name]}, which recbench "
                         f"data sets do not provide; use e.g. SASRec or GRU4Rec.")
    return kind


@cache
def default_params(name: str) -> dict:
    """RecBole's default hyper-parameters of model ``name`` (its properties YAML)."""
    path = _package_dir() / "properties" / "model" / f"{name}.yaml"
    return yaml.safe_load(path.read_text()) or {}


def check_params(name: str, params: dict) -> None:
    """Raise ValueError for a ``model.params`` key that the model does not read or that
    recbench sets itself (naming the recbench setting to use instead)."""
    allowed = set(default_params(name)) | set(TRAINING_KEYS)
    for key in params:
        if key in OWNED:
            raise ValueError(f"params.{key} is set by recbench, not RecBole: use "
                             f"{OWNED[key]} instead.")
        if key not in allowed:
            hint = closest(key, sorted(allowed))
            raise ValueError(f"RecBole model '{name}' has no setting '{key}'."
                             + (f" Did you mean '{hint}'?" if hint else "")
                             + f" Its settings: {', '.join(sorted(allowed))}.")
