"""Negative sampling shared by all pairwise-trained models."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recbench.models.constraints import AT_LEAST_ONE, OneOf

DISTRIBUTIONS = ("uniform", "popularity")

#: constructor arguments every model trained on sampled negatives shares
#: (:mod:`recbench.models.constraints`)
SAMPLED_TRAINING = {"batch_size": AT_LEAST_ONE, "negatives": AT_LEAST_ONE,
                    "sampler": OneOf(DISTRIBUTIONS)}


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator):
    """Yield ``(<= batch_size,) int64`` index tensors covering ``range(n)`` once, in an
    order drawn from ``generator`` (one training epoch)."""
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


class NegativeSampler:
    """Draw items a user has not interacted with in train.

    ``"uniform"`` draws every item with equal probability; ``"popularity"`` draws item i with
    probability proportional to its train interaction count (items never seen in train are
    never drawn). Draws that hit one of the user's train positives are redrawn together,
    vectorised, at most ``max_rounds`` times (a user who has interacted with nearly every
    item may keep a positive after that).

    Args:
        train: binary ``(n_users, n_items)`` CSR training matrix.
        generator: torch generator, so sampling is deterministic given its seed.
        distribution: ``"uniform"`` or ``"popularity"``.
    """

    def __init__(self, train: sp.csr_matrix, generator: torch.Generator,
                 distribution: str = "uniform", max_rounds: int = 20):
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"negative sampling distribution must be one of "
                             f"{', '.join(DISTRIBUTIONS)}, got {distribution!r}")
        self.n_items = train.shape[1]
        coo = train.tocoo()
        keys = coo.row.astype(np.int64) * self.n_items + coo.col.astype(np.int64)
        self.positive_keys = torch.from_numpy(np.sort(keys))
        self.generator, self.max_rounds = generator, max_rounds
        self.weights = None
        if distribution == "popularity":
            counts = np.asarray(train.sum(axis=0), dtype=np.float64).ravel()
            self.weights = torch.from_numpy(counts)

    def is_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Elementwise: is (users[k], items[k]) a training interaction? Same shape as items."""
        keys = users * self.n_items + items
        idx = torch.searchsorted(self.positive_keys, keys).clamp(max=len(self.positive_keys) - 1)
        return self.positive_keys[idx] == keys

    def _draw(self, count: int) -> torch.Tensor:
        if self.weights is None:
            return torch.randint(self.n_items, (count,), generator=self.generator)
        return torch.multinomial(self.weights, count, replacement=True, generator=self.generator)

    def sample(self, users: torch.Tensor, n: int = 1) -> torch.Tensor:
        """``(B, n) int64`` negative items for ``users`` ``(B,)``."""
        users = users[:, None].expand(-1, n).reshape(-1)
        items = self._draw(len(users))
        # each round redraws the draws that hit a positive (in row-major order) and checks
        # only those again, not all B x n
        redo = torch.nonzero(self.is_positive(users, items)).view(-1)
        for _ in range(self.max_rounds):
            if not len(redo):
                break
            items[redo] = drawn = self._draw(len(redo))
            redo = redo[self.is_positive(users[redo], drawn)]
        return items.view(-1, n)
