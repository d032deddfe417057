"""recbench vs FuxiCTR 2.3.10 (BARS' own CTR library) on ml-100k-ctr (`make bench-ctr`), and RecBole 1.2.1's DeepFM through recbench's CTR
bridge (``model=recbole_ctr``: RecBole's model class and training epoch on recbench's
encoded rows).

    python benchmarks/ctr_parity.py [OUT]      # writes results/bench/ctr.md

Both sides train the same models (DeepFM, DCNv2) on the same rows (recbench's
``random_global`` split of ml-100k-ctr, exported as CSV with raw field values; each side
builds its own vocabularies from the train rows), with the same hyper-parameters (BARS'
defaults, :data:`HPARAMS`), seeds 1-3 each, one fresh process per run with the same number
of torch threads. FuxiCTR runs in its own virtual environment (``.bench-venvs/fuxictr``,
made by ``make bench-ctr``; it is never a dependency of recbench) through
``benchmarks/fuxictr_runner.py``. Reported: mean test AUC and LogLoss (parity target:
|ΔAUC| <= 0.003), wall-clock seconds per training epoch (validation included on both sides)
and for scoring the valid and test rows (targets: recbench / FuxiCTR <= 0.5).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUXICTR_PYTHON = ROOT / ".bench-venvs" / "fuxictr" / "bin" / "python"
MODELS = {"deepfm": "DeepFM", "dcnv2": "DCNv2"}
SEEDS = (1, 2, 3)
THREADS = 2
#: BARS' defaults, the same on both sides (recbench: configs/model/*.yaml)
HPARAMS = {"embedding_dim": 10, "hidden_units": [400, 400, 400], "batch_size": 4096,
           "learning_rate": 1e-3, "epochs": 100, "patience": 2, "num_cross_layers": 3}
AUC_TOLERANCE = 0.003
TARGET_RATIO = 0.5


def export(out: Path) -> None:
    """recbench's split of ml-100k-ctr as train/valid/test CSV (raw values, ``label``) and
    ``fields.json`` (the field specs)."""
    from dataclasses import asdict

    from recbench.config import build, compose
    from recbench.splits.base import TEST, TRAIN, VALID

    cfg = compose(["task=ctr", "dataset=ml-100k-ctr", "split=random_global", "model=deepfm"])
    data = build(cfg, "dataset")()
    assign = build(cfg, "split").assign(data)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
        rows = data.frame[assign == part].assign(label=data.labels[assign == part])
        rows.to_csv(out / f"{name}.csv", index=False)
    (out / "fields.json").write_text(json.dumps([asdict(f) for f in data.fields]))


def recbench_child(model: str, seed: int) -> dict:
    """One recbench run (the `recbench run` pipeline, logged to a throwaway store);
    ``recbole-deepfm``: RecBole's DeepFM through recbench's CTR bridge (model=recbole_ctr)."""
    import torch

    from recbench.config import compose
    from recbench.run import run

    torch.set_num_threads(THREADS)
    h = HPARAMS
    overrides = ["task=ctr", "dataset=ml-100k-ctr", "split=random_global", f"model={model}",
                 f"seed={seed}", f"model.dim={h['embedding_dim']}",
                 f"model.hidden=[{','.join(map(str, h['hidden_units']))}]",
                 f"model.batch_size={h['batch_size']}", f"model.optimizer.lr={h['learning_rate']}",
                 f"trainer.max_epochs={h['epochs']}", f"trainer.patience={h['patience']}",
                 "trainer.progress_bar=false", "trainer.accelerator=cpu"]
    if model == "dcnv2":
        overrides.append(f"model.n_cross={h['num_cross_layers']}")
    if model == "recbole-deepfm":  # RecBole's names for the same settings
        overrides = [o for o in overrides if not o.startswith("model.")]
        overrides[3] = "model=recbole_ctr"
        overrides.append("+model.params={embedding_size: %d, mlp_hidden_size: [%s], "
                         "dropout_prob: 0.0, learning_rate: %g, train_batch_size: %d}" % (
                             h["embedding_dim"], ",".join(map(str, h["hidden_units"])),
                             h["learning_rate"], h["batch_size"]))
    with tempfile.TemporaryDirectory() as tmp:
        result = run(compose([*overrides, f"tracking.uri=sqlite:///{tmp}/mlflow.db",
                              f"tracking.artifact_root={tmp}/artifacts"]))
    m = result.metrics
    return {"library": "RecBole (bridge)" if model.startswith("recbole") else "recbench",
            "model": MODELS.get(model, "DeepFM"), "seed": seed,
            "valid_auc": m["valid_auc"], "test_auc": m["test_auc"],
            "test_logloss": m["test_logloss"], "epochs": m["epochs_trained"],
            "fit_s": m["fit_time_s"], "epoch_s": m["fit_time_s"] / m["epochs_trained"],
            "eval_s": m["eval_time_s"]}


def floor_child(n_fields: int, n_train: int = 80_000, n_valid: int = 10_000,
                epochs: int = 5) -> dict:
    """The dense-layer floor of a DeepFM epoch: only its MLP (``n_fields * dim`` inputs,
    BARS' [400, 400, 400]) trained on random inputs of the train part's shape (forward,
    BCE, backward, Adam), then run forward over the valid rows; median seconds of
    ``epochs``. Every library's DeepFM epoch does at least this work."""
    import time

    import torch

    torch.set_num_threads(THREADS)
    h, width = HPARAMS, n_fields * HPARAMS["embedding_dim"]
    layers, d = [], width
    for units in h["hidden_units"]:
        layers += [torch.nn.Linear(d, units), torch.nn.ReLU()]
        d = units
    mlp = torch.nn.Sequential(*layers, torch.nn.Linear(d, 1))
    adam = torch.optim.Adam(mlp.parameters(), lr=h["learning_rate"])
    x, y = torch.randn(n_train, width), torch.randint(0, 2, (n_train,)).float()
    valid = torch.randn(n_valid, width)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for rows in torch.randperm(n_train).split(h["batch_size"]):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                mlp(x[rows]).squeeze(-1), y[rows])
            adam.zero_grad()
            loss.backward()
            adam.step()
        with torch.no_grad():
            mlp(valid)
        times.append(time.perf_counter() - start)
    return {"library": "dense-layer floor", "model": "DeepFM",
            "epoch_s": sorted(times)[len(times) // 2]}


def _json_line(cmd: list[str]) -> dict:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mean(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows)


def render(rows: list[dict]) -> str:
    lines = ["# recbench vs FuxiCTR 2.3.10 and RecBole 1.2.1: CTR parity and speed "
             "(ml-100k-ctr)", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch threads "
             f"{THREADS} on both sides, CPU. Split: recbench's `random_global` 8:1:1 of "
             f"ml-100k-ctr (80,000 / 10,000 / 10,000 rows), exported as CSV; each library "
             f"builds its own vocabularies from the train rows. Hyper-parameters (both "
             f"sides): embedding 10, MLP [400, 400, 400], batch 4096, Adam lr 1e-3, no "
             f"regularisation or dropout, early stopping on validation AUC with patience 2 "
             f"and the best epoch's weights restored (FuxiCTR's learning-rate decay on "
             f"plateau off: recbench has none); DCNv2: 3 full-rank cross layers in parallel "
             f"with the MLP. RecBole's DeepFM runs through recbench's CTR bridge "
             f"(`model=recbole_ctr`: RecBole's model class and training epoch on recbench's "
             f"encoded rows; recbench validates, stops and predicts). "
             f"Seeds {', '.join(map(str, SEEDS))}; means over seeds. "
             f"Epoch: wall-clock seconds per training epoch, its validation included. "
             f"Eval: seconds to score the valid and test rows and compute the metrics. "
             f"Produced by `make bench-ctr` (benchmarks/ctr_parity.py).", "",
             "| model | library | test AUC | test LogLoss | epochs | epoch (s) | eval (s) |",
             "|---|---|---|---|---|---|---|"]
    for model in MODELS.values():
        for library in ("recbench", "FuxiCTR", "RecBole (bridge)"):
            r = [x for x in rows if x["model"] == model and x["library"] == library]
            if not r:
                continue
            lines.append(f"| {model} | {library} | {_mean(r, 'test_auc'):.4f} | "
                         f"{_mean(r, 'test_logloss'):.4f} | {_mean(r, 'epochs'):.1f} | "
                         f"{_mean(r, 'epoch_s'):.2f} | {_mean(r, 'eval_s'):.2f} |")
    lines += ["", "| model | against | ΔAUC (recbench − other) | within 0.003 | epoch ratio | "
                  "eval ratio | ratios ≤ 0.5 |", "|---|---|---|---|---|---|---|"]
    for model in MODELS.values():
        ours = [x for x in rows if x["model"] == model and x["library"] == "recbench"]
        for library in ("FuxiCTR", "RecBole (bridge)"):
            theirs = [x for x in rows if x["model"] == model and x["library"] == library]
            if not theirs:
                continue
            delta = _mean(ours, "test_auc") - _mean(theirs, "test_auc")
            epoch = _mean(ours, "epoch_s") / _mean(theirs, "epoch_s")
            ev = _mean(ours, "eval_s") / _mean(theirs, "eval_s")
            lines.append(f"| {model} | {library} | {delta:+.4f} | "
                         f"{'yes' if abs(delta) <= AUC_TOLERANCE else 'no'} | {epoch:.2f} | "
                         f"{ev:.2f} | {'yes' if max(epoch, ev) <= TARGET_RATIO else 'no'} |")
    floor = [x for x in rows if x["library"] == "dense-layer floor"]
    if floor:
        f = floor[0]["epoch_s"]
        bridge = [x for x in rows if x["library"] == "RecBole (bridge)"]
        ours = [x for x in rows if x["model"] == "DeepFM" and x["library"] == "recbench"]
        lines += ["", f"Dense-layer floor of a DeepFM epoch (its MLP alone, forward + "
                  f"backward + Adam on inputs of the train part's shape, then the valid "
                  f"rows forward; median of 5 epochs): **{f:.2f} s**. recbench's DeepFM "
                  f"epoch is {_mean(ours, 'epoch_s') / f:.2f}x the floor"
                  + (f", RecBole's {_mean(bridge, 'epoch_s') / f:.2f}x: an epoch ratio of "
                     f"0.5 against RecBole would need an epoch of "
                     f"{0.5 * _mean(bridge, 'epoch_s'):.2f} s, "
                     f"{0.5 * _mean(bridge, 'epoch_s') / f:.2f}x the floor."
                     if bridge else ".")]
    lines += ["", "Per run:", "", "| model | library | seed | valid AUC | test AUC | "
              "test LogLoss | epochs | fit (s) |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['library']} | {r['seed']} | {r['valid_auc']:.4f} | "
              f"{r['test_auc']:.4f} | {r['test_logloss']:.4f} | {int(r['epochs'])} | "
              f"{r['fit_s']:.1f} |" for r in rows if "seed" in r]
    return "\n".join(lines) + "\n"


def main(out: Path) -> None:
    if not FUXICTR_PYTHON.exists():
        sys.exit(f"no FuxiCTR environment at {FUXICTR_PYTHON.parent.parent}: run make bench-ctr")
    data = ROOT / ".cache" / "bench-ctr" / "ml100k_ctr"
    shutil.rmtree(data, ignore_errors=True)  # FuxiCTR's encoded copy too: built afresh
    export(data)
    rows = []
    for model, fuxi in MODELS.items():
        for seed in SEEDS:
            if model == "deepfm":
                rows.append(_json_line([sys.executable, __file__, "--child", "recbole-deepfm",
                                        str(seed)]))
                print(json.dumps(rows[-1]), flush=True)
            rows.append(_json_line([sys.executable, __file__, "--child", model, str(seed)]))
            rows.append(_json_line([str(FUXICTR_PYTHON), str(ROOT / "benchmarks" /
                                                            "fuxictr_runner.py"),
                                    str(data), fuxi, str(seed),
                                    json.dumps({**HPARAMS, "threads": THREADS})]))
            print(json.dumps(rows[-2]), json.dumps(rows[-1]), sep="\n", flush=True)
    n_fields = len(json.loads((data / "fields.json").read_text()))
    rows.append(_json_line([sys.executable, __file__, "--floor", str(n_fields)]))
    print(json.dumps(rows[-1]), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(rows))
    print(f"wrote {out}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(recbench_child(sys.argv[2], int(sys.argv[3]))))
    elif sys.argv[1:2] == ["--floor"]:
        print(json.dumps(floor_child(int(sys.argv[2]))))
    else:
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "results" / "bench" / "ctr.md")
