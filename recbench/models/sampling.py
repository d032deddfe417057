"""Negative sampling shared by all pairwise-trained models."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


class UniformNegativeSampler:
    """Draw items uniformly at random, rejecting the user's training positives.

    Rejection is vectorised: all draws that hit a positive are redrawn together, at most
    ``max_rounds`` times (a user who has interacted with nearly every item may keep a
    positive after that).

    Args:
        train: binary ``(n_users, n_items)`` CSR training matrix.
        generator: torch generator, so sampling is deterministic given its seed.
    """

    def __init__(self, train: sp.csr_matrix, generator: torch.Generator, max_rounds: int = 20):
        self.n_items = train.shape[1]
        coo = train.tocoo()
        keys = coo.row.astype(np.int64) * self.n_items + coo.col.astype(np.int64)
        self.positive_keys = torch.from_numpy(np.sort(keys))
        self.generator, self.max_rounds = generator, max_rounds

    def is_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Elementwise: is (users[k], items[k]) a training interaction? Same shape as items."""
        keys = users * self.n_items + items
        idx = torch.searchsorted(self.positive_keys, keys).clamp(max=len(self.positive_keys) - 1)
        return self.positive_keys[idx] == keys

    def sample(self, users: torch.Tensor, n: int = 1) -> torch.Tensor:
        """``(B, n) int64`` negative items for ``users`` ``(B,)``."""
        users = users[:, None].expand(-1, n)
        items = torch.randint(self.n_items, users.shape, generator=self.generator)
        for _ in range(self.max_rounds):
            redo = self.is_positive(users, items)
            if not redo.any():
                break
            items[redo] = torch.randint(self.n_items, (int(redo.sum()),), generator=self.generator)
        return items
