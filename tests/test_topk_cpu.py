"""The compiled CPU ranking kernel (recbench/evaluation/topk_cpu.py) against the exact
torch ranking (one int64 key per item), and the ranker's reused score buffer."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbench.evaluation import topk_cpu
from recbench.evaluation.ranker import _SPARE, _exact_topk, _rank_on_device, _Rows, ranked_chunks
from recbench.evaluation.openmp import torch_parallel
from recbench.evaluation.topk_cpu import rank_chunk


def _parts(matrices: list[sp.csr_matrix]) -> tuple[np.ndarray, np.ndarray]:
    rows = _Rows.of(matrices, np.arange(matrices[0].shape[0]))
    return rows.indptr, rows.indices


def _case(rng, rows: int, n_items: int, distinct: int | None):
    """Scores with ties (``distinct`` values), real -inf, -0.0; masks in up to 3 parts."""
    if distinct is None:
        scores = rng.standard_normal((rows, n_items)).astype(np.float32)
    else:
        scores = rng.integers(-distinct, distinct + 1, (rows, n_items)).astype(np.float32)
        scores[scores == 0] = rng.choice([0.0, -0.0], size=int((scores == 0).sum()))
    scores[rng.random((rows, n_items)) < 0.03] = -np.inf
    density = rng.random() ** 2  # some rows keep few unmasked items
    parts = [sp.csr_matrix(rng.random((rows, n_items)) < density / 3) for _ in range(rng.integers(1, 4))]
    truth = sp.csr_matrix(rng.random((rows, n_items)) < 0.05)
    return scores, parts, truth


@pytest.fixture(params=["torch threads", "own threads"])
def threads(request, monkeypatch):
    """The kernel's rows run on torch's OpenMP threads, or on the module's own pool."""
    monkeypatch.setattr(topk_cpu, "ON_TORCH_THREADS", request.param == "torch threads")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)  # several threads, even on 1 core
    return request.param


def test_torch_openmp_runtime_is_found_when_torch_runs_on_openmp():
    on_openmp = "parallel backend: OpenMP" in torch.__config__.parallel_info()
    assert (torch_parallel() is not None) == on_openmp


@pytest.mark.parametrize("seed", range(6))
def test_the_kernel_equals_the_exact_int64_key_ranking(seed, threads):
    """Lists, their ends (valid), hits and the in-place masking equal the exact torch
    ranking, on rows narrow and wide (every group size and a tail of n % group items),
    ties everywhere, real -inf scores, 0.0 tied with -0.0 and masks in several parts;
    chunks of 64 rows and more are split over threads (blocks of 16 rows, and a part
    of the last)."""
    rng = np.random.default_rng(seed)
    for _ in range(25):
        n_items = int(rng.choice([1, 2, 7, 65, 300, 1700, 3001, 40_013]))
        rows = int(rng.integers(1, 300 if n_items < 10_000 else 150))
        k = int(rng.integers(1, min(n_items, 50) + 1))
        scores, parts, truth = _case(rng, rows, n_items, rng.choice([None, 1, 3, 40]))
        masked = sum(p.toarray() for p in parts) > 0
        expected = _exact_topk(torch.from_numpy(scores), torch.from_numpy(masked), k).numpy()
        expected_valid = ~np.take_along_axis(masked, expected, 1)
        got = scores.copy()
        items, valid, hits, nan = rank_chunk(got, *_parts(parts), *_parts([truth]), k)
        assert not nan.any()
        np.testing.assert_array_equal(valid, expected_valid)
        np.testing.assert_array_equal(np.where(valid, items, -1), np.where(valid, expected, -1))
        np.testing.assert_array_equal(hits, np.take_along_axis(truth.toarray(), items, 1) & valid)
        assert (got[masked] == -np.inf).all() and (got[~masked] == scores[~masked]).all()


def test_the_group_size_shrinks_on_narrow_rows():
    assert topk_cpu.group_size(40_981) == topk_cpu.GROUP
    assert topk_cpu.group_size(1_682) < topk_cpu.GROUP
    assert topk_cpu.group_size(1) == 1
    for n in (5, 300, 3_043, 40_981):
        assert n // topk_cpu.group_size(n) >= min(topk_cpu.MIN_GROUPS, n)


def test_unmasked_nan_is_reported_and_masked_nan_is_not():
    scores = np.zeros((3, 50), np.float32)
    scores[0, 7] = np.nan  # masked below
    scores[1, 49] = np.nan  # unmasked, in the tail past the last whole group
    scores[2, 3] = np.nan  # unmasked
    mask = sp.csr_matrix(([1.0], ([0], [7])), shape=(3, 50))
    truth = sp.csr_matrix((3, 50))
    nan = rank_chunk(scores, *_parts([mask]), *_parts([truth]), 5)[3]
    assert nan.tolist() == [False, True, True]


def _data(seed: int = 0, n_users: int = 300, n_items: int = 500):
    rng = np.random.default_rng(seed)
    table = torch.from_numpy(rng.integers(0, 5, (n_users, n_items)).astype(np.float32))
    train = sp.csr_matrix(rng.random((n_users, n_items)) < 0.1, dtype=np.float32)
    valid = sp.csr_matrix(rng.random((n_users, n_items)) < 0.02, dtype=np.float32)
    truth = sp.csr_matrix((rng.random((n_users, n_items)) < 0.03) & (train.toarray() == 0),
                          dtype=np.float32)
    return table, train, valid, truth


@pytest.mark.parametrize("lists_end_at_minus_inf", [False, True])
def test_cpu_chunks_equal_the_torch_path(lists_end_at_minus_inf):
    """ranked_chunks on the CPU (the kernel) gives the lists, ends and hits of the torch
    path the GPU takes, with masks given as parts (train, valid) or as one matrix."""
    table, train, valid, truth = _data()
    table[table == 0] = float("-inf")  # short lists end there when asked
    users = np.flatnonzero(truth.getnnz(axis=1))
    for seen in ([train, valid], train + valid):
        chunks = list(ranked_chunks(lambda u: table[u].clone(), truth, seen, 20, chunk_size=64,
                                    lists_end_at_minus_inf=lists_end_at_minus_inf))
        rows = _Rows.of([train, valid], users)
        truth_rows = _Rows.of([truth], users)
        for start, chunk in zip(range(0, len(users), 64), chunks):
            stop = start + len(chunk.users)
            items, ok, hits = _rank_on_device(table[chunk.users].clone(), rows, truth_rows, start,
                                              stop, 20, lists_end_at_minus_inf)
            torch.testing.assert_close(chunk.valid, ok)
            torch.testing.assert_close(chunk.items[ok], items[ok])
            torch.testing.assert_close(chunk.hits, hits)


def test_a_model_taking_out_writes_every_chunk_into_one_buffer_kept_for_the_next_evaluation():
    table, train, valid, truth = _data()
    buffers = []

    def into(users, out=None):
        buffers.append(None if out is None else out.data_ptr())
        rows = table[users]
        return rows.clone() if out is None else out.copy_(rows)

    def fresh(users):
        return table[users].clone()

    _SPARE.clear()
    first = list(ranked_chunks(into, truth, [train, valid], 10, chunk_size=100))
    second = list(ranked_chunks(into, truth, [train, valid], 10, chunk_size=100))
    plain = list(ranked_chunks(fresh, truth, [train, valid], 10, chunk_size=100))
    # the first chunk allocates; every later chunk, and the next evaluation, reuse it
    assert buffers[0] is None and len(set(buffers[1:])) == 1
    assert len(buffers) == 2 * len(first)
    for a, b, c in zip(first, second, plain):
        torch.testing.assert_close(a.items, c.items)
        torch.testing.assert_close(b.items, c.items)
        torch.testing.assert_close(a.hits, c.hits)
    # another model (maybe on another device) never gets the kept buffer
    given = []
    list(ranked_chunks(lambda users, out=None: given.append(out) or fresh(users), truth,
                       [train, valid], 10, chunk_size=100))
    assert given[0] is None
    # a hint only: a model that returns new tensors instead is ranked the same
    ignored = list(ranked_chunks(lambda users, out=None: fresh(users), truth, [train, valid], 10,
                                 chunk_size=100))
    for a, c in zip(ignored, plain):
        torch.testing.assert_close(a.items, c.items)


def test_accepts_out_reads_the_signature_of_functions_methods_and_callables():
    from recbench.evaluation.ranker import accepts_out

    class Model:
        def score(self, users, out=None):
            return out

        def plain(self, users):
            return users

    class Unhashable:
        __hash__ = None

        def __call__(self, users, out=None):
            return out

    a, b = Model(), Model()
    assert accepts_out(a.score) and accepts_out(b.score)  # bound methods: one cached answer
    assert not accepts_out(a.plain) and not accepts_out(lambda users: users)
    assert accepts_out(Unhashable()) and not accepts_out(len)  # a builtin: no signature
    # a closure is asked afresh, not kept: the model it holds can be freed
    import gc
    import weakref

    held = Model()
    gone = weakref.ref(held)
    assert accepts_out(lambda users, out=None, model=held: model.score(users, out))
    del held
    gc.collect()
    assert gone() is None
