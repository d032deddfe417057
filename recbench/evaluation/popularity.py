"""What beyond-accuracy metrics know about items, all read off the train part of a split:
popularity, the short head / long tail, and the item vectors of intra-list diversity.

Definitions (one place; :mod:`.beyond` and :mod:`.catalog` only read them):

- ``pop(i)``: the number of distinct train users of item ``i`` (the train matrix is
  binary, so this is also its number of train interactions). Items never seen in training
  have ``pop = 0``.
- Short head, rule ``head_share`` (default, Elliot's convention with share 0.8): the most
  popular items that together hold ``share`` of the train interactions: items sorted by
  ``pop`` descending, the smallest prefix whose ``pop`` sums to ``>= share * total``, plus
  every item tied with the last one of that prefix (Elliot breaks that tie by item order;
  we keep tied items together so that renumbering items changes nothing).
- Long tail, rule ``bottom_fraction`` (RecBole's ``TailPercentage`` with ``tail_ratio <=
  1``): among items with ``pop > 0``, sorted by ``(pop, item index)`` ascending, the first
  ``max(int(n * fraction), 1)``. Ties at the cut are broken by item index, as RecBole does.
- Under both rules an item never seen in training is in the long tail (RecBole's counter
  does not hold such items, so RecBole never counts them as tail: a pinned difference).
- Item vectors of ILD: ``features`` is the multi-hot vector of an item's categories
  (``metrics.item_feature``, e.g. ml-100k's genres); ``interactions`` is the item's column
  of the train matrix (its train users). ``auto`` takes features when the data set has the
  column, else interactions. Rows are L2-normalised; an item with no category or no train
  user keeps a zero vector (cosine 0 with everything).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from recbench.errors import RecbenchError
from recbench.evaluation.options import check_options


#: catalogues up to this many items keep the dense cosine matrix of their item vectors
#: for ILD (float64: 128 MiB at 4,096 items; ML-1M's 3,043 items: 71 MiB)
GRAM_ITEMS = 4096


@dataclass(frozen=True)
class ItemStats:
    """Train-side item facts of one split.

    Attributes:
        popularity: ``(n_items,) int64`` distinct train users per item.
        n_train_users: users with at least one train interaction (novelty's and EPC's
            denominator).
        tail: ``(n_items,) bool`` long-tail items (the complement of the short head).
        vectors: ``(n_items, d) float64`` CSR, L2-normalised rows (zero rows allowed).
        vectors_source: ``"features"`` or ``"interactions"`` (what ``vectors`` hold).
    """

    popularity: np.ndarray
    n_train_users: int
    tail: np.ndarray
    vectors: sp.csr_matrix
    vectors_source: str

    @property
    def n_items(self) -> int:
        return len(self.popularity)

    def cosines(self) -> np.ndarray | None:
        """``(n_items, n_items) float64`` cosines of every item pair (``vectors``' Gram
        matrix), computed once (one dense product) and kept, for catalogues of at most
        :data:`GRAM_ITEMS` items; None for larger ones (ILD then works chunk by chunk)."""
        if self.n_items > GRAM_ITEMS:
            return None
        if "_cosines" not in self.__dict__:
            dense = torch.from_numpy(self.vectors.toarray())
            object.__setattr__(self, "_cosines", (dense @ dense.T).numpy())  # frozen: a cache
        return self.__dict__["_cosines"]

    @classmethod
    def from_train(cls, train: sp.spmatrix, *, tail_rule: str = "head_share",
                   head_share: float = 0.8, tail_fraction: float = 0.1,
                   item_vectors: str = "auto", categories: list[list[str]] | None = None
                   ) -> "ItemStats":
        """Build the stats of a binary ``(n_users, n_items)`` train matrix.

        Args:
            tail_rule: ``head_share`` or ``bottom_fraction`` (see the module docstring).
            head_share: share of train interactions the short head holds, in (0, 1].
            tail_fraction: share of trained items in the tail (``bottom_fraction``), (0, 1].
            item_vectors: ``auto``, ``features`` or ``interactions``.
            categories: per item (``n_items`` lists), its categories; None when the data
                set has no such feature.
        """
        check_options(tail_rule, head_share, tail_fraction, item_vectors)
        train = sp.csr_matrix(train)
        binary = train.copy()
        binary.data = np.ones_like(binary.data)
        popularity = np.asarray(binary.sum(axis=0)).ravel().astype(np.int64)
        n_train_users = int((np.diff(binary.indptr) > 0).sum())
        tail = long_tail(popularity, tail_rule, head_share, tail_fraction)
        if item_vectors == "features" and categories is None:
            raise RecbenchError("metrics.item_vectors=features: this data set has no item "
                                "category feature (metrics.item_feature); use "
                                "metrics.item_vectors=interactions or auto.")
        use_features = categories is not None and item_vectors != "interactions"
        raw = multi_hot(categories) if use_features else binary.T.tocsr()
        return cls(popularity=popularity, n_train_users=n_train_users, tail=tail,
                   vectors=normalise_rows(raw),
                   vectors_source="features" if use_features else "interactions")


def distinct_items(items: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(items, return_inverse=True)`` for item ids in ``[0, n_items)``, by a
    presence table instead of a sort (lists of a whole evaluation: 20x faster)."""
    present = np.zeros(n_items + 1, dtype=np.int64)
    present[items + 1] = 1
    rank = np.cumsum(present)  # rank[i + 1] - 1: item i's position among the distinct
    return np.flatnonzero(present[1:]), rank[items + 1] - 1


def long_tail(popularity: np.ndarray, rule: str, head_share: float = 0.8,
              tail_fraction: float = 0.1) -> np.ndarray:
    """``(n_items,) bool``: the long-tail items under ``rule`` (module docstring)."""
    pop = np.asarray(popularity, dtype=np.int64)
    if rule == "head_share":
        ordered = np.sort(pop)[::-1]
        total = ordered.sum()
        if total == 0:
            return np.ones(len(pop), dtype=bool)
        cut = int(np.searchsorted(np.cumsum(ordered), head_share * total - 1e-9 * total))
        boundary = ordered[min(cut, len(ordered) - 1)]
        return ~((pop >= boundary) & (pop > 0))
    trained = np.flatnonzero(pop > 0)
    tail = pop == 0
    if len(trained):
        order = trained[np.lexsort((trained, pop[trained]))]  # (pop, index) ascending
        tail[order[:max(int(len(trained) * tail_fraction), 1)]] = True
    return tail


def multi_hot(categories: list[list[str]]) -> sp.csr_matrix:
    """``(n_items, n_categories)`` binary matrix of the items' category lists."""
    vocabulary = {c: j for j, c in enumerate(sorted({c for cats in categories for c in cats}))}
    rows = np.repeat(np.arange(len(categories)), [len(set(c)) for c in categories])
    cols = np.array([vocabulary[c] for cats in categories for c in sorted(set(cats))],
                    dtype=np.int64)
    return sp.csr_matrix((np.ones(len(cols)), (rows, cols)),
                         shape=(len(categories), max(len(vocabulary), 1)))


def normalise_rows(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm (float64); zero rows stay zero."""
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)


def item_categories(item_features: pd.DataFrame | None, column: str) -> list[list[str]] | None:
    """Per item, the whitespace-separated tokens of feature ``column`` (RecBole's
    ``token_seq``, e.g. ml-100k's genres ``"Action Adventure"``); None if absent."""
    if item_features is None or column not in item_features:
        return None
    return [str(v).split() if isinstance(v, str) else [] for v in item_features[column]]
