"""Seeded synthetic CTR data with a known ground truth, and its Bayes-optimal predictor.

Generative model (all draws from ``numpy.random.SeedSequence(seed)``):

* **Fields.** ``len(cardinalities)`` categorical fields; field ``f`` takes values
  ``0..cardinalities[f] - 1`` with Zipf probabilities ``rank**-zipf`` over a seeded
  permutation (``zipf=0``: uniform). Field 0 plays the user (gAUC groups by it).
* **Logit.** ``bias + sum_f w_f[x_f] + pairwise * sum_{f<g} <e_f[x_f], e_g[x_g]> / s``
  with first-order weights ``w ~ N(0, first_order**2)``, ``rank``-dimensional embeddings
  ``e ~ N(0, 1)`` and ``s = sqrt(rank * n_pairs)``, so that the pairwise term has standard
  deviation ``pairwise`` whatever the number of fields: the factorisation-machine family,
  which FM-like models can represent exactly and LR only in its first-order part.
* **Label.** ``Bernoulli(sigmoid(logit + noise * eps))`` with ``eps ~ N(0, 1)`` per row, a
  part of the click no feature explains.

The best any model can do from the fields is the Bayes-optimal probability
``p*(x) = E_eps[sigmoid(logit(x) + noise * eps)]`` (computed here by 40-point Gauss-Hermite
quadrature; exactly ``sigmoid(logit)`` when ``noise = 0``). Its AUC and LogLoss on the test
rows are the ceiling a leaderboard's models are measured against; no anchor library can
say how far a CTR model is from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recbench.evaluation.ctr import auc, logloss

GENERATOR_VERSION = 1  #: bump when the generative algorithm changes


@dataclass
class SyntheticCTR:
    """Generated rows.

    Attributes:
        fields: ``(n_rows, n_fields) int64`` value index per field.
        labels: ``(n_rows,) int8`` clicks.
        logits: ``(n_rows,) float64`` the logit without its noise.
        noise: standard deviation of the logit noise.
    """

    fields: np.ndarray
    labels: np.ndarray
    logits: np.ndarray
    noise: float

    def optimal_probs(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Bayes-optimal click probability of ``rows``: ``E[sigmoid(logit + noise * eps)]``."""
        logits = self.logits[rows]
        if self.noise == 0:
            return 1 / (1 + np.exp(-logits))
        nodes, weights = np.polynomial.hermite_e.hermegauss(40)  # weight exp(-x^2 / 2)
        weights = weights / weights.sum()
        inner = logits[:, None] + self.noise * nodes[None, :]
        return (weights[None, :] / (1 + np.exp(-inner))).sum(axis=1)

    def optimum(self, rows: np.ndarray | slice = slice(None)) -> dict[str, float]:
        """AUC and LogLoss of the Bayes-optimal predictor on ``rows``."""
        p, y = self.optimal_probs(rows), self.labels[rows]
        return {"auc": auc(y, p), "logloss": logloss(y, p)}


def generate_ctr(n_rows: int = 100_000, cardinalities: tuple[int, ...] = (500, 200, 50, 20, 10),
                 rank: int = 4, first_order: float = 0.5, pairwise: float = 1.0,
                 bias: float = -1.0, noise: float = 0.5, zipf: float = 1.0,
                 seed: int = 0) -> SyntheticCTR:
    """Generate ``n_rows`` labelled rows (see the module docstring for the model).

    Args:
        n_rows: rows, >= 1.
        cardinalities: values per field, each >= 1 (two fields at least).
        rank: embedding dimension of the pairwise term, >= 1.
        first_order, pairwise, noise: scales (>= 0) of the three parts of the logit.
        bias: the logit's constant: the base click rate is about ``sigmoid(bias)``.
        zipf: skew of the field values (0: uniform).
        seed: everything random.
    """
    cards = [int(c) for c in cardinalities]
    if n_rows < 1 or len(cards) < 2 or min(cards) < 1 or rank < 1:
        raise ValueError("need n_rows >= 1, two fields or more with cardinalities >= 1, "
                         "and rank >= 1")
    if min(first_order, pairwise, noise, zipf) < 0:
        raise ValueError("first_order, pairwise, noise and zipf must be >= 0")
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(cards) + 2)]
    fields = np.empty((n_rows, len(cards)), dtype=np.int64)
    first = np.full(n_rows, float(bias))
    summed = np.zeros((n_rows, rank))
    squares = np.zeros(n_rows)
    for f, (card, rng) in enumerate(zip(cards, rngs)):
        popularity = np.arange(1, card + 1, dtype=np.float64) ** -zipf
        values = rng.permutation(card)[rng.choice(card, n_rows, p=popularity / popularity.sum())]
        fields[:, f] = values
        weights = rng.normal(0, first_order, card)
        embeddings = rng.normal(0, 1, (card, rank))
        first += weights[values]
        summed += embeddings[values]
        squares += np.square(embeddings[values]).sum(axis=1)
    # sum over field pairs of <e_f, e_g> = (|sum_f e_f|^2 - sum_f |e_f|^2) / 2: O(fields x rank)
    pairs = (np.square(summed).sum(axis=1) - squares) / 2
    n_pairs = len(cards) * (len(cards) - 1) / 2
    logits = first + pairwise * pairs / np.sqrt(rank * n_pairs)
    noisy = logits + noise * rngs[-2].standard_normal(n_rows)
    labels = (rngs[-1].random(n_rows) < 1 / (1 + np.exp(-noisy))).astype(np.int8)
    return SyntheticCTR(fields, labels, logits, float(noise))
