"""``split.train_fraction``: train on a nested, seeded share of each user's train part.

Data-fraction learning curves ask how a model's accuracy grows with its training data. For
the curve to compare like with like, only what models *learn from* changes:

- each user keeps ``ceil(f * n_u)`` of their ``n_u`` train interactions (at least one, so no
  user drops out of training), chosen by one seeded random key per interaction: the
  interactions kept at ``f = 0.25`` are among those kept at ``f = 0.5`` (nested);
- valid and test are untouched, so every fraction is evaluated on the same users and items
  and results pair across fractions;
- the interactions left out are *hidden* (part :data:`HIDDEN`): never trained on, never
  read at scoring time, but still masked in the rankings like train items, because the
  user did interact with them (the full-data run masks them too).

``train_fraction: 1.0`` is the identity: no interaction is hidden and, like any key at the
value every earlier run had, it is left out of config hashes and split fingerprints.
"""

from __future__ import annotations

import numpy as np

from recbench.data.interactions import TRAIN
from recbench.splits.base import rank_within_user

#: part code of train interactions left out by ``train_fraction`` (after FOLD_IN = 3)
HIDDEN = 4
KEY = "train_fraction"
#: the key's value that changes nothing
FULL = 1.0


def without_fraction(split_cfg: dict) -> tuple[dict, float]:
    """``(protocol config, fraction)``: the split node minus ``train_fraction``, which the
    protocol classes never see."""
    fraction = float(split_cfg.get(KEY, FULL))
    return {k: v for k, v in split_cfg.items() if k != KEY}, fraction


def hide_train(user: np.ndarray, assign: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The assignment with all but ``ceil(fraction * n_u)`` of each user's train
    interactions marked :data:`HIDDEN`.

    Args:
        user: ``(n,) int64`` user of each interaction.
        assign: ``(n,) int8`` parts (TRAIN, VALID, TEST, FOLD_IN).
        fraction: share of each user's train interactions kept, in (0, 1].
        seed: seeds the key that orders a user's train interactions; the same seed gives
            nested subsets across fractions.

    Returns:
        A new ``(n,) int8`` assignment.
    """
    if fraction >= FULL:
        return assign
    # one key per interaction of the whole data set, drawn before selecting train rows: a
    # row's key does not depend on the fraction, hence nested subsets
    key = np.random.default_rng([seed, 0x7F4A]).random(len(assign))
    train = np.flatnonzero(assign == TRAIN)
    rank, count = rank_within_user(user[train], key[train])
    keep = rank < np.maximum(np.ceil(fraction * count - 1e-9), 1)
    out = assign.copy()
    out[train[~keep]] = HIDDEN
    return out

