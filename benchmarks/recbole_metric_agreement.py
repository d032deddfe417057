"""RecBole's five beyond-accuracy metrics against ours on the same top-10 lists
(`make bench`): writes ``results/bench/recbole_metrics.md``.

The lists are the test rankings of EASE, MostPop, RP3beta and UserKNN on ml-100k (random 80/10/10, train and
validation items masked), produced once by recbench's ranker; RecBole's own metric classes
(``recbole.evaluator.metrics``) and recbench's evaluator then score the same lists. APLT
uses RecBole's tail rule (``tail_rule=bottom_fraction``, ``tail_fraction=0.1`` = RecBole's
default ``tail_ratio``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

K = 10
METRICS = ("coverage", "gini", "entropy", "arp", "aplt")


def main(out: str = "results/bench/recbole_metrics.md") -> None:
    from recbench.config import build, compose, resolved
    from recbench.evaluation.popularity import ItemStats
    from recbench.evaluation.ranker import ranked_chunks, seen_matrix
    from recbench.evaluation.recbole_reference import CONVERSIONS, recbole_values, to_ours
    from recbench.evaluation.suite import evaluate_suite
    from recbench.models.base import FitContext
    from recbench.splits.make import make_split

    cfg = compose(["dataset=ml-100k", "split=random_ratio"])
    plain = resolved(cfg)
    split = make_split(plain["dataset"], plain["split"], build(cfg, "dataset"),
                       build(cfg, "split"))
    stats = ItemStats.from_train(split.train, tail_rule="bottom_fraction", tail_fraction=0.1)
    exclude = [split.train, split.valid]
    lines = ["# recbench vs RecBole: beyond-accuracy metrics on the same lists", "",
             f"ml-100k, random 80/10/10 split (split.seed {cfg.split.seed}), the test top-{K} "
             "lists of EASE, MostPop, RP3beta and UserKNN (train and validation items masked), "
             f"{split.test.getnnz(axis=1).astype(bool).sum()} users, {split.n_items} items. "
             "`RecBole` is RecBole 1.2.1's metric class on the lists, `converted` its value "
             "mapped onto our definition, `recbench` our evaluator. APLT: RecBole's tail "
             "rule (the 10% least popular trained items). Written by "
             "`python benchmarks/recbole_metric_agreement.py` (`make bench`).", "",
             "| model | metric | RecBole class | RecBole | converted | recbench | "
             "abs. difference | conversion |", "|---|---|---|---|---|---|---|---|"]
    for name in ("ease", "mostpop", "rp3beta", "userknn"):
        model = build(compose([f"model={name}"]), "model")
        model.fit(split.train, split.valid, FitContext())
        items = torch.cat([c.items[:, :K] for c in ranked_chunks(
            model.score, split.test, seen_matrix(split.test.shape, exclude), K)]).numpy()
        ours = evaluate_suite(model.score, split.test, exclude,
                              [f"{m}@{K}" for m in METRICS], stats=stats)
        values = {m: float(np.mean(v)) for m, v in ours.per_user.items()} | ours.per_run
        reference = recbole_values(items, split.train, tail_ratio=0.1)
        for metric in METRICS:
            converted = to_ours(metric, reference[metric], items, split.train)
            mine = values[f"{metric}@{K}"]
            cls, how = CONVERSIONS[metric]
            lines.append(f"| {name} | {metric}@{K} | {cls} | {reference[metric]:.6f} | "
                         f"{converted:.6f} | {mine:.6f} | {abs(converted - mine):.1e} | {how} |")
            print(lines[-1], flush=True)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
