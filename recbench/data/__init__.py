"""Stage 1: load and preprocess interactions into :class:`Interactions`."""

from recbench.data.interactions import Interactions, from_frame
from recbench.data.movielens import load_ml100k

__all__ = ["Interactions", "from_frame", "load_ml100k"]
