"""Every option of every config group composes, validates and builds (the data set is
built as its loader, not loaded): a YAML file that drifts from its class fails here, before
any user runs it (lightning-hydra-template's tests/test_configs.py pattern)."""

from __future__ import annotations

import pytest

from recbench.config import GROUPS, check_buildable, compose, group_options

#: options that only make sense with another choice (the pairing a user would make)
NEEDS = {("model", name): ["split=leave_one_out"] for name in
         ("gru4rec", "sasrec", "bert4rec", "recbole/gru4rec", "recbole/sasrec")}
OPTIONS = [(group, option) for group in GROUPS for option in group_options(group)]


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_config_option_composes_validates_and_builds(group, option):
    overrides = [f"{group}={option}", *NEEDS.get((group, option), [])]
    cfg = compose(overrides)
    check_buildable(cfg)
    if group in ("dataset", "split", "model", "metrics", "trainer", "tracking"):
        assert cfg[group] is not None


def test_every_group_has_options():
    assert all(group_options(group) for group in GROUPS)
    assert len(OPTIONS) > 60
