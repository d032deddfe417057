"""Config composition and validation: one-line errors with the closest match."""

from __future__ import annotations

import pytest

from recbench.config import build, compose, config_hash, group_options, validate, validate_sweep
from recbench.errors import RecbenchError


def error_of(overrides) -> str:
    with pytest.raises(RecbenchError) as info:
        validate_sweep(overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_default_config_composes_and_validates():
    cfg = compose()
    validate(cfg)
    assert (cfg.dataset.name, cfg.split.name, cfg.model.name) == ("ml-100k", "random_ratio", "ease")
    assert cfg.metrics.ranking == "full"
    assert set(group_options("model")) >= {"mostpop", "itemknn", "ease", "bpr"}


def test_experiment_sets_name_and_sweeps_four_models():
    cfg = compose(["experiment=ml100k_baselines"], hydra_config=True)
    assert cfg.name == "ml100k_baselines"
    assert cfg.hydra.sweeper.params.model == "mostpop,itemknn,ease,bpr"
    assert "gini" in cfg.metrics.names and cfg.metrics.activity_groups == 4  # metrics=full
    assert validate_sweep(["experiment=ml100k_baselines"])[0] == 4
    assert validate_sweep(["model=ease,bpr", "seed=1,2,3"])[0] == 6


@pytest.mark.parametrize("overrides,expected", [
    (["model=eas"], "unknown model 'eas'. Did you mean 'ease'? Valid choices: "
                    f"{', '.join(group_options('model'))}."),
    (["dataset=ml100k"], "Did you mean 'ml-100k'?"),
    (["split=random"], "unknown split 'random'. Did you mean 'random_ratio'?"),
    (["experiment=ml100k_baseline"], "Did you mean 'ml100k_baselines'?"),
    (["model=ease,bprr"], "unknown model 'bprr'. Did you mean 'bpr'?"),
    (["model.l22=3"], "unknown config key 'model.l22'. Did you mean 'model.l2'?"),
    (["sed=3"], "unknown config key 'sed'. Did you mean 'seed'?"),
    (["metrics.names=[ndgc]"], "unknown metric 'ndgc'. Did you mean 'ndcg'?"),
    (["metrics.valid_metric=recal@10"], "unknown metric 'recal'. Did you mean 'recall'?"),
    (["model=ease", "+model.lambda=3"], "unknown config key 'model.lambda'"),
    (["+trainer.max_epoch=3"], "Did you mean 'trainer.max_epochs'?"),
    (["metrics.ranking=sampld"], "unknown metrics.ranking 'sampld'. Did you mean 'sampled'?"),
    (["metrics=full", "metrics.ranking=sampled"], "scores accuracy metrics only"),
    (["seed=abc"], "seed must be an integer"),
    (["seed=-1"], "seed must be an integer in [0, 2**32)"),
    (["metrics.ks=5"], "metrics.names and metrics.ks must both be non-empty lists"),
    (["split=null"], "bad override"),
    (["~model"], "the run config lacks ['model']"),
    (["name="], "name must be a non-empty word"),
    (["model=bpr", "trainer.max_epochs=abc"], "trainer.max_epochs must be an integer >= 1, got 'abc'"),
    (["metrics.valid_metric=coverage@10"], "must be an accuracy metric"),
    (["metrics.names=[ndcg,arpp]"], "unknown metric 'arpp'. Did you mean 'arp'?"),
    (["metrics.tail_rule=botom_fraction"], "Did you mean 'bottom_fraction'?"),
    (["metrics.head_share=1.5"], "metrics.head_share must be a fraction in (0, 1]"),
    (["metrics.item_vectors=genre"], "unknown metrics.item_vectors 'genre'"),
    (["metrics.bootstrap=-1"], "metrics.bootstrap must be an integer >= 0"),
    (["metrics.user_groups=gender"], "metrics.user_groups must be a list"),
    (["metrics.bootstrp=10"], "Did you mean 'metrics.bootstrap'?"),
    (["metrics.valid_metric=NDCG@10"], "write metrics.valid_metric as ndcg@10, not 'NDCG@10'"),
    (["model.l2=500,-1"], "model 'ease': EASE l2 must be > 0, got -1"),
    (["dataset.min_rating=abc"], "dataset.min_rating must be a number or null"),
    (["split.ratios=[0.9,0.2,0.1]"], "summing to 1"),
])
def test_bad_values_fail_in_one_line(overrides, expected):
    assert expected in error_of(overrides)


def test_bad_hyper_parameter_value_fails_at_build():
    cfg = compose(["model=ease", "model.l2=-1"])
    with pytest.raises(RecbenchError, match="model 'ease': EASE l2 must be > 0"):
        build(cfg, "model")


def test_config_hash_ignores_tracking_but_not_hyper_parameters():
    base = config_hash(compose())
    assert config_hash(compose(["tracking.uri=sqlite:///elsewhere.db"])) == base
    assert config_hash(compose(["metrics.chunk_size=7", "trainer.progress_bar=false"])) == base
    assert config_hash(compose(["model.l2=100"])) != base
    assert config_hash(compose(["seed=1"])) != base


def test_each_schema_describes_the_keys_of_its_yaml():
    """A schema and the YAML holding its values cannot drift apart: same keys."""
    from omegaconf import OmegaConf

    from recbench.config import SCHEMAS
    from recbench.paths import CONFIG_DIR

    run = OmegaConf.load(CONFIG_DIR / "run.yaml")
    files = {"metrics": "metrics/default.yaml", "trainer": "trainer/default.yaml",
             "tracking": "tracking/mlflow.yaml"}
    for group, schema in SCHEMAS.items():
        if group in files:
            keys = set(OmegaConf.load(CONFIG_DIR / files[group]).keys())
        elif group:
            keys = set(run[group].keys())
        else:
            keys = {k for k in run if k not in ("defaults", "hydra", "sweep", "tuning")}
        assert set(schema) == keys, group


def test_keys_that_do_not_change_results_come_from_the_schemas():
    from recbench.config import NOT_HASHED, TUNING

    assert set(NOT_HASHED) == {"verbose", "metrics.chunk_size", "trainer.progress_bar",
                               "tracking", "sweep", "tuning"}
    base = config_hash(compose())
    assert config_hash(compose(["verbose=true", "sweep.rerun=true", "tuning.n_trials=3"])) \
        == base
    assert all(not s.result for s in TUNING.values())
    for override in ("metrics.bootstrap=10", "trainer.patience=3", "metrics.tail_rule="
                     "bottom_fraction", "trainer.deterministic=false"):
        assert config_hash(compose([override])) != base, override


def test_published_runs_keep_their_config_hashes():
    """Groups added to the run config later (``task``) leave the hashes of earlier runs
    alone: each published leaderboard row's hash is that of its reproduce command today."""
    import pandas as pd

    from recbench.paths import PROJECT_ROOT

    board = pd.read_csv(PROJECT_ROOT / "results" / "ml100k_baselines" / "leaderboard.csv")
    assert len(board) >= 4
    for command, published in zip(board["command"], board["config_hash"]):
        overrides = command.removeprefix("recbench run -m ").split()
        assert config_hash(compose(overrides), seed=False)[:12] == published, command
    assert compose().task.name == "topn"


def test_every_metrics_option_composes_and_names_registry_metrics():
    from recbench.config import metric_names
    from recbench.evaluation.registry import ACCURACY, BEYOND, CTR, REGISTRY

    assert set(group_options("metrics")) >= {"default", "full", "beyond"}
    for option in group_options("metrics"):
        cfg = compose([f"metrics={option}"])
        validate(cfg)
        assert metric_names(cfg)
    # every top-N metric; the CTR ones (auc, logloss, ...) belong to task=ctr, not a suite
    assert list(compose(["metrics=full"]).metrics.names) == [*ACCURACY, *BEYOND]
    assert set(REGISTRY) - set(ACCURACY) - set(BEYOND) == set(CTR)
    assert list(compose(["metrics=beyond"]).metrics.names) == list(BEYOND)
    assert list(compose(["metrics=default"]).metrics.names) == list(ACCURACY)
    cfg = compose(["metrics.names=[ndcg,arp,ild]", "metrics.ks=[10]"])
    validate(cfg)
    assert metric_names(cfg) == ["ndcg@10", "arp@10", "ild@10"]


@pytest.mark.parametrize("overrides,expected", [
    (["model.l2=nan"], "model.l2 must be a finite number, got nan."),
    (["model.l2=1e400"], "model.l2 must be a finite number, got inf."),
    (["model.l2=true"], "model.l2 must be a number, got True."),
    (["model.l2=abc"], "model.l2 must be a number, got 'abc'."),
    (["model.l2=null"], "model.l2 must be a number, got None."),
    (["model=bpr", "model.dim=64.5"], "model.dim must be an integer, got 64.5."),
    (["model=neumf", "model.layers=[64,abc]"], "model.layers must be a list of integers"),
    (["split.ratios=[0.8,nan,0.1]"], "split.ratios must be a list of finite numbers"),
    (["dataset.user_core=abc"], "dataset.user_core must be an integer, got 'abc'."),
    (["dataset.min_rating=nan"], "dataset.min_rating must be a finite number, got nan."),
    (["model=bpr", "model.optimizer.lr=nan"], "optimizer.lr must be a finite number, got nan."),
    (["model=bpr", "model.optimizer.lr=true"], "optimizer.lr must be a number, got True."),
    (["model=bpr", "model.optimizer.weight_decay=abc"], "optimizer.weight_decay must be a number"),
])
def test_hyper_parameters_of_the_wrong_type_or_not_finite_fail_before_the_run(overrides,
                                                                                  expected):
    """Values Python would take (true as 1.0, nan passing ``l2 > 0``, 'abc' failing with a
    comparison error) are rejected by their constructor's annotation, before any run."""
    assert expected in error_of(overrides)


def test_value_problem_follows_the_annotation():
    from recbench.settings import value_problem

    assert value_problem(3, "float") is None and value_problem(0.5, "float | None") is None
    assert value_problem(None, "float | None") is None and value_problem("x", "float | str") is None
    assert value_problem(True, "bool") is None and value_problem([1, 2], "list[int]") is None
    assert value_problem(True, "int") == "an integer"
    assert value_problem("x", "float | None") == "a number or null"
    assert value_problem(float("-inf"), "float") == "a finite number"
    assert value_problem({"a": 1}, "dict | None") is None  # left to the constructor


DEVICES = ("trainer.devices must be 'auto', a positive integer, -1 (all GPUs) or a list of GPU "
           "indices like [0,1]")


@pytest.mark.parametrize("overrides,expected", [
    (["trainer.accelerator=banana"], "unknown trainer.accelerator 'banana'. Valid choices: auto,"),
    (["trainer.accelerator=gpus"], "Did you mean 'gpu'?"),
    (["trainer.devices=-3"], f"{DEVICES}, got -3."),
    (["trainer.devices=0"], f"{DEVICES}, got 0."),
    (["trainer.devices=[0,0]"], f"{DEVICES}, got [0, 0]."),
    (["trainer.devices=abc"], f"{DEVICES}, got 'abc'."),
    (["trainer.accelerator=cpu", "trainer.devices=-1"],
     "trainer.devices must be 'auto', a positive integer (trainer.accelerator=cpu), got -1."),
])
def test_trainer_accelerator_and_devices_take_what_lightning_takes(overrides, expected):
    assert expected in error_of(overrides)


@pytest.mark.parametrize("overrides", [
    ["trainer.accelerator=cpu", "trainer.devices=2"], ["trainer.accelerator=gpu"],
    ["trainer.devices=-1"], ["trainer.devices=[0,1]"], ["trainer.accelerator=cuda"]])
def test_lightning_trainer_settings_pass(overrides):
    assert validate_sweep(overrides)[0] == 1


def test_mapping_override_names_the_key_it_lacks():
    message = error_of(["dataset=amazon_games_sasrec",
                        "dataset.columns={user:0,item:1,timestamp:ts}"])
    assert message.startswith("unknown config key 'dataset.columns.timestamp' in "
                              "'dataset.columns={user:0,item:1,timestamp:ts}'.")
    assert "Did you mean 'dataset.columns'" not in message
    assert "Valid keys of 'dataset.columns': user, item." in message
    assert "+dataset.columns={user:0,item:1,timestamp:ts}" in message  # how to add it
    assert "Did you mean 'dataset.columns.timestamp'?" in error_of(
        ["dataset=ml-1m", "dataset.columns={user:0,item:1,timestap:3}"])


def test_accelerators_are_the_ones_lightning_registers():
    from pytorch_lightning.accelerators import AcceleratorRegistry

    from recbench.models.trainer_settings import ACCELERATORS
    assert set(ACCELERATORS) - {"auto", "gpu"} == set(AcceleratorRegistry.available_accelerators())


def test_the_config_layer_imports_no_model_code():
    """Checking a config must not pay for torch and Lightning (8 s on this machine): a typo
    answers at once."""
    import subprocess
    import sys
    code = ("import sys, recbench.config; from recbench.cli import main; "
            "rc = main(['run', 'model=eas']); heavy = sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('torch', 'pytorch_lightning', 'lightning', 'mlflow')); "
            "print(rc, heavy[:5]); sys.exit(bool(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split()[0] == "2" and "Did you mean 'ease'?" in done.stderr
