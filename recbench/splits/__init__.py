"""Stage 2: split interactions into train / valid / test under a named protocol."""

from recbench.splits.base import Split, build_split, fingerprint
from recbench.splits.leave_one_out import LeaveOneOutSplit
from recbench.splits.random_ratio import RandomRatioSplit

__all__ = ["Split", "build_split", "fingerprint", "LeaveOneOutSplit", "RandomRatioSplit"]
