"""Load a data set and split it, through the fingerprint-keyed cache; report leakage."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable

from recbench.data.interactions import Interactions
from recbench.splits import cache
from recbench.splits.base import Split, build_split, check_parts, fingerprint
from recbench.splits.fraction import FULL, KEY, hide_train, without_fraction
from recbench.splits.leakage import broken_promises


def _raw_digest(dataset_cfg: dict) -> str:
    """Identity of the raw input: file hashes for file-based data, else the config itself."""
    if dataset_cfg.get("root") is not None and dataset_cfg.get("files"):
        from recbench.data.loader import source_digest
        return source_digest(dataset_cfg["root"], dataset_cfg["files"])
    return hashlib.sha256(json.dumps(dataset_cfg, sort_keys=True, default=str).encode()).hexdigest()


def cache_key(dataset_cfg: dict, split_cfg: dict, **extra) -> str:
    """The split cache's key: raw input digest, resolved dataset and split config, and
    ``extra`` (what else decides an entry's content: a CTR entry's task, format and
    generator versions; top-N keys have none, so existing entries stay valid)."""
    config = {"dataset": dataset_cfg, "split": split_cfg}
    described = {"raw": _raw_digest(dataset_cfg), "config": config, **extra}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def make_split(dataset_cfg: dict, split_cfg: dict, load: Callable[[], Interactions], protocol,
               use_cache: bool = True) -> Split:
    """Split a data set, reusing the cached result of an identical input + config.

    Args:
        dataset_cfg, split_cfg: the resolved ``dataset`` and ``split`` config nodes; they (and
            the raw bytes) define the fingerprint and the cache key (``train_fraction``:
            :mod:`recbench.splits.fraction`).
        load: zero-argument loader of the data set.
        protocol: an object with ``assign(data) -> (n,) int8`` and ``promises``.
        use_cache: read/write the cache.
    """
    # train_fraction hides train rows after the protocol's split: every fraction shares the
    # cached split, and at 1.0 the fingerprint is the one runs had before the key existed
    split_cfg, fraction = without_fraction(split_cfg)
    config = {"dataset": dataset_cfg, "split": split_cfg if fraction == FULL
              else {**split_cfg, KEY: fraction}}
    hit = None
    if use_cache:
        from recbench.data.loader import cache_dir
        path = cache_dir() / "splits" / f"{cache_key(dataset_cfg, split_cfg)}.npz"
        hit = cache.load(path)
    if hit is not None:
        data, assign = hit
        if dataset_cfg.get("features"):  # side tables are not cached: re-read them
            from recbench.data.loader import with_features
            data = with_features(data, dataset_cfg["root"], dataset_cfg["features"])
    else:
        data = load()
        assign = protocol.assign(data)
    check_parts(assign, protocol, split_cfg.get("name"), data.name)  # before anything is saved
    if use_cache and hit is None:
        cache.save(path, data, assign)
    assign = hide_train(data.user, assign, fraction, getattr(protocol, "seed", 0))
    split = build_split(data, assign, config)
    # what valid and test are, whatever the fraction: seeds sampled candidates, so that
    # the runs of a data-fraction curve meet the same ones
    split.fingerprint["eval_sha256"] = fingerprint(data, {"dataset": dataset_cfg,
                                                          "split": split_cfg})
    split.fingerprint["cache"] = "hit" if use_cache and hit is not None else (
        "miss" if use_cache else "off")
    for line in broken_promises(getattr(protocol, "promises", frozenset()), split.leakage):
        print(f"warning: split '{split_cfg.get('name')}' promises no such leakage, but {line}.",
              file=sys.stderr)
    return split


__all__ = ["make_split"]
