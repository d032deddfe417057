"""iALS (Hu, Koren & Volinsky, ICDM 2008): implicit-feedback ALS, solved with conjugate gradient.

Objective, over every (user, item) pair::

    sum_ui c_ui (p_ui - x_u . y_i)^2 + regularization (sum_u |x_u|^2 + sum_i |y_i|^2)

with preference ``p_ui = 1`` on observed entries (0 elsewhere) and confidence
``c_ui = 1 + alpha * r_ui`` (``r_ui`` the train value, 1 for binary data; ``c_ui = 1``
elsewhere). User and item factors are updated alternately; each half-step solves, for all
users (items) at once, the normal equations

    (Y^T Y + Y^T (C_u - I) Y + regularization I) x_u = Y^T C_u p(u)

approximately, with ``cg_steps`` conjugate-gradient steps warm-started from the current
factors (Takács, Pilászy & Tikk, RecSys 2011; the ``use_cg`` solver of the ``implicit``
package). Each CG step decreases that half-step's quadratic, so the objective never rises.

Why our own CG rather than the ``implicit`` package: its wheels bundle their own BLAS and
OpenMP threading and split CPU / GPU code paths, so results depend on the machine; we need
deterministic CPU results given a seed, and a batched CG in torch is about 100 lines.

Batching: ``Y^T Y`` is shared by all users; the per-user term ``Y^T (C_u - I) Y v_u`` is
``sum_{i in I(u)} alpha r_ui (y_i . v_u) y_i``: one dot product per stored interaction (a
sampled dense-dense product, SDDMM, on the train matrix's CSR structure: memory ``nnz``,
never ``nnz * factors``), then one sparse CSR x dense product. No Python loop over users.

Scoring: ``score(u) = x_u . Y^T`` with the user factors learned in fit. Under the cold-user
protocol the runner calls :meth:`IALS.set_history` with train + the cold users' fold-in;
the users whose history rows differ from train then get their factors re-solved once,
from zero, against the trained item factors (the same CG, run to convergence: at most
``factors`` steps solve an f x f system), which is exactly the least-squares fold-in
of iALS. Scoring then stays a dense product, and users whose rows are unchanged keep
their trained factors.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from recbench.models.base import FitContext, Recommender
from recbench.models.constraints import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, OneOf

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class SideInteractions:
    """The train matrix seen from the side being solved: rows = solved, columns = fixed.

    ``crow`` / ``col`` are the CSR structure and ``weight`` holds ``alpha * r_ui``
    (= ``c_ui - 1``) per stored entry.
    """

    crow: torch.Tensor
    col: torch.Tensor
    weight: torch.Tensor
    shape: tuple[int, int]

    @classmethod
    def from_csr(cls, matrix: sp.csr_matrix, alpha: float,
                 dtype: torch.dtype = torch.float32) -> "SideInteractions":
        matrix = sp.csr_matrix(matrix, dtype=np.float64)
        matrix.eliminate_zeros()
        matrix.sort_indices()
        return cls(torch.from_numpy(matrix.indptr.astype(np.int64)),
                   torch.from_numpy(matrix.indices.astype(np.int64)),
                   torch.from_numpy(alpha * matrix.data).to(dtype), matrix.shape)

    def _matrix(self, values: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(self.crow, self.col, values, self.shape,
                                           check_invariants=False)

    def dots(self, rows: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        """``rows[row_k] . fixed[col_k]`` for every stored entry k: ``(nnz,)`` (an SDDMM)."""
        if not len(self.col):
            return fixed.new_zeros(0)
        structure = self._matrix(fixed.new_zeros(len(self.col)))
        return torch.sparse.sampled_addmm(structure, rows, fixed.T, beta=0).values()

    def times(self, values: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        """``S @ fixed`` for the sparse matrix S with this structure and entries ``values``."""
        if not len(self.col):
            return fixed.new_zeros(self.shape[0], fixed.shape[1])
        return self._matrix(values) @ fixed


def cg_solve(side: SideInteractions, fixed: torch.Tensor, start: torch.Tensor,
             regularization: float, steps: int) -> torch.Tensor:
    """``steps`` batched CG steps on ``A_r x_r = b_r`` for every row r, from ``start``.

    ``A_r = F^T F + F^T (C_r - I) F + regularization I`` and ``b_r = F^T C_r p(r)``, F =
    ``fixed``. A row stops moving once its squared residual is below 1e-20 (as ``implicit``).
    Returns the new ``(n_rows, f)`` factors; ``start`` is not modified.
    """
    gram = fixed.T @ fixed
    gram.diagonal().add_(regularization)

    def apply(v: torch.Tensor) -> torch.Tensor:  # A v, every row at once
        return v @ gram + side.times(side.weight * side.dots(v, fixed), fixed)

    x = start.clone()
    r = side.times(1 + side.weight, fixed) - apply(x)  # b - A x
    p = r.clone()
    rs = (r * r).sum(1)
    for _ in range(steps):
        active = rs > 1e-20
        if not active.any():
            break
        ap = apply(p)
        pap = (p * ap).sum(1)
        step = torch.where(active & (pap > 0), rs / torch.where(pap > 0, pap, 1), 0)[:, None]
        x += step * p
        r -= step * ap
        rs_new = (r * r).sum(1)
        beta = torch.where(active, rs_new / torch.where(rs > 0, rs, 1), 0)[:, None]
        p = r + beta * p
        rs = torch.where(active, rs_new, rs)
    return x


class IALS(Recommender):
    """Implicit ALS with a batched conjugate-gradient solver (see the module docstring).

    Memory: user and item factors, plus a few ``(n_users or n_items, factors)`` CG vectors
    and ``nnz`` per-interaction values of ``dtype``.

    Args:
        factors: latent dimension (>= 1).
        regularization: L2 weight on all user and item factors (>= 0). Not scaled by the
            number of interactions, so its best value grows with the data set; the default
            (with ``alpha``) was picked by validation NDCG@10 on ml-100k.
        alpha: confidence slope, ``c_ui = 1 + alpha r_ui`` (>= 0).
        iterations: alternating sweeps (user side then item side) (>= 1).
        cg_steps: CG steps per half-step, warm-started from the current factors (>= 1).
        init_std: standard deviation of the seeded normal initialisation (> 0).
        dtype: ``"float32"`` or ``"float64"`` for training (scores are float32).
    """

    parameter_constraints = {"factors": AT_LEAST_ONE, "regularization": NON_NEGATIVE,
                             "alpha": NON_NEGATIVE, "iterations": AT_LEAST_ONE,
                             "cg_steps": AT_LEAST_ONE, "init_std": POSITIVE,
                             "dtype": OneOf(tuple(_DTYPES))}

    def __init__(self, factors: int = 64, regularization: float = 30.0, alpha: float = 3.0,
                 iterations: int = 15, cg_steps: int = 3, init_std: float = 0.01,
                 dtype: str = "float32"):
        self.check_params(locals())
        self.factors, self.iterations, self.cg_steps = int(factors), int(iterations), int(cg_steps)
        self.regularization, self.alpha = float(regularization), float(alpha)
        self.init_std, self.dtype = float(init_std), dtype

    def _fit(self, train, valid, ctx: FitContext) -> None:
        dtype = _DTYPES[self.dtype]
        users = SideInteractions.from_csr(train, self.alpha, dtype)
        items = SideInteractions.from_csr(train.T.tocsr(), self.alpha, dtype)
        generator = torch.Generator().manual_seed(ctx.seed)
        user_f = torch.randn(self.n_users, self.factors, generator=generator, dtype=dtype)
        item_f = torch.randn(self.n_items, self.factors, generator=generator, dtype=dtype)
        user_f *= self.init_std
        item_f *= self.init_std
        self.loss_history: list[float] = []
        for iteration in range(self.iterations):
            user_f = cg_solve(users, item_f, user_f, self.regularization, self.cg_steps)
            item_f = cg_solve(items, user_f, item_f, self.regularization, self.cg_steps)
            loss = self.objective(users, user_f, item_f)
            self.loss_history.append(loss)
            if ctx.log is not None:
                ctx.log({"train_loss": loss}, iteration)
            if not np.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss} at iteration {iteration}")
        self._train, self._item_f = train, item_f  # for set_history's fold-in
        self._fitted_user_factors = user_f.to(torch.float32)
        self.user_factors = self._fitted_user_factors
        self.item_factors = item_f.to(torch.float32)

    def objective(self, users: SideInteractions, user_f: torch.Tensor,
                  item_f: torch.Tensor) -> float:
        """The full iALS objective (all ``n_users * n_items`` pairs), without building them.

        ``sum_ui pred^2 = <U^T U, Y^T Y>``; observed entries then swap ``pred^2`` for
        ``c (1 - pred)^2``.
        """
        pred, weight = users.dots(user_f, item_f).double(), users.weight.double()
        user_f, item_f = user_f.double(), item_f.double()
        total = ((user_f.T @ user_f) * (item_f.T @ item_f)).sum()
        total += ((1 + weight) * (1 - pred) ** 2 - pred ** 2).sum()
        total += self.regularization * ((user_f ** 2).sum() + (item_f ** 2).sum())
        return float(total)

    def set_history(self, history: sp.spmatrix) -> None:
        """Re-solve, from zero, the factors of users whose history rows differ from train."""
        super().set_history(history)
        changed = np.flatnonzero((self.history != self._train).getnnz(axis=1))
        user_f = self._fitted_user_factors.clone()
        if len(changed):
            rows = SideInteractions.from_csr(self.history[changed], self.alpha,
                                             self._item_f.dtype)
            start = self._item_f.new_zeros(len(changed), self.factors)
            solved = cg_solve(rows, self._item_f, start, self.regularization,
                              max(self.cg_steps, self.factors))
            user_f[torch.from_numpy(changed)] = solved.to(torch.float32)
        self.user_factors = user_f

    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        return torch.mm(self.user_factors[users], self.item_factors.T, out=out)

    def n_parameters(self) -> int:
        return (self.n_users + self.n_items) * self.factors
