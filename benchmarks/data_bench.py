"""Data benchmark (`make bench`): load + split time from raw files and from the split cache.

Writes ``results/bench/data.md``. Each row is measured in a fresh subprocess (so imports and
the OS page cache are the same for every row): first with an empty cache (raw parse +
preprocess + split + cache write), then again (cache hit). Targets from issue 3:
gowalla_m1 under 15 s from raw and under 2 s from the cache.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

DATASETS = [("gowalla_m1", "predefined"), ("amazoncds_m1", "predefined"),
            ("amazon_beauty_s3rec", "leave_one_out"), ("ml-100k", "random_ratio")]

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from recbench.config import build, compose, resolved
from recbench.splits.make import make_split
t1 = time.perf_counter()
cfg = compose([f"dataset={sys.argv[1]}", f"split={sys.argv[2]}"])
plain = resolved(cfg)
split = make_split(plain["dataset"], plain["split"], build(cfg, "dataset"), build(cfg, "split"))
t2 = time.perf_counter()
print(json.dumps({"load_split_s": t2 - t1, "cache": split.fingerprint["cache"],
                  "n_train": split.train.nnz, "n_test": split.test.nnz,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(dataset: str, split: str, cache: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, dataset, split], capture_output=True,
                         text=True, env={"RECBENCH_CACHE": cache, "PATH": ""}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(out: str = "results/bench/data.md") -> None:
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for dataset, split in DATASETS:
            raw, cached = measure(dataset, split, cache), measure(dataset, split, cache)
            rows.append((dataset, split, raw, cached))
            print(f"{dataset:22s} {split:14s} raw {raw['load_split_s']:6.2f}s "
                  f"({raw['cache']})  cached {cached['load_split_s']:6.2f}s ({cached['cache']})",
                  flush=True)
    lines = ["# Data loading and splitting", "",
             f"Machine: {platform.processor() or platform.machine()}, "
             f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}. "
             "Each cell is one fresh process; `raw` parses, preprocesses, splits and writes "
             "the cache, `cached` reads the split back by its fingerprint. Targets: gowalla_m1 "
             "< 15 s raw, < 2 s cached.", "",
             "| dataset | split | train | test | raw (s) | cached (s) | raw / cached | "
             "peak RSS raw (MB) |", "|---|---|---|---|---|---|---|---|"]
    for dataset, split, raw, cached in rows:
        lines.append(f"| {dataset} | {split} | {raw['n_train']:,} | {raw['n_test']:,} | "
                     f"{raw['load_split_s']:.2f} | {cached['load_split_s']:.2f} | "
                     f"{raw['load_split_s'] / cached['load_split_s']:.1f}x | "
                     f"{raw['peak_rss_mb']:.0f} |")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
