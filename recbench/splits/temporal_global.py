"""Global temporal split: one cutoff in time for everyone (the leakage-free protocol)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recbench.data.interactions import Interactions
from recbench.errors import RecbenchError
from recbench.splits.base import TEST, TRAIN, VALID


class GlobalTemporalSplit:
    """Interactions at or after the test cutoff are test; the validation cutoff is taken the
    same way inside the remaining (train) part. Nothing in train or valid is newer than
    anything in test, so models never see the future.

    Args:
        test: fraction of interactions (the newest) to hold out, e.g. ``0.1`` — the cutoff is
            that quantile of the timestamps — or a date (``"2018-01-01"``), whose unix time
            is the cutoff; not 0 (an empty test part).
        valid: the same for validation, applied to the part before the test cutoff; 0
            keeps no validation.
    """

    promises = frozenset({"time_global", "time_user"})

    def __init__(self, test: float | str = 0.1, valid: float | str = 0.1, seed: int = 2024):
        self.test, self.valid, self.seed = test, valid, seed
        for value in (test, valid):
            if not isinstance(value, str) and not 0 <= float(value) < 1:
                raise RecbenchError(f"split.test / split.valid must be a fraction in [0, 1) or "
                                    f"a date, got {value!r}.")
        if not isinstance(test, str) and float(test) == 0:
            raise RecbenchError("split.test=0 holds out no test interactions (every test metric "
                                "would be NaN); give it a fraction > 0 (e.g. 0.1) or a date.")
        #: valid=0 asks for no validation, as predefined's valid_ratio=0: not an error
        self.valid_optional = not isinstance(valid, str) and float(valid) == 0

    @staticmethod
    def _cutoff(times: np.ndarray, spec: float | str) -> float:
        if isinstance(spec, str):
            try:
                return pd.Timestamp(spec, tz="UTC").timestamp()
            except ValueError:
                raise RecbenchError(f"split cutoff '{spec}' is not a date (YYYY-MM-DD).") from None
        if float(spec) == 0:
            return np.inf
        return float(np.quantile(times, 1 - float(spec), method="higher"))

    def assign(self, data: Interactions) -> np.ndarray:
        """``(len(data),) int8``: 0 train, 1 valid, 2 test for each interaction."""
        if data.timestamp is None or data.timestamp_kind != "seconds":
            raise RecbenchError(
                f"a global time cutoff needs real timestamps; dataset '{data.name}' has "
                f"{data.timestamp_kind or 'none'}. Use split=leave_one_out or split=temporal_ratio.")
        ts = data.timestamp
        assign = np.full(len(data), TRAIN, dtype=np.int8)
        test_cut = self._cutoff(ts, self.test)
        assign[ts >= test_cut] = TEST
        rest = assign == TRAIN
        if not rest.any():
            raise RecbenchError(f"the test cutoff {self.test!r} leaves no training data; "
                                f"use a later date or a smaller fraction.")
        valid_cut = self._cutoff(ts[rest], self.valid)
        assign[rest & (ts >= valid_cut)] = VALID
        return assign
