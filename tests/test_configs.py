"""Every option of every config group composes, validates and builds (the data set is
built as its loader, not loaded): a YAML file that drifts from its class fails here, before
any user runs it (lightning-hydra-template's tests/test_configs.py pattern)."""

from __future__ import annotations

import pytest

from recbench.config import GROUPS, check_buildable, compose, group_options

#: options that only make sense with another choice (the pairing a user would make)
NEEDS = {("model", name): ["split=leave_one_out"] for name in
         ("gru4rec", "sasrec", "bert4rec", "recbole/gru4rec", "recbole/sasrec")}
CTR = ["task=ctr", "dataset=ml-100k-ctr", "model=fm"]  # the CTR task's own data and models
NEEDS |= {("model", name): CTR[:2] for name in
          ("lr", "fm", "deepfm", "dcn", "dcnv2", "xdeepfm", "autoint", "recbole_ctr")}
NEEDS |= {("task", "ctr"): CTR[1:]}
NEEDS |= {("dataset", name): [CTR[0], CTR[2]] for name in
          ("ml-100k-ctr", "synthetic-ctr", "frappe_x1", "movielenslatest_x1", "criteo_x1",
           "avazu_x1", "criteo-sample", "fuxictr-tiny")}
NEEDS |= {("hparams_search", name): CTR[1:2] for name in
          ("lr", "fm", "deepfm", "dcn", "dcnv2", "xdeepfm", "autoint")}
NEEDS |= {("experiment", name): ["model=fm"] for name in ("ml100k_ctr_leaderboard", "synthetic_ctr")}
OPTIONS = [(group, option) for group in GROUPS for option in group_options(group)]


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_config_option_composes_validates_and_builds(group, option):
    overrides = [f"{group}={option}", *NEEDS.get((group, option), [])]
    cfg = compose(overrides)
    check_buildable(cfg)
    if group in ("dataset", "split", "model", "metrics", "trainer", "tracking"):
        assert cfg[group] is not None


@pytest.mark.parametrize("overrides, message", [
    (["model=fm"], "model 'fm' predicts clicks (CTR), but the run's task is task=topn: use "
                   "task=ctr, or a model of task=topn (model=ease)."),
    (["task=ctr", "dataset=ml-100k-ctr"], "model 'ease' ranks items (top-N), but the run's "
                                          "task is task=ctr"),
    (["task=ctr", "model=fm"], "dataset 'ml-100k' holds interactions (top-N), but the run's "
                               "task is task=ctr: use task=topn, or a dataset of task=ctr "
                               "(dataset=ml-100k-ctr)."),
    (["task=ctr", "dataset=ml-100k-ctr", "model=fm", "+dataset.fields=[{name: x, kind: text}]"],
     "dataset.fields: field 'x': kind must be one of categorical, sequence, numeric, got 'text'"),
    (["task=ctr", "dataset=ml-100k-ctr", "model=fm", "+dataset.fields=[{name: x, size: 3}]"],
     "dataset.fields: FieldSpec.__init__() got an unexpected keyword argument 'size'"),
])
def test_model_data_set_and_task_must_agree(overrides, message):
    """...and a CTR data set's field spec is checked with the config, not once loaded."""
    from recbench.errors import RecbenchError

    with pytest.raises(RecbenchError) as err:
        check_buildable(compose(overrides))
    assert message in str(err.value)


def test_every_group_has_options():
    assert all(group_options(group) for group in GROUPS)
    assert len(OPTIONS) > 60
