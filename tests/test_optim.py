"""The shared optimizer config group (recbench/models/optim.py, configs/optimizer/)."""

import pytest
import torch

from recbench.config import build, compose
from recbench.errors import RecbenchError
from recbench.models.base import FitContext
from recbench.models.bpr import BPR
from recbench.models.optim import OptimizerSpec, optimizer_spec


def test_missing_keys_take_the_model_default_lr():
    assert optimizer_spec(None, lr=5e-3) == OptimizerSpec("adam", 5e-3, 0.0, 0.0)
    assert optimizer_spec({"name": "AdamW", "weight_decay": 0.1}).name == "adamw"


@pytest.mark.parametrize("name,cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                      ("sgd", torch.optim.SGD)])
def test_build_gives_the_named_torch_optimizer_with_its_settings(name, cls):
    spec = optimizer_spec({"name": name, "lr": 0.02, "weight_decay": 0.5,
                           "momentum": 0.9 if name == "sgd" else 0.0})
    opt = spec.build([torch.nn.Parameter(torch.zeros(3))])
    assert type(opt) is cls
    group = opt.param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (0.02, 0.5)
    if name == "sgd":
        assert group["momentum"] == 0.9


@pytest.mark.parametrize("value,match", [
    ({"name": "adm"}, "unknown optimizer 'adm'. Did you mean 'adam'"),
    ({"learning_rate": 0.1}, "unknown optimizer setting 'learning_rate'"),
    ({"lr": 0}, "lr > 0"), ({"weight_decay": -1}, "weight_decay >= 0"),
    ({"momentum": 0.9}, "sgd only"), ({"name": "sgd", "momentum": 1.0}, "momentum < 1"),
])
def test_bad_settings_are_refused_in_one_line(value, match):
    with pytest.raises(ValueError, match=match) as err:
        optimizer_spec(value)
    assert "\n" not in str(err.value)


def test_every_neural_model_config_includes_the_shared_group_and_builds():
    for model, lr in [("bpr", 1e-3), ("lightgcn", 5e-3), ("multivae", 1e-3), ("neumf", 1e-3)]:
        cfg = compose([f"model={model}", "model.optimizer.name=adamw"])
        assert set(cfg.model.optimizer) == {"name", "lr", "weight_decay", "momentum"}
        built = build(cfg, "model")
        assert built.optimizer == OptimizerSpec("adamw", lr, 0.0, 0.0)


def test_a_config_typo_in_the_optimizer_is_one_line_naming_the_model():
    with pytest.raises(RecbenchError, match="model 'bpr': unknown optimizer 'sgdd'"):
        build(compose(["model=bpr", "model.optimizer.name=sgdd"]), "model")


def test_the_module_trains_with_the_configured_optimizer(ml100k_split):
    s = ml100k_split
    ctx = FitContext(seed=0, trainer={"max_epochs": 1, "progress_bar": False})
    model = BPR(dim=4, optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.5}).fit(s.train, s.valid, ctx)
    assert isinstance(model.module.optimizers().optimizer, torch.optim.SGD)
