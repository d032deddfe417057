"""Chunked full ranking: score a chunk of users, mask seen items, take the top K (and,
for sampled metrics, rank each relevant item against its user's sampled candidates from
the same scores: :mod:`.sampled`).

Memory is bounded by ``chunk_size * n_items`` (a few dense tensors per chunk); the full
``n_users x n_items`` score matrix is never materialised.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from recbench.evaluation.sampled import Candidates, SampledRanks, sampled_ranks

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


def _exact_topk(scores: torch.Tensor, masked: torch.Tensor, k: int) -> torch.Tensor:
    """Top-``k`` by one int64 key per item: the float's order bits, then the lower item id;
    masked items get the smallest key (below a real ``-inf``). Several passes over
    ``(B, n_items) int64``: used only for rows the float path cannot settle."""
    n_items = scores.shape[1]
    s = scores.masked_fill(masked, float("-inf")) + 0.0  # -0.0 -> 0.0
    bits = s.view(torch.int32)
    ordered = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # int32 with the same order as the floats
    tiebreak = (n_items - 1) - torch.arange(n_items, dtype=torch.int64, device=scores.device)
    key = ((ordered.to(torch.int64) << 32) | tiebreak).masked_fill(masked, torch.iinfo(torch.int64).min)
    return key.topk(k, dim=1, sorted=True).indices


def _float_topk(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` with one float32 ``topk`` of ``k + 1``; ties inside the list are ordered
    by lower item id. Returns ``(items, settled)``: ``settled`` is False for rows where the
    ``k``-th and ``k+1``-th scores tie (which tied item enters is then undecided), where the
    list reaches ``-inf`` (masked items and real ``-inf`` are not told apart) or NaN."""
    n_items = scores.shape[1]
    values, items = _top_values(scores, min(k + 1, n_items))
    settled = values[:, k - 1] > float("-inf")
    if k < n_items:
        settled &= values[:, k - 1] > values[:, k]
    values, items = values[:, :k], items[:, :k]
    by_id = items.argsort(dim=1)  # lower id first, then a stable sort by score
    items, values = items.gather(1, by_id), values.gather(1, by_id)
    order = values.sort(dim=1, descending=True, stable=True).indices
    return items.gather(1, order), settled


#: items per strided group of :func:`_top_values` (one group's maximum stands for them)
GROUP = 16


def _top_values(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``scores.topk(k, sorted=True)`` (values, items), reading most of the row once.

    Items ``j, j + g, j + 2g, ...`` (``g = n_items // GROUP``) form group ``j``; the top
    ``k`` values of a row all lie in its ``k`` groups of highest maximum (a group holding
    none of them has a maximum no larger than the ``k``-th value; with ties the values are
    still exact), so one elementwise max over ``GROUP`` contiguous slices and a ``topk``
    of ``k x GROUP`` candidates replace a ``topk`` over the whole row (2x less CPU on 16k
    items, 2.8x on 41k; no gain below ~8k items, which keep the plain ``topk``). Which of several items tied at the ``k``-th value is returned can differ
    from a plain ``topk``; :func:`_float_topk` sends such rows to the exact path anyway.
    """
    rows, n_items = scores.shape
    groups = n_items // GROUP
    if groups < 64 * k:  # below ~16k items (K = 10) a plain topk is as fast
        return scores.topk(k, dim=1, sorted=True)
    whole = groups * GROUP
    best = scores[:, :whole].view(rows, GROUP, groups).amax(dim=1)  # (B, groups)
    top = best.topk(k, dim=1, sorted=False).indices  # (B, k)
    offsets = groups * torch.arange(GROUP, device=scores.device)
    candidates = (top[:, :, None] + offsets).view(rows, -1)  # (B, k * GROUP)
    if whole < n_items:  # the last n_items % GROUP items join every row's candidates
        tail = torch.arange(whole, n_items, device=scores.device).expand(rows, -1)
        candidates = torch.cat([candidates, tail], dim=1)
    values, picked = scores.gather(1, candidates).topk(k, dim=1, sorted=True)
    return values, candidates.gather(1, picked)


def _topk(scores: torch.Tensor, k: int, masked_rows) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`topk_items` on scores whose masked items already hold ``-inf``;
    ``masked_rows(rows)`` gives the ``(len(rows), n_items) bool`` mask of unsettled rows."""
    items, settled = _float_topk(scores, k)
    valid = torch.ones_like(items, dtype=torch.bool)
    rows = torch.nonzero(~settled).flatten()
    if len(rows):
        masked = masked_rows(rows)
        exact = _exact_topk(scores[rows], masked, k)
        items[rows] = exact
        valid[rows] = ~masked.gather(1, exact)
    return items, valid


def topk_items(scores: torch.Tensor, masked: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` items per row, highest score first, ties broken by lower item id.

    Args:
        scores: ``(B, n_items) float32``.
        masked: ``(B, n_items) bool``; masked items never enter the list.
        k: list length; capped at ``n_items``.

    Returns:
        ``(items, valid)``: ``(B, k') int64`` item ids and ``(B, k') bool``, False where the
        list ran out of unmasked candidates.
    """
    k = min(k, scores.shape[1])
    s = scores.to(torch.float32).masked_fill(masked, float("-inf"))
    return _topk(s, k, lambda rows: masked[rows])


@dataclass
class RankedChunk:
    """The top-K lists of one chunk of users.

    Attributes:
        users: ``(B,) int64`` user indices.
        items: ``(B, K) int64`` ranked items; valid: ``(B, K) bool`` (False past the end
            of a list that ran out of candidates); hits: ``(B, K) bool`` relevant positions.
        n_rel: ``(B,)`` number of relevant items of each user.
        sampled: one :class:`~.sampled.SampledRanks` per candidate set asked for (sampled
            ranking), in the order asked.
    """

    users: np.ndarray
    items: torch.Tensor
    valid: torch.Tensor
    hits: torch.Tensor
    n_rel: torch.Tensor
    sampled: list[SampledRanks] = field(default_factory=list)


def seen_matrix(shape: tuple[int, int], exclude: Sequence[sp.csr_matrix]) -> sp.csr_matrix:
    """The items masked per user: the sum of the ``exclude`` matrices (one of them as it
    is when the others are empty)."""
    nonempty = [m for m in exclude if m.nnz]
    if not nonempty:
        return sp.csr_matrix(shape, dtype=np.float32)
    seen = nonempty[0].tocsr()
    for matrix in nonempty[1:]:
        seen = seen + matrix
    return seen


def accepts_out(score_fn: Callable) -> bool:
    """Whether ``score_fn`` takes ``out=``: a ``(B, n_items) float32`` buffer it may write
    its scores into and return (a hint: it may also return a new tensor)."""
    function = getattr(score_fn, "__func__", None)
    # a method (asked per chunk of a model's scores): its class's function, cached; others
    # (lambdas, closures, partials) are not kept, nor the models they may hold
    return _takes_out(function) if function is not None else _takes_out.__wrapped__(score_fn)


@functools.lru_cache(maxsize=64)
def _takes_out(function: Callable) -> bool:
    # inspect.signature takes 50 us (4% of an ml-100k evaluation when asked per chunk)
    try:
        return "out" in inspect.signature(function).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


@dataclass
class _Rows:
    """CSR matrices (parts: train, valid, ...) restricted to the evaluated users, read a
    chunk of rows at a time: ``indptr`` is ``(P, n_users + 1)``, absolute offsets into
    all parts' ``indices`` (ascending within a row of a part)."""

    indptr: np.ndarray
    indices: np.ndarray

    @classmethod
    def of(cls, matrices: Sequence[sp.csr_matrix], users: np.ndarray) -> "_Rows":
        ptrs, indices, offset = [], [], 0
        for matrix in matrices:
            matrix = matrix if matrix.format == "csr" else matrix.tocsr()
            every_row = len(users) == matrix.shape[0]  # users are ascending and distinct
            sub = matrix if every_row else matrix[users]
            if not sub.has_sorted_indices:
                sub = sub.sorted_indices()
            ptrs.append(sub.indptr.astype(np.int64) + offset)
            indices.append(sub.indices.astype(np.int64))
            offset += sub.indptr[-1]
        if not ptrs:
            ptrs = [np.zeros(len(users) + 1, np.int64)]
        return cls(np.stack(ptrs), np.concatenate(indices) if indices else np.zeros(0, np.int64))

    def chunk(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """``(indptr (P, B + 1), indices)`` of rows ``start:stop`` (offsets into all
        the indices)."""
        return self.indptr[:, start:stop + 1], self.indices

    def positions(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(row-in-chunk, item) index pairs of rows ``start:stop``, part by part."""
        rows, items = [], []
        for ptr in self.indptr[:, start:stop + 1]:
            rows.append(np.repeat(np.arange(stop - start), np.diff(ptr)))
            items.append(self.indices[ptr[0]:ptr[-1]])
        return torch.from_numpy(np.concatenate(rows)), torch.from_numpy(np.concatenate(items))


def _chunk_scores(score_fn: ScoreFn, users: np.ndarray, n_items: int,
                  buffer: torch.Tensor | None) -> torch.Tensor:
    """``(B, n_items) float32`` scores of ``users`` that may be masked in place: written
    into ``buffer[:B]`` when given, else the model's own output (copied when it is a view
    of a tensor the model keeps)."""
    with torch.no_grad():
        users_t = torch.from_numpy(users)
        out = None if buffer is None else buffer[:len(users)]
        scores = (score_fn(users_t) if out is None else score_fn(users_t, out=out)).detach()
    if scores.shape != (len(users), n_items):
        raise ValueError(f"score_fn returned shape {tuple(scores.shape)}, "
                         f"expected {(len(users), n_items)}")
    scores = scores.to(dtype=torch.float32)
    if out is not None and scores.data_ptr() == out.data_ptr() and scores.is_contiguous():
        return scores
    if scores._base is not None or not scores.is_contiguous():
        scores = scores.contiguous().clone()  # a view of the model's own tensor
    return scores


def ranked_chunks(score_fn: ScoreFn, truth: sp.csr_matrix,
                  seen: sp.csr_matrix | Sequence[sp.csr_matrix], k: int,
                  chunk_size: int = 1024, candidates: Sequence[Candidates] = (),
                  lists_end_at_minus_inf: bool = False) -> Iterator[RankedChunk]:
    """Rank every user with at least one item in ``truth``, ``chunk_size`` users at a time.

    Args:
        score_fn: ``users (B,) int64 -> (B, n_items)`` float scores; when it takes
            ``out=`` (:func:`accepts_out`), the scores are written into one buffer reused
            for every chunk.
        truth: ``(n_users, n_items)`` binary relevant items (valid or test part).
        seen: ``(n_users, n_items)`` items masked per user: one matrix
            (:func:`seen_matrix`) or the matrices it would sum (train, valid, ...).
        k: list length (capped at ``n_items``); 0: no top-K list (sampled metrics only).
        candidates: sampled candidate sets (:func:`recbench.evaluation.sampled.draw_candidates`);
            each relevant item is also ranked against its user's candidates of each.
        lists_end_at_minus_inf: items scored ``-inf`` are not in the list (a submitted
            ranking shorter than ``k`` ends there, as trec_eval scores it); otherwise they
            are ranked last like any score.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    n_items = truth.shape[1]
    k = min(k, n_items)
    n_rel_all = np.diff(truth.indptr)
    users = np.flatnonzero(n_rel_all > 0).astype(np.int64)
    parts = [seen] if sp.issparse(seen) else [m for m in seen if m.nnz]
    truth_rows, seen_rows = _Rows.of([truth], users), _Rows.of(parts, users)
    shape = (min(chunk_size, len(users)), n_items)
    writes_into = accepts_out(score_fn)
    buffer = _take_spare(score_fn, shape) if writes_into else None
    try:
        for start in range(0, len(users), chunk_size):
            stop = min(start + chunk_size, len(users))
            chunk = users[start:stop]
            # scores stay on the model's device (a GPU): masking and top-K run there and
            # only the (B, K) lists leave it, not B x n_items floats per chunk
            scores = _chunk_scores(score_fn, chunk, n_items, buffer)
            if writes_into and len(chunk) == shape[0]:
                buffer = scores  # the model wrote into it, or it is the buffer from now on
            n_rel = torch.from_numpy(n_rel_all[chunk])
            if k > 0 and scores.device.type == "cpu" and CPU_KERNEL:
                # one compiled pass per row: mask, top-K, hits (imported here: numba and
                # the kernel load in about 0.5 s, which commands ranking nothing skip)
                from recbench.evaluation.topk_cpu import rank_chunk
                items, valid, hits, nan = (torch.from_numpy(a) for a in rank_chunk(
                    scores.numpy(), *seen_rows.chunk(start, stop),
                    *truth_rows.chunk(start, stop), k))
                if nan.any():
                    raise FloatingPointError("model produced NaN scores")
                if lists_end_at_minus_inf:
                    valid &= scores.gather(1, items) > float("-inf")
                    hits &= valid
            else:
                items, valid, hits = _rank_on_device(scores, seen_rows, truth_rows, start, stop,
                                                     k, lists_end_at_minus_inf)
            ranked = []
            if candidates:  # each test item among its candidates, on the scores' device
                t_rows, t_items = truth_rows.positions(start, stop)
                ranked = [sampled_ranks(scores, chunk, t_rows, t_items, c, n_rel)
                          for c in candidates]
            yield RankedChunk(chunk, items, valid, hits, n_rel, ranked)
    finally:
        if buffer is not None:
            _keep_spare(score_fn, shape, buffer)


#: CPU scores are ranked by the compiled kernel (topk_cpu); False: by the torch ops a GPU
#: runs (tests run that path on the CPU with it)
CPU_KERNEL = True

#: the score buffer of the last evaluation, its shape and (weakly) the model that scored
#: into it: that model's next evaluation (each validation of a training run, the test)
#: writes into the same pages instead of faulting in fresh ones. Another model never gets
#: it: it may live on another device
_SPARE: dict[str, object] = {}


def _owner(score_fn: Callable):
    """The object a scoring function belongs to: a bound method's model, else itself."""
    return getattr(score_fn, "__self__", score_fn)


def _take_spare(score_fn: Callable, shape: tuple[int, int]) -> torch.Tensor | None:
    """The kept buffer when ``score_fn``'s model filled it in an evaluation of ``shape``."""
    owner = _SPARE.get("owner")
    if _SPARE.get("shape") == shape and owner is not None and owner() is _owner(score_fn):
        return _SPARE.pop("buffer", None)
    return None


def _keep_spare(score_fn: Callable, shape: tuple[int, int], buffer: torch.Tensor) -> None:
    _SPARE.clear()  # one buffer kept: the last evaluation's
    try:
        _SPARE.update(owner=weakref.ref(_owner(score_fn)), shape=shape, buffer=buffer)
    except TypeError:  # an owner without weak references: nothing kept
        _SPARE.clear()


def _rank_on_device(scores: torch.Tensor, seen_rows: _Rows, truth_rows: _Rows, start: int,
                    stop: int, k: int, lists_end_at_minus_inf: bool
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mask, top-K and hits with torch ops on the scores' device (a GPU; the CPU when
    ``k`` is 0, where only the masking matters): ``(items, valid, hits)`` on the CPU."""
    n_items, device = scores.shape[1], scores.device
    rows, items = (t.to(device) for t in seen_rows.positions(start, stop))
    scores[rows, items] = float("-inf")  # masked in place: no dense mask

    def masked_rows(picked: torch.Tensor) -> torch.Tensor:
        where = torch.full((stop - start,), -1, dtype=torch.int64, device=device)
        where[picked] = torch.arange(len(picked), device=device)
        mine = where[rows] >= 0
        mask = torch.zeros(len(picked), n_items, dtype=torch.bool, device=device)
        mask[where[rows[mine]], items[mine]] = True
        return mask

    if k == 0:
        empty = torch.zeros(stop - start, 0, dtype=torch.int64)
        return empty, empty.bool(), empty.bool()
    items, valid = _topk(scores, k, masked_rows)
    listed = scores.gather(1, items)
    if torch.isnan(listed).any():  # NaN sorts above every number
        raise FloatingPointError("model produced NaN scores")
    if lists_end_at_minus_inf:
        valid &= listed > float("-inf")
    items, valid = items.cpu(), valid.cpu()  # (B, K): what leaves the device
    t_rows, t_items = truth_rows.positions(start, stop)
    keys = t_rows * n_items + t_items  # ascending: CSR rows with sorted indices
    listed = torch.arange(stop - start)[:, None] * n_items + items
    found = torch.searchsorted(keys, listed).clamp(max=len(keys) - 1)
    return items, valid, (keys[found] == listed) & valid


def evaluate(score_fn: ScoreFn, truth: sp.csr_matrix, exclude: Sequence[sp.csr_matrix],
             metrics: Sequence[str], chunk_size: int = 1024) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Full-ranking accuracy of every user with at least one item in ``truth`` (the
    whole metric suite, beyond accuracy included: :func:`recbench.evaluation.suite.evaluate_suite`).

    Args:
        score_fn: ``users (B,) int64 -> (B, n_items)`` float scores.
        truth: ``(n_users, n_items)`` binary relevant items (valid or test part).
        exclude: matrices of items to mask per user (train; train and valid when testing).
        metrics: accuracy metric names like ``"ndcg@10"``.
        chunk_size: users scored at once; bounds memory.

    Returns:
        ``(users, values)``: evaluated user indices ``(n,) int64`` and
        ``{metric: (n,) float64}`` per-user values.
    """
    from recbench.evaluation.suite import evaluate_suite  # suite builds on this module

    result = evaluate_suite(score_fn, truth, exclude, metrics, chunk_size)
    return result.users, result.per_user
