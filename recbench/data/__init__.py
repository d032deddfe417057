"""Stage 1: load and preprocess interactions into :class:`Interactions`."""

from recbench.data.interactions import TEST, TRAIN, VALID, Interactions, from_frame
from recbench.data.loader import load_dataset
from recbench.data.movielens import load_ml100k

__all__ = ["Interactions", "from_frame", "load_dataset", "load_ml100k", "TRAIN", "VALID", "TEST"]
