"""The one early stopper of every trained model (Lightning models and the RecBole bridge),
driven by hand: schedule, patience counted in validations, ties, NaN, state round trip.
The models' own tests check it in training (test_models.py, test_recbole_bridge.py)."""

from __future__ import annotations

import math

import pytest

from recbench.models.early_stopping import EarlyStopper


def drive(stopper: EarlyStopper, curve: dict[int, float], max_epochs: int) -> tuple[list, int]:
    """Run ``max_epochs`` epochs validating with ``curve[epoch]``; (validated, last epoch)."""
    validated = []
    for epoch in range(max_epochs):
        if stopper.due(epoch, max_epochs):
            validated.append(epoch)
            stopper.update(curve[epoch], epoch, lambda e=epoch: f"state@{e}")
            if stopper.should_stop:
                return validated, epoch
    return validated, max_epochs - 1


def test_validates_every_k_epochs_and_after_the_last():
    validated, last = drive(EarlyStopper(patience=99, valid_every=3),
                            dict.fromkeys(range(10), 0.5), 10)
    assert validated == [2, 5, 8, 9] and last == 9


def test_patience_counts_validations_and_ties_keep_the_earlier_epoch():
    curve = {1: 0.1, 3: 0.3, 5: 0.3, 7: 0.2, 9: 0.9}  # 5 ties 3: stale; 7 worse: stale
    stopper = EarlyStopper(patience=2, valid_every=2)
    validated, last = drive(stopper, curve, 10)
    assert validated == [1, 3, 5, 7] and last == 7  # stopped before the late 0.9
    assert (stopper.best_epoch, stopper.best_value, stopper.best_state) == (3, 0.3, "state@3")


def test_patience_zero_stops_at_the_first_stale_validation_not_after_a_best():
    stopper = EarlyStopper(patience=0)
    validated, last = drive(stopper, {0: 0.1, 1: 0.2, 2: 0.2, 3: 0.9}, 4)
    assert validated == [0, 1, 2] and stopper.best_epoch == 1


def test_a_non_finite_loss_is_logged_then_fails():
    logged = []
    EarlyStopper.check_loss({"train_loss": 1.0}, 0, logged.append)  # finite: nothing
    with pytest.raises(FloatingPointError, match="training loss became nan at epoch 4"):
        EarlyStopper.check_loss({"train_loss": math.nan}, 4, lambda v, e: logged.append((v, e)))
    assert len(logged) == 1 and logged[0][1] == 4 and math.isnan(logged[0][0]["train_loss"])


def test_state_round_trip_resumes_the_same_stop():
    curve = {e: v for e, v in enumerate([0.1, 0.4, 0.3, 0.35, 0.2, 0.1])}
    straight = EarlyStopper(patience=3)
    expected = drive(straight, curve, 6)
    first = EarlyStopper(patience=3)
    for epoch in range(3):  # killed after epoch 2; the checkpoint holds the state dict
        first.update(curve[epoch], epoch, lambda e=epoch: f"state@{e}")
    resumed = EarlyStopper(patience=3)
    resumed.load_state_dict(first.state_dict())
    for epoch in range(3, 6):
        resumed.update(curve[epoch], epoch, lambda e=epoch: f"state@{e}")
        if resumed.should_stop:
            break
    assert (epoch, resumed.best_epoch, resumed.best_state) == (
        expected[1], straight.best_epoch, straight.best_state)
