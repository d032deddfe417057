"""task=ctr end to end: a CTR model on ml-100k-ctr through `recbench run`, scored like
scikit-learn scores it, seeded, and refused with the wrong data or model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient
from sklearn.metrics import log_loss, roc_auc_score

from recbench.cli import main
from recbench.config import build, compose, resolved
from recbench.models.base import FitContext
from recbench.splits.base import TEST, TRAIN

RUN = ["task=ctr", "dataset=ml-100k-ctr", "split=random_global", "trainer.max_epochs=2",
       "trainer.progress_bar=false"]


def _fit(model: str, seed: int = 0):
    cfg = compose([*RUN, f"model={model}", f"seed={seed}"])
    plain = resolved(cfg)
    task = build(cfg, "task")
    split = task.split(plain["dataset"], plain["split"], build(cfg, "dataset"),
                       build(cfg, "split"))
    fitted = build(cfg, "model")
    task.fit(fitted, split, FitContext(seed=seed, trainer=dict(cfg.trainer)))
    return task, split, fitted


def test_ctr_metrics_of_a_run_are_sklearn_s_on_its_predictions():
    task, split, model = _fit("lr")
    metrics = task.evaluate(model, split).metrics
    test = split.parts[TEST]
    p = model.predict(test)
    assert metrics["test_auc"] == pytest.approx(roc_auc_score(test.labels, p), abs=1e-9)
    assert metrics["test_logloss"] == pytest.approx(log_loss(test.labels, p), abs=1e-9)
    assert 0.6 < metrics["test_auc"] < 0.9 and 0.5 < metrics["test_gauc"] < 0.9
    assert len(split.parts[TRAIN]) == 80_000 and len(test) == 10_000  # random_global 8:1:1
    # the same seed gives the same model
    _, _, again = _fit("lr")
    assert np.array_equal(again.predict(test), p)


def test_recbench_run_logs_the_ctr_metrics(store, capsys):
    assert main(["run", *RUN, "model=fm", *store["overrides"]]) == 0
    client = MlflowClient(store["uri"])
    [run] = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    assert run.info.status == "FINISHED"
    for key in ("valid_auc", "test_auc", "test_logloss", "test_gauc", "epoch_valid_auc"):
        assert key in run.data.metrics, key
    assert run.data.params["task.name"] == "ctr" and run.data.tags["task"] == "ctr"
    # found FINISHED: a search reads the task's validation metric as the objective
    from recbench.run import run as run_one
    again = run_one(compose([*RUN, "model=fm", *store["overrides"]]))
    assert again.skipped and again.objective == run.data.metrics["valid_auc"]


def test_a_top_n_model_on_ctr_data_is_one_line_and_writes_nothing(store, capsys):
    assert main(["run", "task=ctr", "dataset=ml-100k-ctr", "model=ease",
                 *store["overrides"]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model 'ease' ranks items (top-N)" in err
    assert not Path(store["uri"].removeprefix("sqlite:///")).exists()


def _split(overrides):
    cfg = compose(["task=ctr", *overrides])
    plain = resolved(cfg)
    return build(cfg, "task").split(plain["dataset"], plain["split"], build(cfg, "dataset"),
                                    build(cfg, "split"))


@pytest.mark.parametrize("overrides", [
    ["dataset=ml-100k-ctr", "split=random_global"],  # a sequence field (genres), numbers
    ["dataset=synthetic-ctr", "dataset.n_rows=3000", "split=random_global"],  # the optimum
])
def test_an_encoded_split_is_cached_and_read_back_identical(tmp_path, monkeypatch, caplog,
                                                            overrides):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path))
    first, again = _split(overrides), _split(overrides)
    assert (first.fingerprint.pop("cache"), again.fingerprint.pop("cache")) == ("miss", "hit")
    assert first.fingerprint == again.fingerprint and first.leakage == again.leakage
    assert [e.to_dict() for e in first.encoders] == [e.to_dict() for e in again.encoders]
    for p, part in first.parts.items():
        other = again.parts[p]
        a, b = part.inputs, other.inputs
        assert torch.equal(a.indices, b.indices) and len(a.sequences) == len(b.sequences)
        assert all(torch.equal(s, t) for s, t in zip(a.sequences, b.sequences))
        assert (a.numeric is None) == (b.numeric is None)
        assert a.numeric is None or torch.equal(a.numeric, b.numeric)
        assert np.array_equal(part.labels, other.labels) and np.array_equal(part.ids, other.ids)
        assert (part.labels.dtype, part.ids.dtype) == (other.labels.dtype, other.ids.dtype)
        assert a.indices.dtype == b.indices.dtype
        assert part.users.dtype == other.users.dtype and (part.users == other.users).all()
        assert (part.sizes, part.sequence_sizes) == (other.sizes, other.sequence_sizes)
        assert (part.optimal is None) == (other.optimal is None)
        assert part.optimal is None or (np.array_equal(part.optimal, other.optimal)
                                        and part.optimal.dtype == other.optimal.dtype)
    assert _split([*overrides, "split.seed=7"]).fingerprint["cache"] == "miss"  # another split
    for entry in (tmp_path / "splits").glob("*.npz"):
        entry.write_bytes(b"not a zip")  # a damaged entry is deleted and encoded again
    assert _split(overrides).fingerprint["cache"] == "miss"
    assert "is corrupt" in caplog.text


def test_a_changed_ctr_file_is_encoded_again(tmp_path, monkeypatch):
    """File data is keyed by its bytes, not its name: an edited file never reuses an entry."""
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "rows.csv").write_text("label,a\n" + "".join(f"{i % 2},v{i % 5}\n" for i in range(60)))
    overrides = ["dataset=criteo-sample", f"dataset.root={tmp_path}", "dataset.files={all: rows.csv}",
                 "dataset.fields=[{name: a}]", "split=random_global"]
    assert _split(overrides).fingerprint["cache"] == "miss"
    assert _split(overrides).fingerprint["cache"] == "hit"
    with open(tmp_path / "rows.csv", "a") as f:
        f.write("1,v9\n")
    assert _split(overrides).fingerprint["cache"] == "miss"


def test_a_new_generator_version_is_encoded_again(tmp_path, monkeypatch):
    """A cache hit never calls the loader, so generated data is keyed by its version."""
    from recbench.data import ctr

    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path))
    overrides = ["dataset=synthetic-ctr", "dataset.n_rows=2000", "split=random_global"]
    assert _split(overrides).fingerprint["cache"] == "miss"
    assert _split(overrides).fingerprint["cache"] == "hit"
    monkeypatch.setattr(ctr.load_synthetic_ctr, "version", ctr.GENERATOR_VERSION + 1)
    assert _split(overrides).fingerprint["cache"] == "miss"
