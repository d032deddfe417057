"""recbench vs RecBole 1.2.1 benchmark (`make bench`, `make bench-large`).

    python benchmarks/recbole_bench.py DATASET [OUT]      # writes results/bench/DATASET.md

Both sides run on the same machine, the same recbench split and the same hyper-parameters
(read from ``configs/model/*.yaml`` and translated to RecBole's names by
:func:`recbole_params`); the RecBole side is RecBole's own data pipeline, model, trainer
and evaluator, reached through recbench's bridge (:mod:`recbench.models.recbole.session`).
Every measurement runs in a fresh subprocess (``--child``) with ``torch.set_num_threads``
equal on both sides, and prints one JSON line. All times are wall-clock seconds
(``time.perf_counter``), memory is the process's ``ru_maxrss`` in MB.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THREADS = 2
#: recbench metric name -> RecBole's, all at K = TOPK, on both sides
METRICS = {"precision": "Precision", "recall": "Recall", "ndcg": "NDCG", "mrr": "MRR",
           "hit": "Hit"}
TOPK = 10
CHUNK = 1024  # users scored at once in the evaluation rows (recbench's default chunk_size)
RECBOLE_NAMES = {"bpr": "BPR", "lightgcn": "LightGCN", "sasrec": "SASRec", "ease": "EASE",
                 "itemknn": "ItemKNN"}
TARGET_RATIO = 0.5  # recbench time <= 0.5 x RecBole's
TARGET_ROOFLINE = 2.0  # recbench evaluation <= 2 x the score GEMM
TARGET_FLOOR = 1.5  # recbench evaluation <= 1.5 x the chunked score GEMM (issue 18)
FLOOR_SECONDS = 5.0  # the floor rows' rounds go on this long (small data sets: many rounds)
#: the metric suites of a run measured against the floor: label -> overrides (beyond with
#: no bootstrap: what ranking and the metrics cost without the 200 resamples' statistics)
SUITES = {"default": ["metrics=default"], "beyond": ["metrics=beyond"],
          "beyond_no_bootstrap": ["metrics=beyond", "metrics.bootstrap=0"],
          "full": ["metrics=full"]}
#: on a GPU (`make bench-gpu`) both sides train this many epochs; the first, a warm-up
#: (CUDA context, cuBLAS handles, caching allocator), is left out of the mean
GPU_EPOCHS, GPU_WARMUP = 3, 1
QUIET = 0.15  # cores other processes may use while a cell is measured (else it is redone)
NOISY: list[str] = []  # cells that stayed above QUIET after every try

#: per data set: general and sequential split, epochs timed, RecBole SASRec batches timed,
#: evaluation chunk sizes for the memory rows, and rows not run (with the reason)
DATASETS = {
    "ml-100k": dict(split="random_ratio", seq_split="leave_one_out", epochs=3, seq_batches=60,
                    chunks=[], skip={}),
    "movielens1m_m1": dict(split="predefined", seq_split="predefined", epochs=2, seq_batches=60,
                           chunks=[], skip={}),
    "gowalla_m1": dict(
        split="predefined", seq_split="predefined", epochs=1, seq_batches=60, chunks=[256, 4096],
        skip={("ease", "recbole"): "not run: np.linalg.inv of the dense 41k x 41k float32 Gram "
                                   "matrix, est. 41 min (8,192 items: 19.6 s, x 125) and ~27 GB "
                                   "(G, inverse, LAPACK copies) on a 23 GB machine",
              ("ease", "recbench"): "not run: 41k x 41k float32 Cholesky + inverse, est. 9 min "
                                    "(8,192 items: 4.2 s, x 125), over the 5 min row budget"}),
}


# ---------------------------------------------------------------- child side (one measurement)
def on_gpu() -> bool:
    """Both sides run on CUDA device 0 when there is one (`make bench-gpu`)."""
    import torch

    return torch.cuda.is_available()


def sync() -> None:
    """Wait for queued GPU work, so wall-clock times include it."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def load_split(dataset: str, split: str):
    from recbench.config import build, compose, resolved
    from recbench.splits.make import make_split

    cfg = compose([f"dataset={dataset}", f"split={split}"])
    plain = resolved(cfg)
    return make_split(plain["dataset"], plain["split"], build(cfg, "dataset"), build(cfg, "split"))


def model_config(name: str) -> dict:
    """The recbench model config (``configs/model/<name>.yaml``), resolved."""
    from recbench.config import compose, resolved

    return resolved(compose([f"model={name}"]))["model"]


def recbole_params(name: str, cfg: dict) -> dict:
    """RecBole settings equal to recbench's hyper-parameters ``cfg`` of model ``name``."""
    lr = cfg.get("optimizer", {}).get("lr")
    if name in ("bpr", "lightgcn"):
        params = {"embedding_size": cfg["dim"], "train_batch_size": cfg["batch_size"],
                  "learning_rate": lr, "train_neg_sample_args": {
                      "distribution": cfg["sampler"], "sample_num": cfg["negatives"],
                      "alpha": 1.0, "dynamic": False, "candidate_num": 0}}
        if name == "lightgcn":
            params |= {"n_layers": cfg["n_layers"], "reg_weight": cfg["reg"]}
        return params
    if name == "sasrec":
        return {"hidden_size": cfg["dim"], "inner_size": 4 * cfg["dim"],
                "n_layers": cfg["n_layers"], "n_heads": cfg["n_heads"],
                "hidden_dropout_prob": cfg["dropout"], "attn_dropout_prob": cfg["dropout"],
                "loss_type": cfg["loss"].upper(), "MAX_ITEM_LIST_LENGTH": cfg["max_len"],
                "train_batch_size": cfg["batch_size"], "learning_rate": lr}
    if name == "ease":
        return {"reg_weight": cfg["l2"]}
    return {"k": cfg["k"], "shrink": cfg["shrink"]}  # itemknn


def recbole_session(split, name: str, tmp: str, extra: dict | None = None):
    """RecBole's pipeline for model ``name`` on ``split`` (files under ``tmp``): its
    ``(train, valid, test)`` loaders, trainer, and the seconds the model constructor took."""
    from recbench.models.recbole.catalog import model_kind
    from recbench.models.recbole.session import prepare_split
    from recbench.models.recbole.shims import import_recbole

    import_recbole()
    rb = RECBOLE_NAMES[name]
    params = recbole_params(name, model_config(name)) | (extra or {})
    session, *loaders = prepare_split(split, rb, model_kind(rb), params, Path(tmp) / "recbench",
                                      seed=0, metrics=list(METRICS.values()), topk=TOPK,
                                      use_gpu=on_gpu())
    started = time.perf_counter()
    model = session.build_model()
    built = time.perf_counter() - started
    return loaders, session.build_trainer(model), built


def recbench_fit(split, name: str, epochs: int, callbacks=()):
    """Fit recbench's model ``name`` on train for ``epochs`` epochs (no validation); returns
    ``(model, fit seconds)``. ``callbacks`` join the Lightning Trainer recbench builds."""
    import pytorch_lightning as pl

    from recbench.config import build, compose
    from recbench.models.base import FitContext
    from recbench.splits.base import TRAIN

    original, extra = pl.Trainer, list(callbacks)

    class Trainer(original):  # the Trainer recbench builds, plus the benchmark's callbacks
        def __init__(self, *args, callbacks=(), **kwargs):
            super().__init__(*args, callbacks=[*callbacks, *extra], **kwargs)

    model = build(compose([f"model={name}"]), "model")
    ctx = FitContext(seed=0, trainer={"max_epochs": epochs, "progress_bar": False},
                     sequences=split.sequences(TRAIN) if model.uses_sequences else None)
    pl.Trainer = Trainer
    try:
        started = time.perf_counter()
        model.fit(split.train, None, ctx)
        return model, time.perf_counter() - started
    finally:
        pl.Trainer = original


def epoch_timer():
    """A Lightning callback recording each epoch's seconds (``.times``), start of the epoch
    (data iterator included) to its end."""
    import pytorch_lightning as pl

    class EpochTimer(pl.Callback):
        def __init__(self):
            self.times: list[float] = []

        def on_train_epoch_start(self, trainer, module):
            sync()
            self.started = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            sync()
            self.times.append(time.perf_counter() - self.started)

    return EpochTimer()


class FirstBatches:
    """The first ``n`` batches of a RecBole loader (times an epoch's prefix)."""

    def __init__(self, loader, n: int):
        self.loader, self.n = loader, n

    def __iter__(self):
        return itertools.islice(iter(self.loader), self.n)

    def __len__(self) -> int:
        return self.n


def measure_train(dataset: str, name: str, side: str) -> dict:
    """Seconds per training epoch: the mean over ``epochs`` epochs, or (RecBole SASRec) the
    first ``seq_batches`` batches of one epoch scaled to its full batch count."""
    spec = DATASETS[dataset]
    split = load_split(dataset, spec["seq_split"] if name == "sasrec" else spec["split"])
    if name == "sasrec" and split.data.timestamp is None:
        return {"skip": "no time order: the published files hold item sets per user, "
                        "without timestamps or sequence order"}
    epochs, warmup = (GPU_EPOCHS, GPU_WARMUP) if on_gpu() else (spec["epochs"], 0)
    if side == "recbench":
        timer = epoch_timer()
        model = recbench_fit(split, name, epochs, [timer])[0]
        times = timer.times[warmup:]
        return {"seconds": sum(times) / len(times), "epochs": len(times),
                "device": str(next(model.module.parameters()).device)}
    with tempfile.TemporaryDirectory() as tmp:
        (train, *_), trainer, _ = recbole_session(split, name, tmp)
        if name == "sasrec":
            started = time.perf_counter()
            trainer._train_epoch(FirstBatches(train, spec["seq_batches"]), 0)
            seconds = time.perf_counter() - started
            return {"seconds": seconds * len(train) / spec["seq_batches"],
                    "batches": f"{spec['seq_batches']} of {len(train)}"}
        times = []
        for epoch in range(epochs):
            sync()
            started = time.perf_counter()
            trainer._train_epoch(train, epoch)
            sync()
            times.append(time.perf_counter() - started)
        times = times[warmup:]
        return {"seconds": sum(times) / len(times), "epochs": len(times),
                "device": str(next(trainer.model.parameters()).device)}


#: fits shorter than this (s) are repeated (best of 3, both sides): a 0.2 s cell drifts
#: by a third between runs of the same code
SHORT_FIT = 1.0


def measure_fit(dataset: str, name: str, side: str) -> dict:
    """Fit seconds of a closed-form model (RecBole: model constructor + one ``_train_epoch``);
    the best of 3 when one takes under :data:`SHORT_FIT`."""
    split = load_split(dataset, DATASETS[dataset]["split"])

    def fit() -> float:
        if side == "recbench":
            return recbench_fit(split, name, 1)[1]
        with tempfile.TemporaryDirectory() as tmp:
            (train, *_), trainer, built = recbole_session(split, name, tmp)
            started = time.perf_counter()
            trainer._train_epoch(train, 0)
            return built + time.perf_counter() - started

    times = [fit()]
    if times[0] < SHORT_FIT:
        times += [fit(), fit()]
    return {"seconds": min(times), "fits": len(times)}


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_time(fn, repeats: int) -> float:
    """Fewest seconds ``fn()`` took over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def measure_evaluate(dataset: str, side: str, chunk: int = CHUNK, repeats: int = 5) -> dict:
    """Full-ranking test evaluation of an MF-BPR model trained one epoch: best of ``repeats``
    seconds, and ``ru_maxrss`` (MB) before and after. ``chunk`` users are scored at once on
    both sides (RecBole: ``eval_batch_size = chunk * n_items`` (user, item) pairs)."""
    import torch

    split = load_split(dataset, DATASETS[dataset]["split"])
    with tempfile.TemporaryDirectory() as tmp:
        if side == "recbench":
            run, device, _ = recbench_evaluation(split, chunk)
            load_kernel()
        else:
            (train, _, test), trainer, _ = recbole_session(
                split, "bpr", tmp, {"eval_batch_size": chunk * (split.n_items + 1)})
            trainer._train_epoch(train, 0)
            run = lambda: trainer.evaluate(test, load_best_model=False)  # noqa: E731
            device = next(trainer.model.parameters()).device
        before = max_rss_mb()
        if on_gpu():
            run()  # warm-up: kernels, the caching allocator
            torch.cuda.reset_peak_memory_stats()
        seconds = best_time(run, repeats)
    return {"seconds": seconds, "rss_before": before, "rss_after": max_rss_mb(),
            "users": int((split.test.getnnz(axis=1) > 0).sum()), "device": str(device),
            "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if on_gpu() else None}


def measure_floor(dataset: str, chunk: int = CHUNK, repeats: int = 11,
                  seconds: float = FLOOR_SECONDS, most: int = 201) -> dict:
    """recbench's test evaluation of MF-BPR trained one epoch beside the chunked GEMM floor,
    in one process, interleaved (each round runs every one of them once; the machine's
    speed drifts by 2x over minutes, so a ratio of times measured apart is not one):
    the floor (the score product ``chunk`` users at a time into one reused buffer), the
    ``evaluate`` of the table above, and the suite of a run (:class:`MetricSuite`) with
    ``metrics=default`` (7 accuracy metrics at 5, 10, 20), ``metrics=beyond`` (the
    beyond-accuracy metrics at 5, 10, 20, with 200 bootstrap resamples of the catalogue
    metrics; and without them) and ``metrics=full`` (both, and accuracy per activity
    quartile and user feature): :data:`SUITES`.

    At least ``repeats`` rounds, more (up to ``most``) until ``seconds`` have passed, after
    one round of warm-up. Returns the fewest seconds of each, and ``paired``: per run, the
    median over rounds of its time over the floor's time in the same round (a round takes
    from milliseconds to a few seconds, so both are measured at the same speed of the
    machine; the ratio of two minima may take them from different phases)."""
    import numpy as np

    from recbench.config import build, compose
    from recbench.evaluation.suite import MetricSuite

    split = load_split(dataset, DATASETS[dataset]["split"])
    model = recbench_fit(split, "bpr", 1)[0]
    floor = score_products(split, chunk)[1]

    from recbench.evaluation.ranker import evaluate
    seen = [split.train, split.fold_in, split.valid]
    runs = {"floor": floor, "evaluate": lambda: evaluate(
        model.score, split.test, seen, [f"{m}@{TOPK}" for m in METRICS], chunk)}
    n_metrics = {}
    for label, overrides in SUITES.items():
        task = build(compose([f"dataset={dataset}", *overrides]), "task")
        suite = MetricSuite.from_config(task.options, task.metrics, task.valid_metric, split)
        runs[label] = (lambda suite, masked: lambda: suite.evaluate(
            model.score, split.test, masked, chunk, test=True))(suite, task._masked(split))
        n_metrics[label] = len(task.metrics)
    times = {name: [] for name in runs}
    began = time.perf_counter()
    while len(times["floor"]) <= repeats or (
            time.perf_counter() - began < seconds and len(times["floor"]) <= most):
        for name, run in runs.items():  # the first round warms up (allocations, compilation)
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    times = {name: np.array(t[1:]) for name, t in times.items()}
    paired = {name: float(np.median(t / times["floor"])) for name, t in times.items()}
    return {name: float(t.min()) for name, t in times.items()} | {
        "paired": paired, "rounds": len(times["floor"]), "metrics": n_metrics}


def measure_gemm(dataset: str, chunk: int = CHUNK, repeats: int = 7) -> dict:
    """Best-of-``repeats`` seconds of the float32 score product ``(n_test_users, 64) @
    (64, n_items)``: as one GEMM (its output allocated each time) and ``chunk`` users at a
    time into one reused output buffer (as a chunked evaluation can)."""
    split = load_split(dataset, DATASETS[dataset]["split"])
    whole, chunked = score_products(split, chunk)
    chunked()  # warm-up
    return {"seconds": best_time(whole, repeats), "chunked": best_time(chunked, repeats),
            "users": int((split.test.getnnz(axis=1) > 0).sum()), "items": split.n_items}


def score_products(split, chunk: int):
    """Two zero-argument calls of the float32 score product ``(n_test_users, 64) @ (64,
    n_items)`` of random factors: as one GEMM (its output allocated each time), and
    ``chunk`` users at a time into one reused output buffer (the floor a chunked evaluation
    can reach); on the GPU when there is one, synchronised."""
    import torch

    users = int((split.test.getnnz(axis=1) > 0).sum())
    device = "cuda" if on_gpu() else "cpu"
    a, b = torch.randn(users, 64, device=device), torch.randn(64, split.n_items, device=device)
    out = torch.empty(min(chunk, users), split.n_items, device=device)

    def chunked():
        for start in range(0, users, chunk):
            rows = a[start:start + chunk]
            torch.mm(rows, b, out=out[:len(rows)])
        sync()

    def whole():
        a @ b
        sync()

    return whole, chunked


def load_kernel() -> None:
    """Load (compile, or read from numba's cache) recbench's CPU ranking kernel: loading
    code, like importing a library, not memory an evaluation holds (about 100 MB of LLVM)."""
    import numpy as np

    from recbench.evaluation.topk_cpu import rank_chunk

    ptr, none = np.zeros((1, 2), np.int64), np.zeros(0, np.int64)
    rank_chunk(np.zeros((1, 1), np.float32), ptr, none, ptr, none, 1)


def recbench_evaluation(split, chunk: int):
    """A zero-argument call of recbench's test evaluation of MF-BPR trained one epoch, the
    device the model is on, and the model."""
    from recbench.evaluation.ranker import evaluate

    model = recbench_fit(split, "bpr", 1)[0]
    seen = [split.train, split.fold_in, split.valid]
    return (lambda: evaluate(model.score, split.test, seen, [f"{m}@{TOPK}" for m in METRICS],
                             chunk), next(model.module.parameters()).device, model)


def cprofile(fn, *args, times: int = 1) -> dict:
    """cProfile of ``fn(*args)`` (the mean of ``times`` calls): ``{(file, line, function):
    (.., .., own s, cumulative s, ..)}``."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    for _ in range(times):
        profiler.runcall(fn, *args)
    return {key: (cc, nc, own / times, cum / times, callers)
            for key, (cc, nc, own, cum, callers) in pstats.Stats(profiler).stats.items()}


def cumulative(stats: dict, function: str, file: str = "") -> float:
    """Cumulative seconds of ``function`` (defined in a path containing ``file``); of nested
    same-named calls (``BPR.score -> MFModule.score``) the outermost, the largest."""
    return max([v[3] for (path, _, fn), v in stats.items() if fn == function and file in path]
               or [0.0])


def profile_train(dataset: str, name: str) -> dict:
    """cProfile of one recbench training epoch (Lightning included): the epoch's seconds
    under the profiler and the cumulative seconds of drawing batches (shuffle, negative
    sampling), ``batch_loss`` (forward), autograd's backward and the optimizer update."""
    spec = DATASETS[dataset]
    split = load_split(dataset, spec["seq_split"] if name == "sasrec" else spec["split"])
    timer = epoch_timer()
    stats = cprofile(recbench_fit, split, name, 1, [timer])
    return {"epoch": timer.times[0],
            "batches": cumulative(stats, "__next__", "torch/utils/data/dataloader.py"),
            "forward": cumulative(stats, "batch_loss", "recbench"),
            "backward": cumulative(stats, "<method 'run_backward' of "
                                          "'torch._C._EngineBase' objects>"),
            "optimizer": sum(cumulative(stats, fn, "torch/optim") for fn in ("adam", "sgd"))}


def hotspots(stats: dict, total: float, top: int = 4) -> dict:
    """``{"function (file:line)": seconds}`` of the ``top`` recbench functions by cumulative
    time (leaving out wrappers over 90% of ``total`` and nested same-named calls) and of the
    ``top`` functions of any library by own time (this file's left out)."""
    name = lambda key: f"{key[2]} ({Path(key[0]).name}:{key[1]})"  # noqa: E731
    ours, seen = {}, set()
    for key, v in sorted(stats.items(), key=lambda item: -item[1][3]):
        if "/recbench/" in key[0] and v[3] < 0.9 * total and key[2] not in seen:
            ours[name(key)] = v[3]
            seen.add(key[2])
    own = [item for item in stats.items() if not item[0][0].endswith("recbole_bench.py")]
    own = sorted(own, key=lambda item: -item[1][2])[:top]
    return {"total": total, "recbench": dict(list(ours.items())[:top]),
            "own": {name(k): v[2] for k, v in own}}


def profile_fit(dataset: str, name: str) -> dict:
    """cProfile of recbench's fit of ``name``: its seconds and :func:`hotspots`."""
    split = load_split(dataset, DATASETS[dataset]["split"])
    stats = cprofile(recbench_fit, split, name, 1)
    return hotspots(stats, cumulative(stats, "fit", "recbench/models/base.py"))


def profile_evaluate(dataset: str, chunk: int = CHUNK) -> dict:
    """cProfile of recbench's evaluation (the mean of 10, after a warm-up): its seconds and
    :func:`hotspots`; and, on one chunk of ``chunk`` users' scores (the model's), best-of-5
    seconds of their product into a reused buffer, of the CPU ranking kernel (mask, top-K,
    hits: :func:`recbench.evaluation.topk_cpu.rank_chunk`) and of a plain float32 masked
    ``topk``."""
    import numpy as np
    import torch

    from recbench.evaluation.ranker import _Rows
    from recbench.evaluation.topk_cpu import rank_chunk

    split = load_split(dataset, DATASETS[dataset]["split"])
    run, _, model = recbench_evaluation(split, chunk)
    run()
    stats = cprofile(run, times=10)
    users = np.arange(min(chunk, split.n_users))
    out = model.score(torch.from_numpy(users))
    scores = out.clone()
    seen, truth = _Rows.of([split.train], users), _Rows.of([split.test], users)
    masked = torch.from_numpy(split.train[users].toarray() > 0)
    return {**hotspots(stats, cumulative(stats, "evaluate", "recbench")),
            "chunk_product": best_time(lambda: model.score(torch.from_numpy(users), out=out), 5),
            "chunk_kernel": best_time(lambda: rank_chunk(
                scores.numpy(), *seen.chunk(0, len(users)), *truth.chunk(0, len(users)), TOPK), 5),
            "chunk_float_topk": best_time(
                lambda: scores.masked_fill(masked, float("-inf")).topk(TOPK, dim=1), 5)}


def child(kind: str, *args: str) -> None:
    import torch

    torch.set_num_threads(THREADS)
    measures = {"train": measure_train, "fit": measure_fit, "evaluate": measure_evaluate,
                "floor": measure_floor, "gemm": measure_gemm, "profile_train": profile_train,
                "profile_fit": profile_fit, "profile_evaluate": profile_evaluate}
    args = [int(a) if a.isdigit() else a for a in args]
    print(json.dumps(measures[kind](*args)))


# ---------------------------------------------------------------- parent side (the table)
def busy_cpu_seconds() -> float:
    """CPU seconds all processes have used since boot (``/proc/stat``: all but idle and
    iowait; steal counts as busy, it is time the benchmark did not get)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds of this process and its finished children."""
    return sum(getattr(resource.getrusage(who), field) for field in ("ru_utime", "ru_stime")
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def others_cpu(run) -> float:
    """Cores' worth of CPU that other processes used while ``run()`` ran."""
    busy, own, started = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    run()
    wall = time.perf_counter() - started
    return max(0.0, busy_cpu_seconds() - busy - (own_cpu_seconds() - own)) / wall


def wait_for_quiet(waits: int) -> None:
    """Wait (up to ``waits`` x 20 s) until other processes use < ``QUIET`` cores."""
    for _ in range(waits):
        if others_cpu(lambda: time.sleep(2)) <= QUIET:
            return
        print("waiting for a quiet machine ...", flush=True)
        time.sleep(20)


def measure(kind: str, *args, tries: int = 5, waits: int = 30) -> dict:
    """One measurement in a fresh subprocess (its last stdout line is JSON), on a quiet
    machine: it waits (up to ``waits`` x 20 s) until other processes use < ``QUIET`` cores,
    and measures again (``tries`` in all) when they used more while it ran."""
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS)}
    command = [sys.executable, __file__, "--child", kind, *map(str, args)]
    for _ in range(tries):
        wait_for_quiet(waits)
        outcome = {}
        load = others_cpu(lambda: outcome.update(
            out=subprocess.run(command, capture_output=True, text=True, env=env)))
        if load <= QUIET:
            break
        print(f"{kind} {args}: other processes used {load:.2f} cores meanwhile; again", flush=True)
    if load > QUIET:
        NOISY.append(f"{kind} {' '.join(map(str, args))} ({load:.2f} cores)")
    out = outcome["out"]
    if out.returncode:
        raise RuntimeError(f"{kind} {args} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1]) | {"others_cores": round(load, 2)}
    print(f"{kind:9s} {' '.join(map(str, args)):40s} {result}", flush=True)
    return result


def pair(kind: str, dataset: str, name: str | None = None) -> tuple[dict, dict]:
    """``(recbench, RecBole)`` results of one row; skipped sides read ``{"skip": reason}``."""
    skip = DATASETS[dataset]["skip"]
    results = []
    for side in ("recbench", "recbole"):
        reason = skip.get((name, side))
        args = (dataset, name, side) if name else (dataset, side)
        results.append({"skip": reason} if reason else measure(kind, *args))
    return results[0], results[1]


def missed(ours: dict, theirs: dict, target: float = TARGET_RATIO) -> bool:
    """Both sides ran and recbench's time is over ``target`` x RecBole's."""
    return "seconds" in ours and "seconds" in theirs and \
        ours["seconds"] > target * theirs["seconds"]


def ratio_cells(ours: dict, theirs: dict, target: float = TARGET_RATIO) -> str:
    """``time | time | ratio | target | met`` cells (``n/a`` where a side was not run)."""
    cell = lambda r: f"{r['seconds']:.3f}" if "seconds" in r else "n/a"  # noqa: E731
    if "seconds" not in ours or "seconds" not in theirs:
        return f"{cell(ours)} | {cell(theirs)} | n/a | <= {target}x | n/a"
    return (f"{cell(ours)} | {cell(theirs)} | {ours['seconds'] / theirs['seconds']:.2f}x | "
            f"<= {target}x | {'**no**' if missed(ours, theirs, target) else 'yes'}")


def notes(ours: dict, theirs: dict) -> str:
    """The 'what was timed' cell: skip reasons and epoch / batch counts."""
    if ours.get("skip") and ours.get("skip") == theirs.get("skip"):
        return f"both: {ours['skip']}"
    parts = [f"{side}: {r['skip']}" for side, r in (("recbench", ours), ("RecBole", theirs))
             if "skip" in r]
    if "epochs" in ours:
        parts.append(f"{ours['epochs']} epoch{'s, mean,' if ours['epochs'] > 1 else ''} "
                     f"each side")
    if "batches" in theirs:
        parts.append(f"RecBole: first {theirs['batches']} batches timed, scaled to the epoch")
    return "; ".join(parts)


EPOCH_MEANS = {
    "bpr": "both: every train interaction once, 1 uniform negative, batch 2048",
    "lightgcn": "both: every train interaction once, 1 uniform negative, batch 2048, "
                "full-graph propagation per batch",
    "sasrec": "both: every train interaction but each user's first is a target once; recbench: "
              "non-overlapping 51-item windows, loss at every position (batch 128 windows); "
              "RecBole: one row per prefix, loss at its last position (batch 128 rows)",
}


def machine() -> str:
    """CPU model, cores, memory, library versions and the recbench commit, in one line."""
    from importlib.metadata import version

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.machine())
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB; Python "
            f"{platform.python_version()}, torch {version('torch')}, RecBole "
            f"{version('recbole')}, recbench commit {commit()}")


def commit() -> str:
    """The recbench commit measured (``git describe``; ``-dirty`` with uncommitted edits)."""
    # RECBENCH_COMMIT: where the tree is a copy without .git (the GPU machine)
    return os.environ.get("RECBENCH_COMMIT") or subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True,
        text=True).stdout.strip() or "unknown"


def report(dataset: str) -> str:
    spec = DATASETS[dataset]
    lines = [f"# recbench vs RecBole 1.2.1: {dataset}", "",
             f"Machine: {machine()}; torch threads {THREADS} on both sides. "
             f"Split: `{spec['split']}` (sequential rows `{spec['seq_split']}`). Every cell is "
             "one fresh process; times are wall-clock seconds, setup (data loading, RecBole's "
             "dataset build, graph construction) excluded unless said. Produced by "
             "`benchmarks/recbole_bench.py`.", "",
             "## Training time per epoch (s)", "",
             "| model | recbench | RecBole | recbench / RecBole | target | met | one epoch | "
             "timed |", "|---|---|---|---|---|---|---|---|"]
    slow = []
    for name in ("bpr", "lightgcn", "sasrec"):
        ours, theirs = pair("train", dataset, name)
        lines.append(f"| {name} | {ratio_cells(ours, theirs)} | {EPOCH_MEANS[name]} | "
                     f"{notes(ours, theirs)} |")
        slow += [(name, ours["seconds"])] if missed(ours, theirs) else []
    for name, epoch in slow:
        lines += ["", train_profile_text(name, measure("profile_train", dataset, name), epoch)]
    lines += ["", "## Fit time of closed-form models (s)", "",
              "recbench: `model.fit(train)`; RecBole: model constructor + one `_train_epoch`; "
              f"the best of 3 fits on both sides when one takes under {SHORT_FIT:g} s.", "",
              "| model | recbench | RecBole | recbench / RecBole | target | met | notes |",
              "|---|---|---|---|---|---|---|"]
    slow = []
    for name in ("ease", "itemknn"):
        ours, theirs = pair("fit", dataset, name)
        lines.append(f"| {name} | {ratio_cells(ours, theirs)} | {notes(ours, theirs)} |")
        slow += [name] if missed(ours, theirs) else []
    for name in slow:
        lines += ["", profile_text(f"{name} fit", measure("profile_fit", dataset, name))]
    ours, theirs = pair("evaluate", dataset)
    gemm = measure("gemm", dataset)
    lines += ["", "## Full-ranking evaluation of all test users (MF-BPR, 1 epoch)", "",
              f"{ours['users']:,} test users x {gemm['items']:,} items, train + valid masked, "
              f"{', '.join(METRICS)} @{TOPK} on both sides; {CHUNK} users per chunk on both sides "
              f"(RecBole `eval_batch_size` = {CHUNK} x its item count). Time: best of 5 "
              "evaluations in one process; RSS: `ru_maxrss` before the first and after the "
              "last (MB; 'before' includes data loading, the training epoch and, for "
              "recbench, loading its compiled ranking kernel).", "",
              "| side | time (s) | RSS before | RSS after | increase |", "|---|---|---|---|---|"]
    for side, r in (("recbench `evaluate`", ours), ("RecBole `trainer.evaluate`", theirs)):
        lines.append(f"| {side} | {r['seconds']:.3f} | {r['rss_before']:.0f} | "
                     f"{r['rss_after']:.0f} | {r['rss_after'] - r['rss_before']:.0f} |")
    lines += ["", "| check | recbench (s) | reference (s) | ratio | target | met |",
              "|---|---|---|---|---|---|",
              check_row("vs RecBole", ours["seconds"], theirs["seconds"], "RecBole",
                        TARGET_RATIO),
              check_row("vs GEMM roofline", ours["seconds"], gemm["seconds"],
                        f"float32 ({gemm['users']} x 64) @ (64 x {gemm['items']}), best of 7",
                        TARGET_ROOFLINE),
              ]
    # the floor rows: every time measured in one process, interleaved (measure_floor)
    side = measure("floor", dataset)
    paired = side["paired"]
    lines.append(check_row(
        "`evaluate` vs chunked GEMM floor", side["evaluate"], side["floor"],
        f"the same product {CHUNK} users at a time into a reused buffer, measured beside it "
        f"({side['rounds']} rounds; fewest seconds shown; ratio: the median of the rounds' "
        f"ratios, of the fewest seconds {side['evaluate'] / side['floor']:.2f}x)",
        TARGET_FLOOR, paired["evaluate"]))
    for label, overrides in SUITES.items():  # the metric suites of a run, same floor
        lines.append(check_row(
            f"`{' '.join(overrides)}` ({side['metrics'][label]} metrics) vs chunked GEMM floor",
            side[label], side["floor"], f"the floor, measured beside it (of the fewest seconds "
            f"{side[label] / side['floor']:.2f}x)", TARGET_FLOOR, paired[label]))
    if missed(ours, theirs) or max(paired[m] for m in ("evaluate", *SUITES)) > TARGET_FLOOR:
        lines += ["", profile_text("evaluation", measure("profile_evaluate", dataset))]
    if spec["chunks"]:
        lines += ["", "## recbench evaluation memory vs chunk size", "",
                  f"Same evaluation, one process per chunk size ({CHUNK}: the run above); the "
                  "increase grows with chunk_size x n_items, not with the number of users.", "",
                  "| chunk_size | time (s) | RSS before | RSS after | increase |",
                  "|---|---|---|---|---|"]
        runs = {chunk: measure("evaluate", dataset, "recbench", chunk) for chunk in spec["chunks"]}
        for chunk, r in sorted((runs | {CHUNK: ours}).items()):
            lines.append(f"| {chunk} | {r['seconds']:.3f} | {r['rss_before']:.0f} | "
                         f"{r['rss_after']:.0f} | {r['rss_after'] - r['rss_before']:.0f} |")
    if NOISY:
        lines += ["", "Measured while other processes used CPU (every try): "
                  + "; ".join(NOISY) + "."]
    return "\n".join(lines) + "\n"


def check_row(check: str, ours: float, reference: float, what: str,
              target: float | None, ratio: float | None = None) -> str:
    """A ``recbench time / reference time`` row (or the ``ratio`` given) against
    ``target`` (None: no target)."""
    ratio = ours / reference if ratio is None else ratio
    met = "-" if target is None else "yes" if ratio <= target else "**no**"
    return (f"| {check} | {ours:.3f} | {what}: {reference:.4f} | {ratio:.2f}x | "
            f"{'-' if target is None else f'<= {target}x'} | {met} |")


def share(part: float, whole: float) -> str:
    return f"{part:.3f} s ({100 * part / whole:.0f}%)"


def train_profile_text(name: str, parts: dict, unprofiled: float) -> str:
    """What a recbench epoch of ``name`` spends its time on (missed target)."""
    epoch = parts["epoch"]
    rest = epoch - sum(parts[k] for k in ("batches", "forward", "backward", "optimizer"))
    return (f"Profile of the recbench {name} epoch (target missed; cProfile of one epoch: "
            f"{epoch:.3f} s under the profiler, {unprofiled:.3f} s in the table): drawing the "
            f"batches (shuffle, negative sampling) "
            f"{share(parts['batches'], epoch)}, forward {share(parts['forward'], epoch)}, "
            f"backward {share(parts['backward'], epoch)}, optimizer update "
            f"{share(parts['optimizer'], epoch)}, Lightning's loop, hooks and zero_grad (the "
            f"rest) {share(rest, epoch)}.")


def profile_text(what: str, parts: dict) -> str:
    """Where recbench's time goes in ``what`` (a missed target), from :func:`hotspots`."""
    total = parts["total"]
    listing = lambda found: ", ".join(f"`{fn}` {share(sec, total)}"  # noqa: E731
                                      for fn, sec in found.items())
    text = (f"Profile of recbench's {what} (target missed; cProfile, {total:.3f} s under the "
            f"profiler). recbench functions by cumulative time: {listing(parts['recbench'])}. "
            f"All functions by own time: {listing(parts['own'])}.")
    if "chunk_kernel" in parts:
        text += (f" On one chunk of the model's scores: their product into a reused buffer "
                 f"takes {1000 * parts['chunk_product']:.2f} ms, the CPU ranking kernel (mask, "
                 f"top-K with ties by lower item id, hits) {1000 * parts['chunk_kernel']:.2f} ms, "
                 f"a float32 `masked_fill(-inf).topk` alone "
                 f"{1000 * parts['chunk_float_topk']:.2f} ms.")
    return text


def main(dataset: str, out: str | None = None) -> None:
    if dataset not in DATASETS:
        raise SystemExit(f"unknown data set {dataset!r}; one of {', '.join(DATASETS)}")
    out = Path(out or f"results/bench/{dataset}.md")
    text = report(dataset)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:])
    else:
        main(*sys.argv[1:])
