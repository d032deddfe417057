"""recbench vs RecBole 1.2.1 on one GPU (`make bench-gpu`; writes results/bench/gpu.md).

    python benchmarks/gpu_bench.py [OUT]

gowalla_m1: MF-BPR and LightGCN training epochs and the full-ranking evaluation of every
test user, both sides on CUDA device 0 (recbench: ``trainer.accelerator=auto``; RecBole:
``use_gpu``). The cells are :mod:`recbole_bench`'s own measurements (one fresh process
each), which switch to the GPU when one is present: epochs are the mean of
``GPU_EPOCHS - GPU_WARMUP`` after a warm-up epoch, every timed region ends with
``torch.cuda.synchronize``. Refuses to run (exit 2) without a GPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import recbole_bench as rb

DATASET = "gowalla_m1"
rb.QUIET = 4.0  # 16-core GPU machine: the CPU-load guard of the 2-core tables is moot


def gpu() -> str:
    import torch

    props = torch.cuda.get_device_properties(0)
    return (f"{props.name} ({props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} "
            f"SMs), CUDA {torch.version.cuda}")


def report() -> str:
    lines = [f"# recbench vs RecBole 1.2.1 on one GPU: {DATASET}", "",
             f"GPU: {gpu()}. Host: {rb.machine()}; torch threads {rb.THREADS} on both sides. "
             f"Split: `{rb.DATASETS[DATASET]['split']}`. Every cell is one fresh process; "
             f"epochs: the mean of {rb.GPU_EPOCHS - rb.GPU_WARMUP} after {rb.GPU_WARMUP} "
             "warm-up epoch; times are wall-clock seconds ending with "
             "`torch.cuda.synchronize()`. Produced by `benchmarks/gpu_bench.py` "
             "(`make bench-gpu`).", "",
             "## Training time per epoch (s)", "",
             "| model | recbench | RecBole | recbench / RecBole | target | met | device "
             "(recbench, RecBole) | one epoch |", "|---|---|---|---|---|---|---|---|"]
    for name in ("bpr", "lightgcn"):
        ours, theirs = rb.pair("train", DATASET, name)
        lines.append(f"| {name} | {rb.ratio_cells(ours, theirs)} | {ours['device']}, "
                     f"{theirs['device']} | {rb.EPOCH_MEANS[name]} |")
    ours, theirs = rb.pair("evaluate", DATASET)
    gemm = rb.measure("gemm", DATASET)
    lines += ["", "## Full-ranking evaluation of all test users (MF-BPR, 1 epoch)", "",
              f"{ours['users']:,} test users x {gemm['items']:,} items, train + valid masked, "
              f"{', '.join(rb.METRICS)} @{rb.TOPK} on both sides, {rb.CHUNK} users per chunk "
              f"on both sides. Time: best of 5 after a warm-up evaluation; GPU memory: "
              "`torch.cuda.max_memory_allocated` over the 5 (model and data included).", "",
              "| side | model's device | time (s) | GPU peak (MB) |", "|---|---|---|---|"]
    for side, r in (("recbench `evaluate`", ours), ("RecBole `trainer.evaluate`", theirs)):
        lines.append(f"| {side} | {r['device']} | {r['seconds']:.3f} | "
                     f"{r['gpu_peak_mb']:.0f} |")
    lines += ["", "| check | recbench (s) | reference (s) | ratio | target | met |",
              "|---|---|---|---|---|---|",
              rb.check_row("vs RecBole", ours["seconds"], theirs["seconds"], "RecBole",
                           rb.TARGET_RATIO),
              rb.check_row("vs chunked GEMM floor", ours["seconds"], gemm["chunked"],
                           f"float32 ({gemm['users']} x 64) @ (64 x {gemm['items']}), "
                           f"{rb.CHUNK} users at a time into a reused buffer, best of 7",
                           rb.TARGET_FLOOR),
              rb.check_row("(information) vs one GEMM", ours["seconds"], gemm["seconds"],
                           "the whole product at once, best of 7", None)]
    return "\n".join(lines) + "\n"


def main(out: str = "results/bench/gpu.md") -> None:
    import torch

    if not torch.cuda.is_available():
        print("bench-gpu needs a CUDA GPU (torch.cuda.is_available() is False); "
              "the CPU tables are `make bench`", file=sys.stderr)
        raise SystemExit(2)
    text = report()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text)
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
