"""Evaluation-time benchmark of the metric suites (`make bench`): metrics=full against
metrics=default, the target being full <= 1.5 x default on gowalla_m1 (issue 13).

Writes ``results/bench/metrics.md``. Per data set one process fits each model once, then
times a run's whole evaluation (validation and test, as ``recbench run`` does: one ranking
pass each, catalogue metrics with their bootstrap intervals, per-group slices on test)
under each suite, interleaved and repeated; the cells are medians. MostPop scores for
almost nothing, so its ratio is the worst case: every second of metric work shows.
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path

SUITES = {"default": ["metrics=default"], "full": ["metrics=full"],
          "full, no bootstrap": ["metrics=full", "metrics.bootstrap=0"]}
CASES = [("ml-100k", "random_ratio", ("mostpop", "itemknn", "ease")),
         ("gowalla_m1", "predefined", ("mostpop", "itemknn"))]
REPEATS = 3


def time_suites(dataset: str, split_name: str, model_name: str) -> dict[str, float]:
    """Median seconds of one run's evaluation under each suite."""
    from recbench.config import build, compose, metric_names, resolved
    from recbench.evaluation.suite import MetricSuite
    from recbench.models.base import FitContext
    from recbench.splits.make import make_split

    base = [f"dataset={dataset}", f"split={split_name}", f"model={model_name}"]
    cfg = compose(base)
    plain = resolved(cfg)
    split = make_split(plain["dataset"], plain["split"], build(cfg, "dataset"),
                       build(cfg, "split"))
    model = build(cfg, "model")
    model.fit(split.train, split.valid, FitContext())
    seen = [split.train, split.fold_in]
    times: dict[str, list[float]] = {name: [] for name in SUITES}
    for _ in range(REPEATS):
        for name, overrides in SUITES.items():
            c = compose(base + overrides)
            start = time.perf_counter()
            suite = MetricSuite.from_config(c.metrics, metric_names(c), c.metrics.valid_metric,
                                            split)
            suite.evaluate(model.score, split.valid, seen, c.metrics.chunk_size, test=False)
            suite.evaluate(model.score, split.test, [*seen, split.valid], c.metrics.chunk_size,
                           test=True)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in times.items()}


def main(out: str = "results/bench/metrics.md") -> None:
    import torch

    torch.set_num_threads(2)
    wanted = sys.argv[1:] or [d for d, _, _ in CASES]
    rows = []
    for dataset, split_name, models in CASES:
        if dataset not in wanted:
            continue
        for model in models:
            t = time_suites(dataset, split_name, model)
            rows.append((dataset, model, t))
            print(f"{dataset:12s} {model:8s} " + "  ".join(f"{k} {v:6.2f}s" for k, v in t.items())
                  + f"  full/default {t['full'] / t['default']:.2f}", flush=True)
    lines = ["# Evaluation time of the metric suites", "",
             f"Machine: {platform.processor() or platform.machine()}, "
             f"{__import__('os').cpu_count()} cores, 2 torch threads, Python "
             f"{platform.python_version()}. One run's evaluation (validation + test: ranking, "
             "every metric at K = 5, 10, 20, the catalogue metrics' bootstrap "
             "intervals and the per-group slices of metrics=full), median of "
             f"{REPEATS} interleaved repeats, in seconds. `python benchmarks/metrics_bench.py`"
             " (part of `make bench`). Target: full / default <= 1.5 on gowalla_m1.", "",
             "| dataset | model | default (s) | full (s) | full, no bootstrap (s) | "
             "full / default |", "|---|---|---|---|---|---|"]
    for dataset, model, t in rows:
        lines.append(f"| {dataset} | {model} | {t['default']:.2f} | {t['full']:.2f} | "
                     f"{t['full, no bootstrap']:.2f} | {t['full'] / t['default']:.2f} |")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
