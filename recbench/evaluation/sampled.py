"""Sampled ranking (``metrics.ranking=sampled``): each held-out item ranked against ``n``
items its user never interacted with, instead of against the whole catalogue.

Candidates. Per user, ``n`` items are drawn without replacement among the items it has no
interaction with in the split's data, whatever the part (train, valid, test, fold-in);
fewer when fewer are left: then all of them. ``uniform`` draws every such item alike; ``popularity`` draws in proportion to the
item's train popularity (distinct train users, the ``pop(i)`` of :mod:`.popularity`;
items no one trained on are never drawn), by Efraimidis & Spirakis' exponential race. The
draw depends on the split fingerprint, ``metrics.sampled.seed``, ``n`` and the sampler
only, never on the model, the run seed or ``metrics.chunk_size``: every model of a split is
ranked against the same items, so sampled metrics pair like full ones. Validation and test
share one draw per user.

Metrics. The rank of test item ``t`` of user ``u`` is ``r = 1 +`` the number of ``u``'s
candidates scored above ``t`` (equal scores: the lower item id first, the full ranker's
rule); the other test items of ``u`` take no part. A metric of one relevant item at rank
``r`` (:func:`item_values`: ``hit@K = recall@K = [r <= K]``, ``ndcg@K = [r <= K] /
log2(r + 1)``, ``mrr@K = map@K = [r <= K] / r``, ``precision@K = [r <= K] / K``,
``f1@K = [r <= K] * 2 / (K + 1)``, the full-ranking formulas with one relevant item) is
averaged over ``u``'s test items, then over users like every metric. With one test item per
user (leave-one-out) and ``n`` at least the user's candidate count this is exactly the
full-ranking metric; with several test items per user, hit@K is the share of them ranked
in the top K (= recall@K), not whether any is. Beyond-accuracy metrics describe top-K lists
of the catalogue and are not defined under sampling: a run refuses them
(:class:`recbench.tasks.topn.TopNRanking`).

Full ranking per item (:class:`FreeItems`): the same metric with every item the user never
interacted with as a candidate, i.e. sampled ranking with nothing left out (``n`` at least
every user's free items), computed without drawing or storing candidates: ``r = 1 +`` the
number of ``u``'s free items scored above ``t`` (or equal, with a lower id). It is what the
sampled metric approximates, and what Krichene & Rendle's correction estimates; on splits
with several test items per user it differs from the full-ranking (per-list) metric, which
scores one top-K list against all of them.

Memory: the candidates are ``(n_users, n) int32``; drawing takes ``2**22`` random keys at a
time; ranking compares ``2**22`` (test item, candidate) pairs at a time (full ranking per
item: ``2**22`` (test item, item) pairs, and a ``(B, n_items) bool`` mask per chunk).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from recbench.evaluation.registry import SampledRanking, parse_metric

#: random keys drawn at once (float64: 32 MB); fixed, so the draw never depends on a setting
#: that does not change results
_KEYS_AT_ONCE = 1 << 22
#: (test item, candidate) comparisons at once when ranking
_PAIRS_AT_ONCE = 1 << 22


@dataclass(frozen=True)
class Candidates:
    """The items each user's held-out items are ranked against under one protocol.

    Attributes:
        ranking: the protocol (``n``, sampler).
        items: ``(n_users, n) int32`` item ids, ascending, ``-1`` past ``n_drawn``.
        n_drawn: ``(n_users,) int64`` items drawn per user (``n``, or fewer when fewer could
            be drawn).
        n_free: ``(n_users,) int64`` items the user never interacted with: the ``N - 1``
            other candidates of each test item under full ranking (Krichene & Rendle's N).
    """

    ranking: SampledRanking
    items: np.ndarray
    n_drawn: np.ndarray
    n_free: np.ndarray


def interacted(split) -> sp.csr_matrix:
    """``(n_users, n_items)`` binary CSR of every interaction of the split's data, whatever
    its part (train, valid, test, fold-in, or train left out by ``split.train_fraction``):
    what no candidate may be."""
    total = split.data.to_csr()
    total.sort_indices()
    return total


def train_popularity(train: sp.csr_matrix) -> np.ndarray:
    """``(n_items,) float64`` distinct train users per item (``pop(i)``)."""
    return np.bincount(train.indices, minlength=train.shape[1]).astype(np.float64)


def _seed_words(seed: int, fingerprint: str) -> list[int]:
    return [int(seed), int(str(fingerprint)[:32] or "0", 16)]


def draw_candidates(seen: sp.csr_matrix, ranking: SampledRanking, seed: int,
                    fingerprint: str, popularity: np.ndarray | None = None) -> Candidates:
    """Draw ``ranking.n`` candidates per user (see the module docstring).

    Args:
        seen: ``(n_users, n_items)`` binary CSR of every interaction (:func:`interacted`).
        seed: ``metrics.sampled.seed``; fingerprint: the split's sha256 (hex): together
            they seed the draw (blocks of users, each its own generator).
        popularity: ``(n_items,)`` train popularity; required by the popularity sampler.
    """
    n_users, n_items = seen.shape
    n = min(ranking.n, n_items)
    if ranking.sampler == "popularity":
        if popularity is None:
            raise ValueError("the popularity sampler needs the train popularity")
        weights = np.asarray(popularity, dtype=np.float64)
    else:
        weights = np.ones(n_items)
    seen = sp.csr_matrix(seen)
    counts = np.diff(seen.indptr)
    items = np.full((n_users, n), -1, dtype=np.int32)
    n_drawn = np.zeros(n_users, dtype=np.int64)
    rows = max(1, _KEYS_AT_ONCE // max(n_items, 1))
    with np.errstate(divide="ignore"):
        inverse = np.where(weights > 0, 1.0 / weights, np.inf)
    words = _seed_words(seed, fingerprint)
    for block, start in enumerate(range(0, n_users, rows)):
        stop = min(start + rows, n_users)
        rng = np.random.default_rng([*words, block])
        # exponential race: the n smallest of -log(U) / w are a draw without replacement
        # with probability proportional to w (uniform: all w = 1)
        keys = -np.log1p(-rng.random((stop - start, n_items))) * inverse
        sub = seen[start:stop]
        keys[np.repeat(np.arange(stop - start), np.diff(sub.indptr)), sub.indices] = np.inf
        if n < n_items:
            chosen = np.argpartition(keys, n - 1, axis=1)[:, :n]
        else:
            chosen = np.broadcast_to(np.arange(n_items), keys.shape).copy()
        ok = np.isfinite(np.take_along_axis(keys, chosen, axis=1))
        chosen = np.where(ok, chosen, n_items)  # not drawable: sorted last, then -1
        chosen.sort(axis=1)
        items[start:stop] = np.where(chosen < n_items, chosen, -1)
        n_drawn[start:stop] = ok.sum(axis=1)
    return Candidates(ranking, items, n_drawn, (n_items - counts).astype(np.int64))


@dataclass(frozen=True)
class PerItemFull:
    """The protocol of :class:`FreeItems` (what tables and :class:`SampledRanks` name it)."""

    label: str = "full (per item)"
    prefix: str = "full_item"  # never a sampled prefix (``s<n><letter>``): no metric name


@dataclass(frozen=True)
class FreeItems:
    """Every item each user never interacted with, as the candidates of its held-out items
    (full ranking per item, module docstring); :func:`sampled_ranks` takes it in place of
    :class:`Candidates` and never materialises the ``(n_users, n_items)`` candidate matrix.

    Attributes:
        interacted: ``(n_users, n_items)`` binary CSR of every interaction (:func:`interacted`):
            the items that are not candidates.
        n_free: ``(n_users,) int64`` free items per user (Krichene & Rendle's ``N - 1``).
    """

    interacted: sp.csr_matrix
    n_free: np.ndarray
    ranking: PerItemFull = PerItemFull()

    @classmethod
    def of(cls, seen: sp.csr_matrix) -> "FreeItems":
        """From ``seen``, the ``(n_users, n_items)`` binary CSR of every interaction."""
        seen = sp.csr_matrix(seen)
        seen.sort_indices()
        return cls(seen, (seen.shape[1] - np.diff(seen.indptr)).astype(np.int64))

    @property
    def n_drawn(self) -> np.ndarray:
        """Every free item is a candidate."""
        return self.n_free


def free_items(split) -> FreeItems:
    """:class:`FreeItems` of a :class:`recbench.splits.base.Split`."""
    return FreeItems.of(interacted(split))


def split_candidates(split, ranking: SampledRanking, seed: int) -> Candidates:
    """:func:`draw_candidates` for a :class:`recbench.splits.base.Split`."""
    # the full train and the fraction-free fingerprint: every split.train_fraction of one
    # split meets the same candidates (results pair along a data-fraction curve)
    popularity = train_popularity(split.observed_train) if ranking.sampler == "popularity" \
        else None
    return draw_candidates(interacted(split), ranking, seed,
                           split.fingerprint.get("eval_sha256", split.fingerprint["sha256"]),
                           popularity)


@dataclass
class SampledRanks:
    """Sampled ranks of the relevant items of one chunk of users.

    Attributes:
        ranking: the protocol of the candidates.
        rows: ``(P,) int64`` row in the chunk of each relevant item.
        ranks: ``(P,) int64`` its rank among itself and its user's candidates, from 1.
        n_rel: ``(B,)`` relevant items per row; n_drawn, n_free: ``(B,) int64`` the rows'
            :class:`Candidates` counts.
    """

    ranking: SampledRanking
    rows: torch.Tensor
    ranks: torch.Tensor
    n_rel: torch.Tensor
    n_drawn: torch.Tensor
    n_free: torch.Tensor


def sampled_ranks(scores: torch.Tensor, users: np.ndarray, rows: torch.Tensor,
                  items: torch.Tensor, candidates: Candidates, n_rel: torch.Tensor) -> SampledRanks:
    """Rank each relevant item against its user's candidates.

    Args:
        scores: ``(B, n_items) float32`` scores of the chunk's users (masked items at
            ``-inf``; candidates are never masked).
        users: ``(B,)`` the chunk's user indices (rows of ``candidates``).
        rows, items: ``(P,) int64`` (row in chunk, item) of every relevant item.
        candidates: drawn (:class:`Candidates`) or every free item (:class:`FreeItems`).
        n_rel: ``(B,)`` relevant items per row.

    Ranks are computed on the scores' device (a GPU); only the ``(P,)`` ranks leave it.
    """
    if isinstance(candidates, FreeItems):
        ranks = free_item_ranks(scores, users, rows, items, candidates.interacted)
        n_free = torch.from_numpy(candidates.n_free[users])
        return SampledRanks(candidates.ranking, rows, ranks, n_rel, n_free, n_free)
    device = scores.device
    cand = torch.from_numpy(candidates.items[users].astype(np.int64)).to(device)  # (B, n)
    drawn = cand >= 0
    cand = cand.clamp(min=0)
    cand_scores = scores.gather(1, cand)
    on_device = rows.to(device), items.to(device)
    mine = scores[on_device]
    if torch.isnan(mine).any() or torch.isnan(cand_scores[drawn]).any():
        raise FloatingPointError("model produced NaN scores")
    ranks = torch.empty(len(rows), dtype=torch.int64, device=device)
    step = max(1, _PAIRS_AT_ONCE // max(cand.shape[1], 1))
    for start in range(0, len(rows), step):
        r, t = (x[start:start + step] for x in on_device)
        s, c, cs = mine[start:start + step], cand[r], cand_scores[r]
        above = (cs > s[:, None]) | ((cs == s[:, None]) & (c < t[:, None]))
        ranks[start:start + step] = 1 + (above & drawn[r]).sum(1)
    return SampledRanks(candidates.ranking, rows, ranks.cpu(), n_rel,
                        torch.from_numpy(candidates.n_drawn[users]),
                        torch.from_numpy(candidates.n_free[users]))


def free_item_ranks(scores: torch.Tensor, users: np.ndarray, rows: torch.Tensor,
                    items: torch.Tensor, seen: sp.csr_matrix) -> torch.Tensor:
    """``(P,) int64`` rank of each relevant item among itself and every item its user never
    interacted with: ``1 +`` the number of those scored above it, or equal with a lower id
    (:func:`sampled_ranks`' rule with every free item drawn).

    Args:
        scores, rows, items: as :func:`sampled_ranks`; users: ``(B,)`` the chunk's users.
        seen: ``(n_users, n_items)`` binary CSR of every interaction (not candidates).
    """
    n_items, device = scores.shape[1], scores.device
    sub = seen[users]
    free = torch.ones(scores.shape, dtype=torch.bool, device=device)  # (B, n_items): a chunk
    free[torch.from_numpy(np.repeat(np.arange(len(users)), np.diff(sub.indptr))).to(device),
         torch.from_numpy(sub.indices.astype(np.int64)).to(device)] = False
    on_device = rows.to(device), items.to(device)
    mine = scores[on_device]
    if torch.isnan(mine).any() or (torch.isnan(scores) & free).any():
        raise FloatingPointError("model produced NaN scores")
    ids = torch.arange(n_items, device=device)
    ranks = torch.empty(len(rows), dtype=torch.int64, device=device)
    step = max(1, _PAIRS_AT_ONCE // max(n_items, 1))
    for start in range(0, len(rows), step):  # blocks of test items: (step, n_items) pairs
        r, t = (x[start:start + step] for x in on_device)
        s, cs = mine[start:start + step], scores[r]
        above = (cs > s[:, None]) | ((cs == s[:, None]) & (ids < t[:, None]))
        ranks[start:start + step] = 1 + (above & free[r]).sum(1)
    return ranks.cpu()


def item_values(ranks: torch.Tensor, name: str) -> torch.Tensor:
    """``(P,) float64`` value of accuracy metric ``name`` (``"ndcg@10"``) for one relevant
    item at each rank of ``ranks`` (from 1): the full-ranking formula with one relevant item
    (:mod:`.metrics`)."""
    metric, k = parse_metric(name)
    r = ranks.to(torch.float64)
    hit = (ranks <= k).to(torch.float64)
    if metric in ("hit", "recall"):
        return hit
    if metric == "precision":
        return hit / k
    if metric == "ndcg":
        return hit / torch.log2(r + 1.0)
    if metric in ("mrr", "map"):
        return hit / r
    if metric == "f1":
        return hit * (2.0 / (k + 1))
    raise ValueError(f"{name} is not an accuracy metric")


def user_means(ranked: SampledRanks, values: torch.Tensor) -> torch.Tensor:
    """``(B,) float64`` mean over each row's relevant items of their ``(P,)`` values."""
    total = torch.zeros(len(ranked.n_rel), dtype=torch.float64)
    total.index_add_(0, ranked.rows, values.to(torch.float64))
    return total / ranked.n_rel.to(torch.float64)


def sampled_metrics(ranked: SampledRanks, names: list[str]) -> dict[str, torch.Tensor]:
    """``{name: (B,) float64}`` per-user sampled values of the plain accuracy ``names``."""
    return {name: user_means(ranked, item_values(ranked.ranks, name)) for name in names}
