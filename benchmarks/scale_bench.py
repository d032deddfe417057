"""Scaling benchmark (`make bench-scale`): time and peak memory against data size.

    python benchmarks/scale_bench.py [--sizes 1M,5M,20M] [--steps a,b] [--reuse] [--out PATH]

Synthetic data sets in MovieLens-20M's shape (every size shares ML-20M's universe of 138,493
users x 26,744 items; Zipf item popularity; right-skewed user activity, every user >= 3
interactions) are generated once by :func:`recbench.data.synthetic.make_synthetic` into
``.bench-data/scale/<size>/ratings.csv`` (ML-20M's ``ratings.csv`` layout, without ratings)
and read back through recbench's own dataset loader (``dataset=ml-20m`` with its root and
columns overridden) and split cache. Measured per size, each step in its own fresh process
(``--child``, one JSON line; ``torch.set_num_threads(2)``; wall-clock ``time.perf_counter``;
peak RSS = the child's ``ru_maxrss``):

* load + split: raw (``use_cache=False``), first run (empty cache: raw + cache write) and
  cached (cache hit);
* fit of MostPop, ItemKNN and EASE (``configs/model/*.yaml`` defaults) on train;
* one MF-BPR epoch (``model=bpr`` defaults; the epoch, not the setup);
* one full-ranking evaluation of every test user (MF-BPR after one epoch; ``metrics=default``
  names x ks and chunk_size; :func:`recbench.evaluation.ranker.evaluate`, as
  ``recbole_bench.py``'s evaluation rows).

Model steps load the split from the cache first (not timed; the RSS after it is reported, so
the step's own increase is visible). The growth exponent of a step is the least-squares slope
of log(seconds) against log(interactions). Writes ``results/bench/scaling.md`` and
``scaling.png``; measured cells are also kept in ``.bench-data/scale/cells.json`` (``--reuse``
takes cells from there instead of measuring them again).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recbole_bench import (QUIET, THREADS, commit, epoch_timer, machine,  # noqa: E402
                           max_rss_mb, others_cpu, recbench_fit, wait_for_quiet)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".bench-data" / "scale"
#: MovieLens-20M's universe, and the generator's other settings (equal at every size)
N_USERS, N_ITEMS = 138_493, 26_744
SHAPE = dict(n_users=N_USERS, n_items=N_ITEMS, zipf=1.0, rank=16, seed=0,
             min_user_interactions=3)
SIZES = {"1M": 1_000_000, "5M": 5_000_000, "20M": 20_000_000}
SPLIT = "random_ratio"
#: step -> (label, growth-exponent target or None); the order of the table rows
STEPS = {
    "load_raw": ("load + split, raw (no cache)", 1.1),
    "load_first": ("load + split, first run (raw + cache write)", 1.1),
    "load_cached": ("load + split, cached", 1.1),
    "mostpop": ("MostPop fit", None),
    "itemknn": ("ItemKNN fit", None),
    "ease": ("EASE fit", None),
    "bpr": ("MF-BPR, one epoch", 1.1),
    "evaluate": ("evaluation, all test users", None),
    "evaluate_user": ("evaluation, per test user", 1.1),
}
#: what each step costs (the report's notes; true of the code, whatever the numbers)
NOTES = [
    "* **load + split**: parse the CSV (strings), remap raw ids, preprocess, a per-user "
    "shuffle and cut (a sort), build the CSR parts: O(n) to O(n log n). The cached path reads "
    "the `.npz` entry and hashes the raw file (its key), then builds the CSR parts. Both "
    "include fixed costs (config composition), which weigh most at 1M.",
    "* **MostPop**: column sums of train, O(nnz): milliseconds; no target.",
    "* **ItemKNN**: the co-occurrence product `X^T X` costs sum over users of n_u^2 (each "
    "user adds n_u^2 item pairs). With the user universe fixed, n_u grows with the data, so "
    "this work grows faster than interactions (up to their square) until `X^T X` is dense "
    "(26,744^2 = 715M pairs); top-k per item then grows with the non-zeros of `X^T X`. An "
    "exponent between 1 and 2 is the algorithm's, not overhead; no target.",
    "* **EASE**: the Gram matrix (sum of n_u^2 as above), then the Cholesky factor and inverse "
    "of the dense 26,744 x 26,744 matrix, O(items^3) whatever the number of interactions "
    "(float32 under `dtype: auto` above 16,384 items: 2.9 GB per matrix, two alive at once). "
    "The cubic part dominates at every size, so the exponent is near 0; no target.",
    "* **MF-BPR epoch**: one pass over the train interactions in batches of 2,048, one "
    "uniform negative each; every Adam step updates the full user and item embedding tables "
    "(dense gradients, (138,493 + 26,744) x 64), so an epoch costs batches x (batch work + "
    "table size): linear in train interactions at a fixed universe.",
    "* **evaluation**: scores every test user against every item (test users x items, "
    "chunks of 1,024 users), masks train + valid and takes the top 20: with the universe fixed "
    "the number of test users is the same at every size (every user has >= 3 interactions), "
    "so the whole evaluation has no target and the time per test user should stay flat; it "
    "grows only with the masked and relevant items per user.",
]
RSS_LIMIT_MB = 16 * 1024  # peak RSS of every step at the largest size


# ---------------------------------------------------------------- data
def data_dir(size: str) -> Path:
    return DATA / size


def generate(size: str) -> dict:
    """Write ``<size>/ratings.csv`` (userId, movieId, timestamp: ML-20M's layout, ids from 1,
    whole seconds) and ``<size>/shape.json`` (the generator's arguments and the data's
    shape); returns the shape. Kept while the arguments are unchanged."""
    import numpy as np
    import pandas as pd

    from recbench.data.synthetic import make_synthetic

    args = SHAPE | {"density": SIZES[size] / (N_USERS * N_ITEMS)}
    folder = data_dir(size)
    meta_path = folder / "shape.json"
    if meta_path.is_file() and json.loads(meta_path.read_text())["args"] == args:
        return json.loads(meta_path.read_text())
    started = time.perf_counter()
    data = make_synthetic(**args)
    generated = time.perf_counter() - started
    per_user = np.bincount(data.user, minlength=N_USERS)
    per_item = np.sort(np.bincount(data.item, minlength=N_ITEMS))[::-1]
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"userId": data.user + 1, "movieId": data.item + 1,
                          "timestamp": np.floor(data.timestamp).astype(np.int64)})
    tmp = folder / "ratings.csv.part"
    frame.to_csv(tmp, index=False)
    tmp.replace(folder / "ratings.csv")
    meta = {"args": args, "interactions": len(data), "users": int((per_user > 0).sum()),
            "items": int((per_item > 0).sum()), "generate_s": generated,
            "user_min": int(per_user.min()), "user_median": float(np.median(per_user)),
            "user_max": int(per_user.max()),
            "top1pct_items_share": float(per_item[:N_ITEMS // 100].sum() / len(data)),
            "file_mb": (folder / "ratings.csv").stat().st_size / 2**20}
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta


# ---------------------------------------------------------------- child side (one measurement)
def overrides(size: str) -> list[str]:
    """``dataset=ml-20m`` pointed at the synthetic ``ratings.csv`` of ``size``."""
    return ["dataset=ml-20m", f"split={SPLIT}", f"dataset.name=synthetic-{size.lower()}",
            f"dataset.root={data_dir(size)}", "~dataset.columns.rating"]


def load_split(size: str, use_cache: bool = True):
    """The split of ``size`` (config composed, files read, split; through the cache)."""
    from recbench.config import build, compose, resolved
    from recbench.splits.make import make_split

    cfg = compose(overrides(size))
    plain = resolved(cfg)
    return make_split(plain["dataset"], plain["split"], build(cfg, "dataset"),
                      build(cfg, "split"), use_cache=use_cache)


def shape_of(split) -> dict:
    return {"n_train": int(split.train.nnz), "n_valid": int(split.valid.nnz),
            "n_test": int(split.test.nnz), "n_users": int(split.n_users),
            "n_items": int(split.n_items), "cache": split.fingerprint["cache"]}


def measure_load(size: str, mode: str) -> dict:
    """Load + split seconds: ``raw`` without the cache, ``first`` / ``cached`` through it
    (imports before the clock starts)."""
    import importlib

    for module in ("recbench.config", "recbench.data.loader", "recbench.splits.make"):
        importlib.import_module(module)

    started = time.perf_counter()
    split = load_split(size, use_cache=mode != "raw")
    return {"seconds": time.perf_counter() - started, **shape_of(split)}


def loaded(size: str):
    """The split from the cache (a hit: the first-run cell wrote it), its load seconds and
    the RSS after loading."""
    started = time.perf_counter()
    split = load_split(size)
    if split.fingerprint["cache"] != "hit":
        raise RuntimeError(f"{size}: split cache {split.fingerprint['cache']}, expected a hit")
    return split, {"load_s": time.perf_counter() - started, "rss_loaded": max_rss_mb()}


def measure_fit(size: str, name: str) -> dict:
    """``model.fit(train)`` seconds of a closed-form model (``configs/model/<name>.yaml``)."""
    split, info = loaded(size)
    info["rss_before"] = max_rss_mb()
    return {"seconds": recbench_fit(split, name, 1)[1], **info, **shape_of(split)}


def measure_bpr(size: str) -> dict:
    """Seconds of one MF-BPR epoch (``model=bpr`` defaults), start of the epoch (data
    iterator included) to its end; setup before it is not timed."""
    split, info = loaded(size)
    info["rss_before"] = max_rss_mb()
    timer = epoch_timer()
    recbench_fit(split, "bpr", 1, [timer])
    return {"seconds": timer.times[0], **info, **shape_of(split)}


def measure_evaluate(size: str) -> dict:
    """One full-ranking test evaluation of every test user (MF-BPR after one epoch, train +
    fold-in + valid masked, ``metrics=default``: its names x ks and chunk_size)."""
    from recbench.config import compose, suite_metric_names
    from recbench.evaluation.ranker import evaluate

    split, info = loaded(size)
    node = compose(["metrics=default"]).metrics
    metrics, chunk = suite_metric_names(node), int(node.chunk_size)
    model = recbench_fit(split, "bpr", 1)[0]
    info["rss_before"] = max_rss_mb()
    started = time.perf_counter()
    users, _ = evaluate(model.score, split.test, [split.train, split.fold_in, split.valid],
                        metrics, chunk)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "users": len(users), "metrics": len(metrics), "chunk": chunk,
            **info, **shape_of(split)}


def profile_load(size: str, mode: str) -> dict:
    """cProfile of one load + split (as :func:`measure_load`): its seconds and the
    cumulative seconds of every function of recbench, numpy, scipy and pandas."""
    import importlib

    from recbole_bench import cprofile

    for module in ("recbench.config", "recbench.data.loader", "recbench.splits.make"):
        importlib.import_module(module)
    stats = cprofile(load_split, size, mode != "raw")
    functions = {}
    for (path, line, fn), v in stats.items():
        if any(f"/{lib}/" in path for lib in ("recbench", "numpy", "scipy", "pandas")) or \
                path == "~":
            name = f"{fn} ({Path(path).name}:{line})" if path != "~" else fn
            functions[name] = max(functions.get(name, 0.0), v[3])
    total = max(v[3] for (path, _, fn), v in stats.items() if fn == "load_split")
    return {"total": total, "functions": functions}


def child(step: str, size: str) -> None:
    import torch

    torch.set_num_threads(THREADS)
    os.environ["RECBENCH_CACHE"] = str(data_dir(size) / "cache")
    if step == "generate":
        result = generate(size)
    elif step.startswith("profile_load_"):
        result = profile_load(size, step.removeprefix("profile_load_"))
    elif step.startswith("load_"):
        result = measure_load(size, step.removeprefix("load_"))
    elif step == "bpr":
        result = measure_bpr(size)
    elif step == "evaluate":
        result = measure_evaluate(size)
    else:
        result = measure_fit(size, step)
    print(json.dumps(result | {"peak_rss": max_rss_mb()}))


# ---------------------------------------------------------------- parent side (the table)
def run_child(step: str, size: str, tries: int = 3, waits: int = 6) -> dict:
    """One measurement in a fresh subprocess; measured again (``tries`` in all) when other
    processes used more than ``QUIET`` cores meanwhile (after waiting up to ``waits`` x 20 s
    for a quiet machine). The first-run cell starts from an empty split cache every try."""
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS)}
    command = [sys.executable, __file__, "--child", step, size]
    for _ in range(tries):
        wait_for_quiet(waits)
        if step == "load_first":
            shutil.rmtree(data_dir(size) / "cache", ignore_errors=True)
        outcome = {}
        started = time.perf_counter()
        load = others_cpu(lambda: outcome.update(
            out=subprocess.run(command, capture_output=True, text=True, env=env)))
        wall = time.perf_counter() - started
        if load <= QUIET or step == "generate":
            break
        print(f"{step} {size}: other processes used {load:.2f} cores meanwhile; again",
              flush=True)
    out = outcome["out"]
    if out.returncode:
        raise RuntimeError(f"{step} {size} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result |= {"others_cores": round(load, 2), "process_s": round(wall, 1), "commit": commit()}
    print(f"{step:12s} {size:4s} {json.dumps(result)}", flush=True)
    return result


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(ys) on log(xs)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def seconds_of(cell: dict, step: str) -> float:
    return cell["seconds"] / cell["users"] if step == "evaluate_user" else cell["seconds"]


def cell_of(cells: dict, step: str, size: str) -> dict | None:
    return cells.get(f"evaluate {size}" if step == "evaluate_user" else f"{step} {size}")


def plot(cells: dict, sizes: list[str], shapes: dict, path: Path) -> None:
    """Log-log seconds against interactions, one line per step (per-user evaluation in ms),
    with a slope-1 guide."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5.2), dpi=150)
    ax = fig.add_subplot()
    xs = [shapes[s]["interactions"] for s in sizes]
    for step, (label, _) in STEPS.items():
        found = [(x, seconds_of(c, step)) for x, s in zip(xs, sizes)
                 if (c := cell_of(cells, step, s)) and "seconds" in c]
        if len(found) < 2:
            continue
        scale, unit = (1000.0, " (ms)") if step == "evaluate_user" else (1.0, "")
        ax.plot([x for x, _ in found], [y * scale for _, y in found], marker="o",
                linestyle="--" if step == "evaluate_user" else "-", label=f"{label}{unit}")
    if len(xs) >= 2:
        ax.plot(xs, [x / xs[0] * 1.0 for x in xs], color="grey", linestyle=":",
                label="slope 1 (guide)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("interactions")
    ax.set_ylabel("seconds (per-user evaluation: ms)")
    ax.set_title("recbench scaling on synthetic ML-20M-shaped data (2 torch threads)")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})


def profile_text(label: str, small: dict, large: dict, sizes: tuple[str, str],
                 top: int = 6) -> str:
    """Where the growth of a load step goes: the ``top`` functions by cumulative seconds at
    the larger size (wrappers over 90% of the total left out), at both sizes, with slopes."""
    found = sorted(((sec, fn) for fn, sec in large["functions"].items()
                    if sec < 0.9 * large["total"] and fn in small["functions"]
                    and not fn.startswith("<built-in method builtins")), reverse=True)
    parts = []
    for sec, fn in found[:top]:
        parts.append(f"`{fn}` {small['functions'][fn]:.2f} s -> {sec:.2f} s "
                     f"({sec / max(small['functions'][fn], 1e-9):.1f}x)")
    return (f"Profile of **{label}** (its {sizes[0]} -> {sizes[1]} slope is over the target; "
            f"cProfile, {small['total']:.2f} s at {sizes[0]}, {large['total']:.2f} s at "
            f"{sizes[1]}, {large['total'] / small['total']:.1f}x for "
            f"{SIZES[sizes[1]] / SIZES[sizes[0]]:.0f}x the interactions). Functions by "
            f"cumulative time at "
            f"{sizes[1]}, leaving out wrappers over 90% of the total: " + "; ".join(parts) + ".")


def steep(cells: dict, sizes: list[str]) -> list[str]:
    """Load steps whose slope between the two largest sizes is over their target."""
    found = []
    for step, (_, target) in STEPS.items():
        pair = [cells.get(f"{step} {s}") for s in sizes[-2:]]
        if step.startswith("load_") and len(sizes) >= 2 and all(c and "seconds" in c for c in pair):
            last = slope([SIZES[s] for s in sizes[-2:]], [c["seconds"] for c in pair])
            if last > target:
                found.append(step)
    return found


def older_cells(cells: dict, sizes: list[str]) -> str:
    """A sentence naming the cells measured at another commit than this report's (kept
    by ``--reuse``), or nothing."""
    now, other = commit(), {}
    for step in STEPS:
        for size in sizes:
            cell = cells.get(f"{step} {size}")
            if cell is not None and cell.get("commit", "unrecorded") != now:
                other.setdefault(cell.get("commit", "unrecorded"), []).append(f"{step} {size}")
    return "".join(f" Cells measured at commit {c} (kept by `--reuse`): {', '.join(keys)}."
                   for c, keys in other.items())


def report(cells: dict, sizes: list[str], shapes: dict, png: Path) -> str:
    xs = {s: shapes[s]["interactions"] for s in sizes}
    big = sizes[-1]
    lines = ["# Scaling: time and peak memory against interactions", "",
             f"Machine: {machine()}; torch threads {THREADS}. Every cell is one fresh process; "
             "times are wall-clock seconds, peak RSS is the process's `ru_maxrss` (MB), which "
             "includes loading the data. Produced by `benchmarks/scale_bench.py` "
             f"(`make bench-scale`).{older_cells(cells, sizes)}", "",
             "## Data", "",
             f"`recbench.data.synthetic.make_synthetic` at every size with MovieLens-20M's "
             f"universe: {N_USERS:,} users x {N_ITEMS:,} items, Zipf item popularity (exponent "
             f"{SHAPE['zipf']}), rank-{SHAPE['rank']} user/item affinity, seed {SHAPE['seed']}; "
             "`density` = target interactions / (users x items). All sizes share the user and "
             "item universe, so growth is against interactions per user (1M: ~7 per user, 20M: "
             "~144, ML-20M's mean) and the per-user and per-item costs (the full-ranking "
             "evaluation, EASE's item x item inverse) do not grow with the data. User activity "
             "is right-skewed (`min_user_interactions + BetaBinomial`, an exponential-like "
             f"tail) with every user at >= {SHAPE['min_user_interactions']} interactions "
             f"(`min_user_interactions={SHAPE['min_user_interactions']}`), so every user is "
             f"eligible for the test part of `split={SPLIT}` (per user 80/10/10, seed 2024) at "
             "every size. Written once to `.bench-data/scale/<size>/ratings.csv` in ML-20M's "
             "`ratings.csv` layout (`userId,movieId,timestamp`, no rating column) and read "
             "through recbench's loader as `dataset=ml-20m` with `dataset.root` and "
             "`dataset.columns` overridden (`format: table`, `duplicates: first`).", "",
             "| size | interactions | users | items with interactions | per user: min / median "
             "/ max | top 1% items' share | train / valid / test | test users | CSV (MB) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in sizes:
        m, c, e = shapes[s], cells.get(f"load_raw {s}", {}), cells.get(f"evaluate {s}", {})
        parts = " / ".join(f"{c[k]:,}" for k in ("n_train", "n_valid", "n_test")) if c else "-"
        lines.append(f"| {s} | {m['interactions']:,} | {m['users']:,} | {m['items']:,} | "
                     f"{m['user_min']} / {m['user_median']:.0f} / {m['user_max']:,} | "
                     f"{100 * m['top1pct_items_share']:.1f}% | {parts} | "
                     f"{e.get('users', 0):,} | {m['file_mb']:.0f} |")
    header = " | ".join(f"{s} time (s) | {s} peak RSS (MB)" for s in sizes)
    shares = ", ".join(f"{s} {100 * cells[f'load_raw {s}']['n_train'] / xs[s]:.0f}%"
                       for s in sizes if f"load_raw {s}" in cells)
    lines += ["", "## Time and peak RSS per step", "",
              "Exponent: least-squares slope of log(time) on log(interactions) over the sizes "
              f"measured; last step: the slope between the two largest sizes "
              f"({sizes[-2] if len(sizes) > 1 else '-'} -> {big}; fixed costs weigh less "
              "there); vs train: the slope against train interactions (what the fits and "
              f"the epoch read; the train share grows with the size, {shares}, as users with "
              "< 10 interactions still give one valid and one test item). "
              "Target (on the exponent): <= 1.1 for load + split, the MF-BPR epoch and "
              "evaluation per test user; the other steps have none (see the notes).", "",
              f"| step | {header} | exponent | last step | vs train | target | met |",
              "|---|" + "---|---|" * len(sizes) + "---|---|---|---|---|"]
    missed = []
    for step, (label, target) in STEPS.items():
        row, found, trained = [], [], []
        for s in sizes:
            c = cell_of(cells, step, s)
            if c is None or "seconds" not in c:
                row.append(f"{c['skip'] if c else 'not run'} | -")
                continue
            secs = seconds_of(c, step)
            found.append((xs[s], secs))
            trained.append((c["n_train"], secs))
            row.append(f"{1000 * secs:.3f} ms | -" if step == "evaluate_user"
                       else f"{secs:.2f} | {c['peak_rss']:,.0f}")
        exponent = slope(*zip(*found)) if len(found) >= 2 else None
        last = slope(*zip(*found[-2:])) if len(found) >= 2 else None
        on_train = slope(*zip(*trained)) if len(trained) >= 2 else None
        met = "-" if target is None or exponent is None else \
            "yes" if exponent <= target else "**no**"
        if met == "**no**":
            missed.append(label)

        lines.append(f"| {label} | {' | '.join(row)} | "
                     f"{'n/a' if exponent is None else f'{exponent:.2f}'} | "
                     f"{'n/a' if last is None else f'{last:.2f}'} | "
                     f"{'n/a' if on_train is None else f'{on_train:.2f}'} | "
                     f"{'-' if target is None else f'<= {target}'} | {met} |")
    lines += ["", f"![time against interactions, log-log]({png.name})", "",
              "## Memory: RSS after loading the split vs the step's peak (MB)", "",
              "Model steps first load the split from the cache (not timed); 'loaded' is "
              "`ru_maxrss` after that, 'before' after setup (evaluation: after the training "
              "epoch), 'peak' at the end, 'own' = peak - loaded (0: the step stayed under the "
              "peak of reading the cache entry, which `ru_maxrss` cannot see below).", "",
              "| step | " + " | ".join(f"{s} loaded / before / peak / own" for s in sizes) + " |",
              "|---|" + "---|" * len(sizes)]
    for step, (label, _) in STEPS.items():
        if step.startswith("load_") or step == "evaluate_user":
            continue
        row = []
        for s in sizes:
            c = cells.get(f"{step} {s}")
            row.append("-" if not c or "seconds" not in c else
                       f"{c['rss_loaded']:,.0f} / {c['rss_before']:,.0f} / {c['peak_rss']:,.0f}"
                       f" / {c['peak_rss'] - c['rss_loaded']:,.0f}")
        lines.append(f"| {label} | {' | '.join(row)} |")
    peaks = [(c["peak_rss"], key) for key, c in cells.items()
             if key.endswith(f" {big}") and "peak_rss" in c and not key.startswith("generate")]
    if peaks:
        peak, key = max(peaks)
        verdict = "yes" if peak < RSS_LIMIT_MB else "**no**"
        lines += ["", f"Largest peak RSS at {big}: {peak:,.0f} MB ({peak / 1024:.1f} GiB, "
                      f"step `{key.split()[0]}`); target < {RSS_LIMIT_MB // 1024} GiB: {verdict}."]
    lines += ["", "Timed: load + split from `make_split` call to its return (config compose "
              "included; raw: `use_cache=False`; first run: empty cache folder, so parse + "
              "preprocess + split + cache write; cached: a hit); closed-form fits: "
              "`model.fit(train)`; MF-BPR: Lightning's epoch (start to end, batches drawn "
              "included, setup excluded); evaluation: one `evaluate(model.score, test, [train, "
              "fold_in, valid], metrics, chunk_size)` call with `metrics=default` (7 metrics x "
              "K 5, 10, 20; chunk_size 1024)."]
    lines += ["", "## What each step's growth means", "", *NOTES]
    for step in steep(cells, sizes):
        label = STEPS[step][0]
        small, large = (cells.get(f"profile_{step} {s}") for s in sizes[-2:])
        if small and large:
            lines += ["", profile_text(label, small, large, tuple(sizes[-2:]))]
    if missed:
        lines += ["", "Targets missed: " + "; ".join(missed) + "."]
    noisy = [f"{key} ({c['others_cores']:.2f})" for key, c in cells.items()
             if key.split()[-1] in sizes and not key.startswith("generate")
             and c.get("others_cores", 0) > QUIET]
    if noisy:
        lines += ["", f"Measured while other processes used more than {QUIET} cores (of 2; "
                      "cores' worth in brackets, on the last try; their times are inflated): "
                  + "; ".join(noisy) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--steps", default=",".join(s for s in STEPS if s != "evaluate_user"))
    parser.add_argument("--reuse", action="store_true",
                        help="take cells measured before from .bench-data/scale/cells.json")
    parser.add_argument("--out", default="results/bench/scaling.md")
    parser.add_argument("--tries", type=int, default=3,
                        help="measurements of a cell while other processes use CPU")
    parser.add_argument("--waits", type=int, default=6,
                        help="20 s waits for a quiet machine before each try")
    args = parser.parse_args(argv)
    sizes = sorted(args.sizes.split(","), key=lambda s: SIZES[s])
    steps = [s for s in args.steps.split(",") if s]
    store = DATA / "cells.json"
    cells = json.loads(store.read_text()) if store.is_file() else {}
    shapes = {}
    for size in sizes:
        shapes[size] = run_child("generate", size)
        for step in [s for s in STEPS if s in steps]:
            key = f"{step} {size}"
            if args.reuse and key in cells:
                continue
            if step not in ("load_first", "load_raw") and not any(
                    (data_dir(size) / "cache" / "splits").glob("*.npz")):
                cells[f"load_first {size}"] = run_child("load_first", size, args.tries,
                                                        args.waits)  # writes the cache
            cells[key] = run_child(step, size, args.tries, args.waits)
            store.write_text(json.dumps(cells, indent=1))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_suffix(".png")
    for step in steep(cells, sizes):  # where their growth goes: cProfile at the two largest
        for size in sizes[-2:]:
            key = f"profile_{step} {size}"
            if not (args.reuse and key in cells):
                cells[key] = run_child(f"profile_{step}", size, args.tries, args.waits)
                store.write_text(json.dumps(cells, indent=1))
    plot(cells, sizes, shapes, png)
    out.write_text(report(cells, sizes, shapes, png))
    print(f"wrote {out} and {png}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:])
    else:
        main(sys.argv[1:])
