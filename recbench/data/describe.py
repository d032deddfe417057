"""Describe data sets: size, density, count percentiles, time span (``recbench data``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recbench.data.interactions import TEST, TRAIN, Interactions
from recbench.safe_names import file_component

PERCENTILES = (0, 25, 50, 75, 90, 99, 100)


def describe(data: Interactions) -> dict:
    """Statistics of a loaded data set (counts are interactions after preprocessing)."""
    stats: dict = {"name": data.name, "users": data.n_users, "items": data.n_items,
                   "interactions": len(data)}
    if data.part is not None:
        stats["train"] = int((data.part == TRAIN).sum())
        stats["test"] = int((data.part == TEST).sum())
    stats["density"] = len(data) / (data.n_users * data.n_items)
    for kind, ids, n in (("user", data.user, data.n_users), ("item", data.item, data.n_items)):
        counts = np.bincount(ids, minlength=n)
        stats[f"per_{kind}"] = {f"p{p}": float(np.percentile(counts, p)) for p in PERCENTILES}
    if data.timestamp is None:
        stats["time"] = "none"
    elif data.timestamp_kind == "ordinal":
        stats["time"] = "ordinal (sequence order, no times)"
    else:
        first, last = (pd.Timestamp(t, unit="s") for t in (data.timestamp.min(), data.timestamp.max()))
        stats["time"] = f"{first:%Y-%m-%d} .. {last:%Y-%m-%d} ({(last - first).days} days)"
    if data.user_features is not None or data.item_features is not None:
        stats["features"] = {k: list(f.columns) for k, f in
                             (("user", data.user_features), ("item", data.item_features))
                             if f is not None}
    return stats


def to_markdown(stats: dict) -> str:
    lines = [f"# {stats['name']}", "", "| statistic | value |", "|---|---|"]
    for key in ("users", "items", "interactions", "train", "test"):
        if key in stats:
            lines.append(f"| {key} | {stats[key]:,} |")
    lines.append(f"| density | {stats['density']:.6f} |")
    lines.append(f"| time span | {stats['time']} |")
    if "features" in stats:
        for kind, cols in stats["features"].items():
            lines.append(f"| {kind} features | {', '.join(cols)} |")
    lines += ["", "| interactions per | " + " | ".join(f"p{p}" for p in PERCENTILES) + " |",
              "|---|" + "---|" * len(PERCENTILES)]
    for kind in ("user", "item"):
        values = stats[f"per_{kind}"]
        lines.append(f"| {kind} | " + " | ".join(f"{values[f'p{p}']:g}" for p in PERCENTILES) + " |")
    return "\n".join(lines) + "\n"


def write_description(stats: dict, out_dir: Path) -> Path:
    """Write ``<out_dir>/datasets/<name>.md`` and refresh the folder's README index (the
    name made a safe file name: ``dataset.name=../x`` must not write outside the folder)."""
    path = Path(out_dir) / "datasets" / f"{file_component(stats['name'])}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_markdown(stats))
    _write_index(path.parent)
    return path


def _write_index(folder: Path) -> None:
    import re

    rows = ["# Data sets", "", "Written by `recbench data describe dataset=NAME` (counts after "
            "the data set's preprocessing).", "",
            "| data set | users | items | interactions | train | test | density | time |",
            "|---|---|---|---|---|---|---|---|"]
    for page in sorted(folder.glob("*.md")):
        if page.name == "README.md":
            continue
        text = page.read_text()

        def cell(key: str) -> str:
            found = re.search(rf"^\| {key} \| ([^|]+) \|$", text, re.M)
            return found.group(1).strip() if found else "-"
        rows.append(f"| [{page.stem}]({page.name}) | " + " | ".join(
            cell(k) for k in ("users", "items", "interactions", "train", "test", "density",
                              "time span")) + " |")
    (folder / "README.md").write_text("\n".join(rows) + "\n")
