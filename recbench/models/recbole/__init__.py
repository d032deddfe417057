"""The RecBole bridge: RecBole's general and sequential models under recbench's protocol."""

from recbench.models.recbole.model import RecBoleModel

__all__ = ["RecBoleModel"]
