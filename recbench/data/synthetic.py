"""Seeded synthetic implicit-feedback data for tests and scaling benchmarks.

Generative model (all draws from ``numpy.random.SeedSequence(seed)``):

* **Popularity.** Item popularity follows a Zipf law: the item at popularity rank
  ``r = 1..n_items`` has ``pop = r**-zipf / Z`` (``zipf=0`` is uniform). Which item gets
  which rank is a seeded random permutation, so item index carries no information.
* **Taste.** User factors ``u`` and item factors ``v`` are i.i.d. standard normal of
  dimension ``rank``. The affinity of a user for item ``i`` is
  ``dot(u, v_i) / sqrt(rank) + log(pop_i)`` (the first term is ~N(0, 1) for any ``rank``).
* **Activity.** User ``u`` has ``n_u = m + Binomial(n_items - m, p_u)`` interactions, ``m =
  min_user_interactions`` (default 1), with ``p_u ~ Beta(1, b)`` chosen so that ``E[n_u] =
  max(m, density * n_items)``; ``n_u`` lies in ``[m, n_items]`` and is right-skewed (a few
  heavy users, many light ones).
* **Items.** Each user's ``n_u`` distinct items are a sample without replacement with
  probabilities proportional to ``exp(affinity)``, drawn with the Gumbel-top-k trick (the
  ``n_u`` largest ``affinity + Gumbel noise``), vectorised over chunks of ~8M user-item
  scores, so the working set stays at a few hundred MB (peak ~450 MB for 100k x 50k).
* **Time.** ``timestamp`` is float64 seconds since the Unix epoch. Each user starts at a
  uniform time in 2020 (365 days from 2020-01-01 UTC) and then interacts at exponential gaps
  (mean 6 hours), in a random order of their items.

The result is byte-identical for equal arguments on a given machine and numpy version
(float32 BLAS / SIMD ``log`` may differ across CPUs). ``source_sha256`` hashes the
canonical JSON of the arguments, so any argument change changes split fingerprints
(``min_user_interactions`` enters it, and ``meta``, only when it is not 1, so data generated
before the option existed keep their hash).
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers

import numpy as np

from recbench.data.interactions import Interactions

#: bump when the generative algorithm changes (it is part of ``source_sha256``)
GENERATOR_VERSION = 1
_T0 = 1577836800.0  # 2020-01-01T00:00:00Z
_START_SPAN = 365 * 86400.0  # user start times: uniform over one year
_MEAN_GAP = 6 * 3600.0  # mean seconds between a user's consecutive interactions
_CHUNK_ELEMENTS = 1 << 23  # users per chunk * n_items (float32 score matrix ~32 MB)


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"synthetic: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_args(n_users, n_items, density, zipf, rank, seed, min_user_interactions=1) -> dict:
    args = {
        "n_users": _check_int("n_users", n_users, 1),
        "n_items": _check_int("n_items", n_items, 1),
        "rank": _check_int("rank", rank, 1),
        "seed": _check_int("seed", seed, 0),
    }
    if not isinstance(density, numbers.Real) or not 0.0 < density <= 1.0:
        raise ValueError(f"synthetic: density must be in (0, 1], got {density!r}")
    if not isinstance(zipf, numbers.Real) or not (math.isfinite(zipf) and zipf >= 0.0):
        raise ValueError(f"synthetic: zipf must be a finite number >= 0, got {zipf!r}")
    args["density"] = float(density)
    args["zipf"] = float(zipf)
    minimum = _check_int("min_user_interactions", min_user_interactions, 1)
    if minimum > args["n_items"]:
        raise ValueError(f"synthetic: min_user_interactions must be <= n_items "
                         f"({args['n_items']}), got {minimum}")
    if minimum != 1:  # absent at the default: earlier data sets keep their source_sha256
        args["min_user_interactions"] = minimum
    return args


def _counts(rng: np.random.Generator, n_users: int, n_items: int, density: float,
            minimum: int = 1) -> np.ndarray:
    """Per-user counts ``m + BetaBinomial(n_items - m, 1, b)`` (``m = minimum``), mean
    ``max(m, density * n_items)``."""
    mu = max(density * n_items - float(minimum), 0.0) / max(n_items - minimum, 1)
    if mu <= 0.0:
        p = np.zeros(n_users)
    elif mu >= 1.0:
        p = np.ones(n_users)
    else:
        p = rng.beta(1.0, (1.0 - mu) / mu, size=n_users)
    return minimum + rng.binomial(n_items - minimum, p).astype(np.int64)


def make_synthetic(
    n_users: int = 1000,
    n_items: int = 500,
    density: float = 0.02,
    zipf: float = 1.0,
    rank: int = 16,
    seed: int = 0,
    min_user_interactions: int = 1,
) -> Interactions:
    """Generate seeded implicit-feedback :class:`Interactions` (see the module docstring).

    Args:
        n_users: number of users (>= 1); every user has at least one interaction.
        n_items: number of items (>= 1); some unpopular items may get no interaction.
        density: target fraction of the user-item matrix that is filled, in (0, 1]; the mean
            interactions per user is ``max(1, density * n_items)``.
        zipf: Zipf exponent of item popularity (>= 0; 0 = uniform popularity).
        rank: dimension of the latent user / item factors (>= 1).
        seed: seed of all random draws (>= 0).
        min_user_interactions: interactions every user has at least (1 <= it <= n_items);
            the mean per user is then ``max(min_user_interactions, density * n_items)``.

    Raises:
        ValueError: if an argument is out of range.
    """
    args = _check_args(n_users, n_items, density, zipf, rank, seed, min_user_interactions)
    n_users, n_items, rank = args["n_users"], args["n_items"], args["rank"]
    ss_pop, ss_items, ss_users, ss_counts, ss_time, ss_noise = np.random.SeedSequence(
        args["seed"]).spawn(6)

    ranks = np.empty(n_items, dtype=np.float64)
    ranks[np.random.default_rng(ss_pop).permutation(n_items)] = np.arange(1, n_items + 1)
    log_pop = -args["zipf"] * np.log(ranks)
    log_pop -= np.log(np.exp(log_pop).sum())
    item_f = np.random.default_rng(ss_items).standard_normal((n_items, rank), dtype=np.float32)
    user_f = np.random.default_rng(ss_users).standard_normal((n_users, rank), dtype=np.float32)
    # affinity = [u, 1] @ [v / sqrt(rank), log_pop]^T: one float32 matmul per chunk
    user_f = np.hstack([user_f, np.ones((n_users, 1), dtype=np.float32)])
    item_f_t = np.vstack([(item_f * np.float32(1.0 / math.sqrt(rank))).T,
                          log_pop.astype(np.float32)[None, :]])
    counts = _counts(np.random.default_rng(ss_counts), n_users, n_items, args["density"],
                     args.get("min_user_interactions", 1))

    chunk = max(1, _CHUNK_ELEMENTS // n_items)
    starts = range(0, n_users, chunk)
    items = []
    for lo, ss in zip(starts, ss_noise.spawn(len(starts))):
        rng = np.random.default_rng(ss)
        hi = min(lo + chunk, n_users)
        n_u = counts[lo:hi]
        k = int(n_u.max())
        # Gumbel-top-k: the n_u largest of (affinity + Gumbel) are a sample without
        # replacement with probabilities proportional to exp(affinity).
        # Gumbel = -log(-log(U)); U == 0 gives -inf, i.e. never picked.
        noise = rng.random((hi - lo, n_items), dtype=np.float32)
        with np.errstate(divide="ignore"):
            np.log(noise, out=noise)
        np.negative(noise, out=noise)
        np.log(noise, out=noise)
        score = user_f[lo:hi] @ item_f_t
        score -= noise
        del noise
        # candidates: score >= the row's k-th largest (>= k per row, more only on ties)
        kth = np.partition(score, n_items - k, axis=1)[:, n_items - k, None]
        row, col = np.nonzero(score >= kth)
        cand = score[row, col]
        del score
        if len(row) == (hi - lo) * k:  # no ties at the k-th value: exactly k per row
            col, cand = col.reshape(-1, k), cand.reshape(-1, k)
            col = np.take_along_axis(col, np.argsort(-cand, axis=1, kind="stable"), axis=1)
        else:  # rare float32 ties: keep each row's k best (ties: lower item index)
            order = np.lexsort((-cand, row))
            rank_in_row = np.arange(len(row)) - np.searchsorted(row[order], row[order])
            col = col[order][rank_in_row < k].reshape(-1, k)
        # keep each row's n_u best, in a random order: the order they are consumed in time
        keep = np.arange(k) < n_u[:, None]
        order = np.where(keep, rng.random((hi - lo, k)), 2.0)
        col = np.take_along_axis(col, np.argsort(order, axis=1, kind="stable"), axis=1)
        items.append(col[keep])
    item = np.concatenate(items).astype(np.int64)
    user = np.repeat(np.arange(n_users, dtype=np.int64), counts)

    rng = np.random.default_rng(ss_time)
    start = _T0 + rng.uniform(0.0, _START_SPAN, size=n_users)
    gaps = rng.exponential(_MEAN_GAP, size=len(item))
    elapsed = np.cumsum(gaps)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    timestamp = elapsed - np.repeat(elapsed[first] - gaps[first] - start, counts)

    canonical = json.dumps({"generator": "recbench.synthetic", "version": GENERATOR_VERSION,
                            **args}, sort_keys=True, separators=(",", ":"))
    return Interactions(
        name="synthetic",
        user=user,
        item=item,
        timestamp=timestamp,
        rating=None,
        user_ids=np.arange(n_users).astype(str),
        item_ids=np.arange(n_items).astype(str),
        source_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
        meta={"generator": "synthetic", "version": GENERATOR_VERSION, **args},
        timestamp_kind="seconds",
    )
