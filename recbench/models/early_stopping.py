"""Early stopping, one implementation for every trained model (Lightning models and the
RecBole bridge): when to validate, when to stop, which state to keep, and a diverged loss.

Rules:
- Validate after every ``valid_every``-th epoch (1-based) and after the last epoch.
- A validation whose value is strictly greater than the best so far makes its epoch the
  best (ties keep the earlier epoch) and copies the model state; any other validation is
  *stale*. Training stops after ``patience`` stale validations in a row (validations, not
  epochs: with ``valid_every=5`` and ``patience=2`` that is 10 epochs without progress).
- A non-finite epoch loss fails the run at once, after logging the curve so far (a NaN
  loss is a result to see, not a number to keep training on).
- Without validation data nothing is validated: training runs ``max_epochs`` and the
  final weights are kept (``best_epoch`` is None).

:meth:`EarlyStopper.state_dict` holds everything a resumed run needs to stop at the same
epoch and keep the same best state as an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


class EarlyStopper:
    """Tracks the best validation value of one training run.

    Args:
        patience: stale validations in a row before stopping (>= 0; 0 stops at the first
            validation that is not an improvement).
        valid_every: epochs between validations (>= 1).
    """

    def __init__(self, patience: int = 10, valid_every: int = 1) -> None:
        self.patience, self.valid_every = int(patience), int(valid_every)
        self.best_value = -math.inf
        self.best_epoch: int | None = None
        self.best_state: Any = None
        self.stale = 0

    @staticmethod
    def check_loss(values: dict, epoch: int, log: Callable | None) -> None:
        """Raise ``FloatingPointError`` if ``values["train_loss"]`` is not finite, after
        handing ``values`` to ``log`` (the curve shows where training diverged)."""
        if not math.isfinite(values["train_loss"]):
            if log is not None:
                log(values, epoch)
            raise FloatingPointError(f"training loss became {values['train_loss']} "
                                     f"at epoch {epoch}")

    def due(self, epoch: int, max_epochs: int) -> bool:
        """Whether to validate after 0-based ``epoch`` of ``max_epochs``."""
        return (epoch + 1) % self.valid_every == 0 or epoch + 1 >= max_epochs

    def update(self, value: float, epoch: int, snapshot: Callable[[], Any]) -> None:
        """Record a validation; ``snapshot()`` (a deep copy of the model state) is called
        only when ``value`` is a new best."""
        if value > self.best_value:
            self.best_value, self.best_epoch, self.stale = value, epoch, 0
            self.best_state = snapshot()
        else:
            self.stale += 1

    @property
    def should_stop(self) -> bool:
        """After ``patience`` stale validations in a row (never right after a new best)."""
        return self.stale > 0 and self.stale >= self.patience

    def state_dict(self) -> dict:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch,
                "stale_validations": self.stale, "best_state": self.best_state}

    def load_state_dict(self, saved: dict) -> None:
        self.best_value, self.best_epoch = saved["best_value"], saved["best_epoch"]
        self.stale = saved.get("stale_validations", 0)
        self.best_state = saved["best_state"]
