"""Hostile `recbench run` inputs: each stops with exit status 2 and one line, writes nothing.

Every case goes through the CLI entry point (``recbench.cli.main``) in an empty working
directory with the default tracking settings, so a run that got as far as MLflow would leave
``mlflow.db`` / ``mlartifacts`` (or Hydra's ``outputs/``) behind.
"""

from __future__ import annotations

import pytest

from recbench.cli import main

CASES = [
    # unknown group options and misspelt keys
    (["model=eas"], "unknown model 'eas'. Did you mean 'ease'?"),
    (["dataset=ml100k"], "unknown dataset 'ml100k'. Did you mean 'ml-100k'?"),
    (["hparams_search=eas"], "unknown hparams_search 'eas'. Did you mean 'ease'?"),
    (["model.l22=3"], "unknown config key 'model.l22'. Did you mean 'model.l2'?"),
    (["sed=3"], "unknown config key 'sed'. Did you mean 'seed'?"),
    (["+trainer.max_epoch=3"], "Did you mean 'trainer.max_epochs'?"),
    (["dataset=amazon_games_sasrec", "dataset.columns={user:0,item:1,timestamp:ts}"],
     "unknown config key 'dataset.columns.timestamp'"),
    # seeds
    (["seed=-1"], "seed must be an integer in [0, 2**32), got -1."),
    (["seed=abc"], "seed must be an integer in [0, 2**32), got 'abc'."),
    (["seed=1.5"], "seed must be an integer in [0, 2**32), got 1.5."),
    # metrics
    (["metrics.names=[ndgc]"], "unknown metric 'ndgc'. Did you mean 'ndcg'?"),
    (["metrics.ks=[0]"], "metrics.ks must hold positive integers, got 0."),
    (["metrics.ks=[abc]"], "metrics.ks must hold positive integers, got 'abc'."),
    (["metrics.ks=[]"], "metrics.names and metrics.ks must both be non-empty lists"),
    (["metrics.valid_metric=coverage@10"], "must be an accuracy metric"),
    (["metrics.chunk_size=0"], "metrics.chunk_size must be a positive integer, got 0."),
    (["metrics.chunk_size=abc"], "metrics.chunk_size must be a positive integer, got 'abc'."),
    # tuning
    (["tuning.n_trials=0"], "tuning.n_trials must be a positive integer, got 0."),
    (["tuning.seeds=[a]"], "tuning.seeds must be a list of integers"),
    (["hparams_search=ease", "tuning.seeds=[42]"], "contains the trials' seed (42)"),
    # settings that were not checked before each group had a schema
    (["verbose=yes"], "verbose must be true or false, got 'yes'."),
    (["sweep.rerun=2"], "sweep.rerun must be true or false, got 2."),
    (["metrics.bootstrap_seed=-1"], "metrics.bootstrap_seed must be an integer >= 0, got -1."),
    # names that become paths
    (["name=a/b"], "name must be a non-empty word"),
    (["name=.."], "name must be a non-empty word"),
    (["dataset.name=../x"], "dataset.name must be a non-empty word"),
    # splits
    (["split.ratios=[1,0,0]"], "split.ratios gives the valid part no share"),
    (["split.ratios=[0.9,0.2,0.1]"], "summing to 1"),
    (["split.ratios=[0.8,nan,0.1]"], "split.ratios must be a list of finite numbers"),
    # hyper-parameters Python would take or fail on late
    (["model.l2=nan"], "model.l2 must be a finite number, got nan."),
    (["model.l2=1e400"], "model.l2 must be a finite number, got inf."),
    (["model.l2=true"], "model.l2 must be a number, got True."),
    (["model.l2=abc"], "model.l2 must be a number, got 'abc'."),
    (["model.l2=-1"], "EASE l2 must be > 0, got -1"),
    (["model=bpr", "model.dim=64.5"], "model.dim must be an integer, got 64.5."),
    (["model=bpr", "model.optimizer.lr=nan"], "optimizer.lr must be a finite number, got nan."),
    # Lightning Trainer settings (checked even for closed-form models)
    (["trainer.accelerator=banana"], "unknown trainer.accelerator 'banana'. Valid choices:"),
    (["trainer.accelerator=gpus"], "Did you mean 'gpu'?"),
    (["trainer.devices=-3"], "trainer.devices must be 'auto', a positive integer"),
    (["trainer.max_epochs=0"], "trainer.max_epochs must be an integer >= 1, got 0."),
    # malformed overrides
    (["model.l2=[1"], "bad override"),
]


@pytest.mark.parametrize("argv,expected", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_hostile_run_input_fails_in_one_line_and_writes_nothing(argv, expected, tmp_path,
                                                                monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    assert main(["run", *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert expected in err
    assert not (work / "mlflow.db").exists() and not (work / "mlartifacts").exists()
    assert not list(work.iterdir())  # no outputs/, multirun/ or store of any kind
