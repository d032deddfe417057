"""The ``trainer`` config group: what each setting may hold, checked when a config is
checked (Lightning itself would reject a bad value only at fit time, inside a tracked run,
and closed-form models never reach it). No Lightning import: checking a config stays fast.

Defaults: configs/trainer/default.yaml, the one place they are written (read here).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from recbench.errors import RecbenchError, check_keys, unknown_choice
from recbench.paths import CONFIG_DIR

#: every trainer setting and its defaults (the YAML file of the group's default option)
TRAINER_DEFAULTS: dict[str, Any] = OmegaConf.to_container(
    OmegaConf.load(CONFIG_DIR / "trainer" / "default.yaml"))
#: setting -> (type, minimum); accelerator and devices: see :func:`check_trainer`
TRAINER_TYPES = {"max_epochs": (int, 1), "patience": (int, 0), "valid_every": (int, 1),
                 "progress_bar": (bool, None), "deterministic": (bool, None)}
#: trainer.accelerator values Lightning's Trainer accepts ("gpu": CUDA or MPS, "auto": any);
#: Lightning's AcceleratorRegistry names the rest (a test keeps the two equal)
ACCELERATORS = ("auto", "gpu", "cpu", "cuda", "mps", "tpu")


def check_trainer(trainer: DictConfig) -> None:
    """One-line errors for the ``trainer`` node: unknown keys (close matches suggested),
    types, lower bounds, accelerator and devices."""
    check_keys(trainer, TRAINER_DEFAULTS, "trainer")
    for key, value in trainer.items():
        if key == "accelerator":
            if not isinstance(value, str) or value not in ACCELERATORS:
                raise unknown_choice("trainer.accelerator", value, ACCELERATORS)
        elif key == "devices":
            _check_devices(value, trainer.get("accelerator"))
        else:
            kind, minimum = TRAINER_TYPES[key]
            if isinstance(value, bool) and kind is not bool or not isinstance(value, kind) or (
                    minimum is not None and value < minimum):
                raise RecbenchError(
                    f"trainer.{key} must be {kind.__name__}"
                    f"{f' >= {minimum}' if minimum is not None else ''}, got {value!r}.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_devices(devices: Any, accelerator: str | None) -> None:
    """``trainer.devices`` as Lightning takes it: "auto", a count, or (GPUs only) -1 for all
    of them or a list of distinct device indices."""
    gpu_only = accelerator != "cpu"  # Lightning's CPU accelerator takes a count only
    if OmegaConf.is_list(devices):
        ok = gpu_only and len(devices) > 0 and all(_is_int(d) and d >= 0 for d in devices) \
            and len(set(devices)) == len(devices)
    else:
        ok = devices == "auto" or _is_int(devices) and (devices >= 1 or gpu_only and devices == -1)
    if not ok:
        raise RecbenchError(
            f"trainer.devices must be 'auto', a positive integer"
            + (", -1 (all GPUs) or a list of GPU indices like [0,1]" if gpu_only else
               " (trainer.accelerator=cpu)") + f", got {devices!r}.")
