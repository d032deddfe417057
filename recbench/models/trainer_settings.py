"""The ``trainer`` config group, described once (:mod:`recbench.settings`): what each
setting may hold, checked when a config is checked (Lightning itself would reject a bad
value only at fit time, inside a tracked run, and closed-form models never reach it). No
Lightning import: checking a config stays fast.

Defaults: configs/trainer/default.yaml, the one place they are written (read here).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from recbench.errors import RecbenchError
from recbench.models.constraints import AT_LEAST_ONE, NON_NEGATIVE, OneOf
from recbench.paths import CONFIG_DIR
from recbench.settings import Setting, check_group

#: every trainer setting and its defaults (the YAML file of the group's default option)
TRAINER_DEFAULTS: dict[str, Any] = OmegaConf.to_container(
    OmegaConf.load(CONFIG_DIR / "trainer" / "default.yaml"))
#: trainer.accelerator values Lightning's Trainer accepts ("gpu": CUDA or MPS, "auto": any);
#: Lightning's AcceleratorRegistry names the rest (a test keeps the two equal)
ACCELERATORS = ("auto", "gpu", "cpu", "cuda", "mps", "tpu")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_devices(devices: Any, trainer: Any, where: str) -> None:
    """``trainer.devices`` as Lightning takes it: "auto", a count, or (GPUs only) -1 for all
    of them or a list of distinct device indices."""
    gpu_only = trainer.get("accelerator") != "cpu"  # Lightning's CPU accelerator: a count
    if isinstance(devices, (list, tuple)) or OmegaConf.is_list(devices):
        ok = gpu_only and len(devices) > 0 and all(_is_int(d) and d >= 0 for d in devices) \
            and len(set(devices)) == len(devices)
    else:
        ok = devices == "auto" or _is_int(devices) and (devices >= 1 or gpu_only and devices == -1)
    if not ok:
        raise RecbenchError(
            f"{where} must be 'auto', a positive integer"
            + (", -1 (all GPUs) or a list of GPU indices like [0,1]" if gpu_only else
               " (trainer.accelerator=cpu)") + f", got {devices!r}.")


TRAINER = {
    "max_epochs": Setting("int", AT_LEAST_ONE),
    "patience": Setting("int", NON_NEGATIVE),
    "valid_every": Setting("int", AT_LEAST_ONE),
    "accelerator": Setting("str", OneOf(ACCELERATORS)),
    "devices": Setting("str | int | list[int]", _check_devices),
    "progress_bar": Setting("bool", result=False),  # what the terminal shows, not results
    "deterministic": Setting("bool"),
}


def check_trainer(trainer: DictConfig) -> None:
    """One-line errors for the ``trainer`` node: unknown keys (close matches suggested),
    types, ranges, accelerator and devices."""
    check_group(trainer, TRAINER, "trainer")
