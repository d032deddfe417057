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
    (["metrics.ranking=sampled"], "use 'full'"),
    (["seed=abc"], "seed must be an integer"),
    (["seed=-1"], "seed must be an integer in [0, 2**32)"),
    (["metrics.ks=5"], "metrics.names and metrics.ks must both be non-empty lists"),
    (["split=null"], "bad override"),
    (["~model"], "the run config lacks ['model']"),
    (["name="], "name must be a non-empty word"),
    (["model=bpr", "trainer.max_epochs=abc"], "trainer.max_epochs must be int >= 1, got 'abc'"),
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


def test_every_metrics_option_composes_and_names_registry_metrics():
    from recbench.config import metric_names
    from recbench.evaluation.registry import ACCURACY, BEYOND, REGISTRY

    assert set(group_options("metrics")) >= {"default", "full", "beyond"}
    for option in group_options("metrics"):
        cfg = compose([f"metrics={option}"])
        validate(cfg)
        assert metric_names(cfg)
    assert list(compose(["metrics=full"]).metrics.names) == list(REGISTRY)
    assert list(compose(["metrics=beyond"]).metrics.names) == list(BEYOND)
    assert list(compose(["metrics=default"]).metrics.names) == list(ACCURACY)
    cfg = compose(["metrics.names=[ndcg,arp,ild]", "metrics.ks=[10]"])
    validate(cfg)
    assert metric_names(cfg) == ["ndcg@10", "arp@10", "ild@10"]
