"""Optuna hyper-parameter search through recbench's Hydra sweeper."""

from __future__ import annotations

import os
import platform

import optuna
import pandas as pd
import pytest

from hydra_plugins.recbench_optuna_sweeper.optuna_sweeper import (OWNER, OWNER_GRACE_S,
                                                                  running_elsewhere)
from recbench.cli import main
from tests.test_cli_run import runs_of
from tests.test_reliability_tracking import _dead_pid


STUDY = "default-ml-100k-random_ratio-ease"  # ${name}-${dataset.name}-${split.name}-<model>


def search(store, tmp_path, *extra):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    return storage, ["run", "-m", "hparams_search=ease", f"hydra.sweeper.storage={storage}",
                     *extra, *store["overrides"]]


def test_search_finds_a_best_trial_and_records_its_budget(store, tmp_path, capsys):
    storage, args = search(store, tmp_path, "hydra.sweeper.n_trials=5")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("done: ease") == 5 and "best: trial" in out
    study = optuna.load_study(study_name=STUDY, storage=storage)
    assert len(study.trials) == 5 and study.best_value > 0.2
    client, runs = runs_of(store["uri"])
    valid = sorted(r.data.metrics["valid_ndcg_10"] for r in runs)
    assert study.best_value == pytest.approx(valid[-1])  # objective = validation metric
    _, [parent] = runs_of(store["uri"], sweeps=True)
    assert parent.data.params["n_trials"] == "5" and "model.l2" in parent.data.params["search_space"]
    assert parent.data.tags["recbench.tuning"] == "optuna"
    assert (parent.data.tags["model"], parent.data.tags["dataset"]) == ("ease", "ml-100k")
    assert parent.data.metrics["total_fit_time_s"] == pytest.approx(
        sum(r.data.metrics["fit_time_s"] for r in runs))


def test_search_resumes_after_a_kill(store, tmp_path, capsys):
    storage, args = search(store, tmp_path, "hydra.sweeper.n_trials=3")
    assert main(args) == 0
    study = optuna.load_study(study_name=STUDY, storage=storage)
    orphan = study.ask()  # a trial left RUNNING by a killed sweep (its owner is gone)
    orphan.set_user_attr(OWNER, f"{platform.node()}:{_dead_pid()}")
    capsys.readouterr()
    storage, args = search(store, tmp_path, "hydra.sweeper.n_trials=5")
    assert main(args) == 0
    study = optuna.load_study(study_name=STUDY, storage=storage)
    states = [t.state for t in study.trials]
    # 3 before + 2 new: the orphan failed, so it is not part of the budget of 5 finished
    assert states.count(optuna.trial.TrialState.COMPLETE) == 5
    assert states.count(optuna.trial.TrialState.FAIL) == 1  # the orphan, not a best value
    assert capsys.readouterr().out.count("done: ease") == 2


def test_failed_trials_are_failed_not_best(store, tmp_path, capsys):
    storage, args = search(store, tmp_path, "hydra.sweeper.n_trials=2",
                           "model._target_=tests.boom.Exploding")
    rc = main(args)
    assert rc == 1 and "2 run(s) failed" in capsys.readouterr().err
    study = optuna.load_study(study_name=STUDY, storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    with pytest.raises(ValueError):
        study.best_trial  # noqa: B018


def test_tune_then_seed_every_model_alike(store, tmp_path, capsys):
    """`hparams_search=a,b` runs one search per model; the best trial is re-run with
    tuning.seeds; a model with nothing to tune gets one trial; the budget is recorded."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    command = ["run", "-m", "hparams_search=mostpop,ease", "tuning.n_trials=3",
               "tuning.seeds=[1,2]", "seed=0", f"hydra.sweeper.storage={storage}",
               *store["overrides"]]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert out.count("done: mostpop") == 3  # the defaults (seed 0), then seeds 1 and 2
    assert out.count("done: ease") == 3 + 2
    client, runs = runs_of(store["uri"])
    ease = [r for r in runs if r.data.tags["model"] == "ease"]
    study = optuna.load_study(study_name=STUDY, storage=storage)
    best = [r for r in ease if r.data.metrics["valid_ndcg_10"] == study.best_value]
    seeded = {r.data.tags["seed"]: r.data.tags.get("recbench.final") for r in ease
              if r.data.tags["seedless_config_hash"] == best[0].data.tags["seedless_config_hash"]}
    assert seeded == {"0": None, "1": "true", "2": "true"}  # trial, then the final seeds
    _, parents = runs_of(store["uri"], sweeps=True)
    budget = {p.data.tags["model"]: (p.data.params["n_trials"], p.data.params["final_seeds"])
              for p in parents}
    assert budget == {"mostpop": ("1", "[1, 2]"), "ease": ("3", "[1, 2]")}

    # the same command again runs nothing new, and the budget is not counted twice
    assert main(command) == 0
    assert "done:" not in capsys.readouterr().out
    assert main(["leaderboard", "default", "--tracking-uri", store["uri"],
                 "--out-dir", str(tmp_path / "results")]) == 0
    table = pd.read_csv(tmp_path / "results" / "default" / "leaderboard.csv").set_index("model")
    assert table.loc["ease", "n_trials"] == 3 and table.loc["ease", "configs_tried"] <= 3
    assert table.loc["ease", "seed_list"] == "1,2"  # the selection trial (seed 0) left out
    assert table.loc["mostpop", "search_space"] == "none (nothing to tune)"
    assert "hparams_search" not in table.loc["ease", "command"]
    assert table.loc["ease", "command"].startswith("recbench run -m model=ease model.l2=")


@pytest.mark.parametrize("args, message", [
    (["hparams_search=ease", "seed=1,2"], "cannot also sweep; re-run the best trial"),
    (["hparams_search=ease", "tuning.seeds=[0,1]", "seed=0"], "contains the trials' seed (0)"),
    (["hparams_search=ease", "experiment=ml100k_baselines"], "is not an Optuna spec"),
])
def test_bad_searches_fail_before_running(store, capsys, args, message):
    assert main(["run", "-m", *args, *store["overrides"]]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("value", [None, True, 3, 0.001596346322389324, 1e-05, "10", "a,b",
                                   "it's", "back\\slash", "end\\", "q\\'q"])
def test_trial_values_survive_the_trip_through_hydra_overrides(value):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hydra_plugins.recbench_optuna_sweeper.optuna_sweeper import as_overrides

    [text] = as_overrides({"model.x": value})
    [parsed] = OverridesParser.create().parse_overrides([text])
    assert not parsed.is_sweep_override()
    got = parsed.value()
    assert got == value and type(got) is type(value)


def test_an_ownerless_trial_is_left_alone_while_a_sweep_may_be_about_to_own_it():
    """A sweep asks a trial, then writes its owner: a sweep starting in between sees it
    ownerless and must not fail it; an ownerless trial older than the grace is an orphan."""
    from datetime import datetime, timedelta

    now = datetime.now()

    def running(**kwargs):
        return optuna.trial.FrozenTrial(
            number=0, state=optuna.trial.TrialState.RUNNING, value=None,
            datetime_start=kwargs.pop("start", now), datetime_complete=None, params={},
            distributions={}, user_attrs=kwargs, system_attrs={}, intermediate_values={},
            trial_id=0)

    assert running_elsewhere(running(), now + timedelta(seconds=5))
    assert not running_elsewhere(running(), now + timedelta(seconds=OWNER_GRACE_S + 1))
    assert running_elsewhere(running(**{OWNER: f"{platform.node()}:{os.getpid()}"}))
    assert not running_elsewhere(running(**{OWNER: f"{platform.node()}:{_dead_pid()}"}))
