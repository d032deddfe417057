"""Stage 2: split interactions into train / valid / test under a named protocol."""

from recbench.splits.base import FOLD_IN, TEST, TRAIN, VALID, Split, build_split, fingerprint
from recbench.splits.cold import ColdItemSplit, ColdUserSplit
from recbench.splits.leave_k_out import LeaveKOutSplit
from recbench.splits.predefined import PredefinedSplit
from recbench.splits.random_ratio import RandomRatioSplit
from recbench.splits.temporal_global import GlobalTemporalSplit

__all__ = ["Split", "build_split", "fingerprint", "TRAIN", "VALID", "TEST", "FOLD_IN",
           "ColdItemSplit", "ColdUserSplit", "GlobalTemporalSplit", "LeaveKOutSplit",
           "PredefinedSplit", "RandomRatioSplit"]
