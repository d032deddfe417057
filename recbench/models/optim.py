"""The optimizer every neural model shares (config group ``configs/optimizer/``).

A neural model's config holds ``optimizer: {name, lr, weight_decay, momentum}``; the model
passes it to :func:`optimizer_spec` and its LightningModule builds the optimizer from the
spec, so all neural models are tuned and compared with the same optimizer settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields

import torch

from recbench.errors import unknown_choice

#: Optimizer name -> torch class.
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


@dataclass(frozen=True)
class OptimizerSpec:
    """Settings of one optimizer.

    Attributes:
        name: ``"adam"``, ``"adamw"`` or ``"sgd"``.
        lr: learning rate (> 0).
        weight_decay: L2 penalty (Adam, SGD) or decoupled decay (AdamW) applied to all
            parameters (>= 0); models' own ``reg`` terms are separate.
        momentum: SGD momentum in [0, 1) (must be 0 for Adam / AdamW).
    """

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0

    def build(self, parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """The torch optimizer over ``parameters``.

        Adam and AdamW use torch's fused kernel (one pass over each parameter instead of
        one per operation; the same update, deterministic): for embedding tables updated
        densely every step, the optimizer step is most of an epoch (``make bench``).
        """
        parameters = list(parameters)
        extra = {"momentum": self.momentum} if self.name == "sgd" else {}
        if self.name in ("adam", "adamw") and parameters and all(
                p.dtype.is_floating_point and p.device.type in ("cpu", "cuda")
                for p in parameters):
            extra["fused"] = True
        return OPTIMIZERS[self.name](parameters, lr=self.lr, weight_decay=self.weight_decay,
                                     **extra)


def optimizer_spec(value: Mapping | OptimizerSpec | None, lr: float = 1e-3) -> OptimizerSpec:
    """Validate an optimizer config; missing keys take the defaults (``lr``: the model's).

    Raises:
        ValueError: unknown key or name (with close matches), or an out-of-range value (the
            model constructor's error, which ``recbench.config.build`` reports in one line).
    """
    if isinstance(value, OptimizerSpec):
        value = asdict(value)
    settings = {**asdict(OptimizerSpec(lr=lr)), **dict(value or {})}
    unknown = set(settings) - set(asdict(OptimizerSpec()))
    if unknown:
        raise ValueError(str(unknown_choice("optimizer setting", sorted(unknown)[0],
                                            asdict(OptimizerSpec()))))
    # imported here: recbench.config imports the models, which import this module
    from recbench.settings import value_problem

    for field in fields(OptimizerSpec):  # lr=true or lr=nan would pass the range checks below
        problem = value_problem(settings[field.name], field.type)
        if problem:
            raise ValueError(f"optimizer.{field.name} must be {problem}, "
                             f"got {settings[field.name]!r}.")
    name = str(settings["name"]).lower()
    if name not in OPTIMIZERS:
        raise ValueError(str(unknown_choice("optimizer", settings["name"], OPTIMIZERS)))
    spec = OptimizerSpec(name=name, lr=float(settings["lr"]),
                         weight_decay=float(settings["weight_decay"]),
                         momentum=float(settings["momentum"]))
    if not spec.lr > 0 or spec.weight_decay < 0 or not 0 <= spec.momentum < 1:
        raise ValueError(f"optimizer needs lr > 0, weight_decay >= 0 and 0 <= momentum < 1; "
                            f"got lr={spec.lr}, weight_decay={spec.weight_decay}, "
                            f"momentum={spec.momentum}.")
    if spec.momentum and name != "sgd":
        raise ValueError(f"optimizer.momentum applies to sgd only, not {name}; set "
                            f"optimizer.name=sgd or momentum=0.")
    return spec
