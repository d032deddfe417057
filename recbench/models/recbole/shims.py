"""Compatibility shims that let RecBole 1.2.1 run on today's numpy / SciPy stack.

Every shim names the upstream change that broke RecBole. Nothing in site-packages is
edited: :func:`import_recbole` applies the shims (once, idempotently) and then imports the
RecBole modules recbench uses. ``recbole.quick_start`` is never imported: it pulls in
ray 2.6.3, whose import needs ``pkg_resources`` (setuptools < 81).

``torch.load`` is not patched. torch >= 2.6 loads with ``weights_only=True``, which breaks
RecBole's own checkpoint and pretrain loading (``Trainer.evaluate(load_best_model=True)``,
``resume_checkpoint``, NeuMF/NAIS/RaCT pretraining); recbench never calls those paths: it
drives training itself, keeps the best weights in memory and evaluates with its own
evaluator, so no RecBole file is ever unpickled.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

#: numpy 2.0 (NEP 52) removed these aliases; RecBole's ``Config.compatibility_settings``
#: reads ``np.float_`` & co. and its evaluator / dataset code use ``np.float``.
NUMPY_ALIASES = {"float_": np.float64, "complex_": np.complex128, "unicode_": np.str_,
                 "int_": np.int_, "object_": np.object_, "bool_": np.bool_, "str_": np.str_}

_applied = False


def _patch_numpy() -> None:
    for name, value in NUMPY_ALIASES.items():
        if not hasattr(np, name):
            setattr(np, name, value)


def _patch_dok_update() -> None:
    """SciPy 1.12 removed ``dok_matrix._update`` (a bulk ``dict.update``); RecBole's LightGCN,
    NGCF, NCL, GCMC, SpectralCF, KGIN and MCCLK build their adjacency matrix with it."""
    import scipy.sparse as sp

    if hasattr(sp.dok_matrix, "_update"):
        return

    def _update(self, data: dict) -> None:
        # keys are (row, col) pairs inside the shape, as in the removed method; the
        # storage dict is ``_dict`` since dok_matrix stopped subclassing dict
        self._dict.update(data)

    sp.dok_matrix._update = _update


class _NullWriter:
    """Stands in for TensorBoard's SummaryWriter: recbench keeps curves in MLflow."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _patch_tensorboard(trainer_module: ModuleType) -> None:
    """RecBole's Trainer opens a TensorBoard writer under ``./log_tensorboard`` in the
    working directory for every run; recbench logs to MLflow instead."""
    trainer_module.get_tensorboard = lambda logger: _NullWriter()


def _quiet_warnings() -> None:
    """RecBole 1.2.1 triggers pandas 3, torch.amp and torch.sparse deprecation warnings on every run;
    they are about RecBole's code, not the user's, so they are not shown."""
    import warnings

    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category, module=r"recbole\.")


def import_recbole() -> ModuleType:
    """Apply the shims and import the RecBole modules recbench uses; returns ``recbole``."""
    global _applied
    if not _applied:
        _quiet_warnings()
        _patch_numpy()
        _patch_dok_update()
        import recbole.trainer.trainer as trainer_module

        _patch_tensorboard(trainer_module)
        _applied = True
    import recbole
    import recbole.config  # noqa: F401
    import recbole.data  # noqa: F401
    import recbole.utils  # noqa: F401

    return recbole
