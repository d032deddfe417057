"""On-disk cache of encoded CTR splits: the parts' model inputs, labels, users, row ids,
the encoders fitted on train (JSON) and the fingerprint, keyed like the top-N split cache
(raw file digests + resolved dataset and split config: :func:`recbench.splits.make.cache_key`).

Encoding is the slow part of a CTR run on BARS-size data (tens of millions of rows, every
field mapped through its vocabulary); runs of a sweep share one split, so they share its
encoding. One ``.npz`` per split, no pickles (``allow_pickle=False``), written to a temp
file and renamed; an unreadable entry is deleted with a warning and rebuilt
(:mod:`recbench.splits.cache` does both).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from recbench.splits.cache import UNREADABLE, drop_unreadable, write_npz

log = logging.getLogger(__name__)

#: bump when what an entry holds, or how parts are encoded, changes (it is in the key)
VERSION = 1


def save(path: Path, split) -> None:
    """Write a :class:`~recbench.tasks.ctr.CTRSplit` to ``path``."""
    arrays, parts = {}, {}
    for p, part in split.parts.items():
        x = part.inputs
        arrays[f"{p}_indices"] = x.indices.numpy()
        for i, s in enumerate(x.sequences):
            arrays[f"{p}_sequence{i}"] = s.numpy()
        if x.numeric is not None:
            arrays[f"{p}_numeric"] = x.numeric.numpy()
        arrays[f"{p}_labels"] = part.labels
        codes, names = pd.factorize(pd.Series(part.users, dtype=object))
        arrays[f"{p}_user_codes"] = codes.astype(np.int64)  # one name per user, not per row
        arrays[f"{p}_user_names"] = np.asarray(names, dtype=str)
        arrays[f"{p}_ids"] = part.ids
        if part.optimal is not None:
            arrays[f"{p}_optimal"] = part.optimal
        parts[str(p)] = {"sizes": part.sizes, "sequence_sizes": part.sequence_sizes,
                         "n_sequences": len(x.sequences)}
    try:
        write_npz(path, {"parts": parts, "encoders": [e.to_dict() for e in split.encoders],
                         "fingerprint": split.fingerprint, "leakage": split.leakage}, **arrays)
    except OSError as err:  # a full disk costs the next run an encoding, not this run
        log.warning("could not cache the encoded split at %s (%s); the run goes on.", path,
                    err)


def load(path: Path):
    """The cached :class:`~recbench.tasks.ctr.CTRSplit`, or None when absent or unreadable."""
    import torch

    from recbench.data.features import FieldEncoder
    from recbench.models.ctr.estimator import CTRPart
    from recbench.models.ctr.layers import CTRInputs
    from recbench.tasks.ctr import CTRSplit

    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            parts = {}
            for key, info in meta["parts"].items():
                p = int(key)
                inputs = CTRInputs(
                    torch.from_numpy(z[f"{p}_indices"]),
                    tuple(torch.from_numpy(z[f"{p}_sequence{i}"])
                          for i in range(info["n_sequences"])),
                    torch.from_numpy(z[f"{p}_numeric"]) if f"{p}_numeric" in z else None)
                users = z[f"{p}_user_names"].astype(object)[z[f"{p}_user_codes"]]
                parts[p] = CTRPart(inputs, z[f"{p}_labels"], users,
                                   info["sizes"], info["sequence_sizes"], z[f"{p}_ids"],
                                   z[f"{p}_optimal"] if f"{p}_optimal" in z else None)
        encoders = [FieldEncoder.from_dict(e) for e in meta["encoders"]]
        return CTRSplit(parts, encoders, meta["fingerprint"], meta["leakage"])
    except (*UNREADABLE, TypeError) as err:  # TypeError: encoders of an older FieldSpec
        drop_unreadable(path, err, "CTR split")
        return None
