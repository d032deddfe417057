"""ItemKNN's cosine / jaccard / asymmetric cosine against brute-force loops on a tiny matrix."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbench.config import build, check_buildable, compose
from recbench.errors import RecbenchError
from recbench.models.itemknn import ItemKNN


@pytest.fixture
def tiny():
    """7 x 9 binary: item 4 and user 3 are empty; items 0/1 are identical and item 5 a
    duplicate of item 7 (tied similarities)."""
    rng = np.random.default_rng(11)
    x = (rng.random((7, 9)) < 0.45).astype(np.float32)
    x[3, :] = 0
    x[:, 4] = 0
    x[0, [0, 2, 5]] = 1
    x[:, 1] = x[:, 0]
    x[:, 7] = x[:, 5]
    assert not x[:, 4].any() and (x[:, 0] == x[:, 1]).all() and (x[:, 5] == x[:, 7]).all()
    return sp.csr_matrix(x)


def brute_force_similarity(x, k, shrink, similarity, asym_alpha):
    """Column i (target item) keeps its k best positive sim(j, i), j != i, ties by lower j.
    Exact arithmetic: no epsilon in the denominator (it is > 0 whenever the overlap is)."""
    n_users, n_items = x.shape
    support = [{u for u in range(n_users) if x[u, i] > 0} for i in range(n_items)]
    kept = np.zeros((n_items, n_items))
    for i in range(n_items):
        sims = []
        for j in range(n_items):
            if j == i:
                continue
            both = len(support[i] & support[j])
            if similarity == "cosine":
                denominator = (len(support[i]) * len(support[j])) ** 0.5
            elif similarity == "jaccard":
                denominator = len(support[i]) + len(support[j]) - both
            else:
                denominator = len(support[i]) ** asym_alpha * len(support[j]) ** (1 - asym_alpha)
            sims.append((both / (denominator + shrink) if both else 0.0, j))
        # exact ties (e.g. 1/1 and 2/2) rank by lower j, however float64 rounds them
        sims.sort(key=lambda t: (-round(t[0], 9), t[1]))
        for value, j in sims[:k]:
            if value > 0:
                kept[j, i] = value
    return kept


CASES = [(1, 0.0, 0.5, 2), (2, 0.0, 0.0, 1024), (3, 1.5, 1.0, 3), (4, 0.3, 0.25, 4),
         (100, 0.0, 0.8, 1), (100, 2.0, 0.6, 5)]


@pytest.mark.parametrize("similarity", ["cosine", "jaccard", "asymmetric"])
@pytest.mark.parametrize("k,shrink,asym_alpha,block", CASES)
def test_similarity_matches_brute_force(tiny, similarity, k, shrink, asym_alpha, block):
    x = tiny.toarray().astype(np.float64)
    model = ItemKNN(k=k, shrink=shrink, block_size=block, similarity=similarity,
                    asym_alpha=asym_alpha).fit(tiny)
    expected = brute_force_similarity(x, k, shrink, similarity, asym_alpha)
    np.testing.assert_allclose(model.similarity.toarray(), expected, atol=1e-5)
    np.testing.assert_allclose(model.score(torch.arange(7)).numpy(), x @ expected, atol=1e-5)
    assert model.similarity.diagonal().sum() == 0
    assert model.n_parameters() == model.similarity.nnz <= 9 * min(k, 8)
    assert model.similarity.getcol(4).nnz == model.similarity.getrow(4).nnz == 0  # empty item


def test_ties_go_to_the_lower_item(tiny):
    """Items 0 and 1 are identical columns: with k=1 they are each other's neighbour (sim 1),
    and every other target tied between them keeps item 0, so item 1 is nobody else's."""
    for similarity in ("cosine", "jaccard", "asymmetric"):
        sim = ItemKNN(k=1, similarity=similarity, asym_alpha=0.3).fit(tiny).similarity.toarray()
        assert sim[0, 1] > 0 and sim[1, 0] > 0
        assert not sim[1, [i for i in range(9) if i not in (0, 1)]].any()


@pytest.mark.parametrize("k,shrink,block", [(3, 0.0, 2), (100, 4.0, 1024)])
def test_asymmetric_at_one_half_is_cosine(tiny, k, shrink, block):
    cosine = ItemKNN(k=k, shrink=shrink, block_size=block).fit(tiny).similarity
    asymmetric = ItemKNN(k=k, shrink=shrink, block_size=block, similarity="asymmetric",
                         asym_alpha=0.5).fit(tiny).similarity
    assert (cosine != asymmetric).nnz == 0


def test_asymmetric_alpha_changes_the_neighbours(tiny):
    sims = [ItemKNN(similarity="asymmetric", asym_alpha=a).fit(tiny).similarity.toarray()
            for a in (0.0, 0.5, 1.0)]
    assert not np.allclose(sims[0], sims[1]) and not np.allclose(sims[1], sims[2])
    np.testing.assert_allclose(sims[0], sims[2].T, atol=1e-6)  # a <-> 1 - a transposes


@pytest.mark.parametrize("make,message", [
    (lambda: ItemKNN(similarity="pearson"),
     "ItemKNN similarity must be one of cosine, jaccard, asymmetric, got 'pearson'"),
    (lambda: ItemKNN(similarity="Cosine"), "must be one of cosine, jaccard, asymmetric"),
    (lambda: ItemKNN(asym_alpha=-0.1), r"asym_alpha must be in \[0, 1\], got -0.1"),
    (lambda: ItemKNN(similarity="asymmetric", asym_alpha=1.5), r"asym_alpha must be in \[0, 1\]"),
    (lambda: ItemKNN(asym_alpha=float("nan")), r"asym_alpha must be in \[0, 1\]"),
])
def test_bad_similarity_arguments_are_refused(make, message):
    with pytest.raises(ValueError, match=message) as info:
        make()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("overrides", [[], ["model.similarity=jaccard", "model.shrink=5"],
                                       ["model.similarity=asymmetric", "model.asym_alpha=0.3"]])
def test_config_composes_and_builds(overrides):
    cfg = compose(["model=itemknn", *overrides])
    check_buildable(cfg)
    model = build(cfg, "model")
    assert isinstance(model, ItemKNN)
    assert model.similarity_name == cfg.model.similarity
    assert model.asym_alpha == cfg.model.asym_alpha


def test_bad_similarity_in_config_is_refused():
    with pytest.raises(RecbenchError, match="model 'itemknn': ItemKNN similarity must be one of"):
        check_buildable(compose(["model=itemknn", "model.similarity=dice"]))


def dense_reference(x: sp.csr_matrix, k, shrink, similarity, asym_alpha):
    """The dense float32 formula (every pair's value computed as ItemKNN's docstring says,
    in its dtypes) and the rule by one lexsort per target: (value desc, lower j)."""
    dots = (x.T @ x).toarray()
    squares = np.asarray(x.multiply(x).sum(axis=0)).ravel()
    norms = np.sqrt(squares)
    if similarity == "cosine" or (similarity == "asymmetric" and asym_alpha == 0.5):
        denominator = np.outer(norms, norms) + shrink + 1e-12
    elif similarity == "jaccard":
        denominator = (squares[:, None] + squares[None, :] - dots) + shrink + 1e-12
    else:
        s64 = squares.astype(np.float64)
        denominator = np.outer(s64 ** asym_alpha, s64 ** (1 - asym_alpha)) + shrink + 1e-12
    sims = dots.astype(np.float32) / denominator.astype(np.float32)  # row: target
    n = sims.shape[0]
    kept = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        order = np.lexsort((np.arange(n), -sims[i]))
        order = order[order != i][:k]
        order = order[sims[i, order] > 0]
        kept[order, i] = sims[i, order]
    return kept


@pytest.mark.parametrize("similarity,shrink,asym_alpha", [
    ("cosine", 0.0, 0.5), ("cosine", 3.0, 0.5), ("jaccard", 0.0, 0.5), ("jaccard", 1.5, 0.5),
    ("asymmetric", 0.0, 0.2), ("asymmetric", 2.0, 0.7)])
@pytest.mark.parametrize("k,block", [(5, 17), (40, 1024)])
def test_bit_for_bit_the_dense_formula_with_ties_everywhere(similarity, shrink, asym_alpha, k,
                                                            block):
    """300 x 120 binary with few distinct item supports: most targets tie at the cut."""
    rng = np.random.default_rng(7)
    x = (rng.random((300, 120)) < rng.choice([0.01, 0.03, 0.3], size=120)).astype(np.float32)
    x[:, 60:70] = x[:, 70:80]  # duplicate columns: exact ties of every measure
    x = sp.csr_matrix(x)
    model = ItemKNN(k=k, shrink=shrink, block_size=block, similarity=similarity,
                    asym_alpha=asym_alpha).fit(x)
    expected = dense_reference(x, k, shrink, similarity, asym_alpha)
    got = model.similarity.toarray()
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))
    assert model.similarity.has_canonical_format
