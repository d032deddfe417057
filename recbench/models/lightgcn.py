"""LightGCN (He et al., SIGIR 2020): embeddings smoothed over the user-item graph, BPR loss.

One embedding table ``E0`` holds users (rows ``0..n_users-1``) then items. Propagation is
``E_{k+1} = Â E_k`` with the symmetric normalised adjacency ``Â = D^-1/2 A D^-1/2`` of the
bipartite graph ``A = [[0, R], [Rᵀ, 0]]``; the final embeddings are the layer mean
``(E_0 + ... + E_K) / (K + 1)`` and a user-item score is their dot product. Training uses
the BPR loss on the shared :class:`~recbench.models.bpr.PairBatches` negatives, with L2 on
the *layer-0* embeddings of the batch's users / positives / negatives (paper, eq. 15).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from recbench.models.bpr import PairBatches
from recbench.models.constraints import AT_LEAST_ONE, NON_NEGATIVE
from recbench.models.lightning import NeuralRecommender, RecModule
from recbench.models.optim import optimizer_spec
from recbench.models.sampling import SAMPLED_TRAINING


def normalized_adjacency(train: sp.spmatrix) -> torch.Tensor:
    """``Â = D^-1/2 A D^-1/2`` with ``A = [[0, R], [Rᵀ, 0]]``, ``R`` the binarised ``train``.

    Returns a ``(n_users + n_items)``-square float32 sparse CSR tensor (column indices sorted
    within rows, no duplicates). Isolated nodes (degree 0) get ``D^-1/2 = 0``, i.e. an
    all-zero row and column (no NaN / inf).
    """
    r = sp.csr_matrix(train, dtype=np.float32, copy=True)
    r.eliminate_zeros()
    r.data[:] = 1.0
    adj = sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float64)
    degree = np.asarray(adj.sum(axis=1), dtype=np.float64).ravel()
    inv_sqrt = np.zeros_like(degree)
    np.power(degree, -0.5, out=inv_sqrt, where=degree > 0)
    norm = sp.csr_matrix(sp.diags(inv_sqrt) @ adj @ sp.diags(inv_sqrt), dtype=np.float32)
    norm.sum_duplicates()  # also sorts the column indices
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(norm.indptr.astype(np.int64)),
            torch.from_numpy(norm.indices.astype(np.int64)),
            torch.from_numpy(norm.data), norm.shape, check_invariants=True)


def _to_scipy(adjacency: torch.Tensor) -> sp.csr_matrix:
    """A scipy view (shared memory) of a CPU torch CSR tensor."""
    return sp.csr_matrix((adjacency.values().numpy(), adjacency.col_indices().numpy(),
                          adjacency.crow_indices().numpy()), shape=tuple(adjacency.shape))


class _Propagate(torch.autograd.Function):
    """``Â @ x`` for a *symmetric* ``Â``, so the backward pass is ``Â @ grad`` again (no
    transpose / coalesce per step, as autograd through ``torch.sparse.mm`` does).

    On CPU the product runs in scipy (single-threaded CSR kernel: as fast as torch's with one
    thread, and far faster than torch's OpenMP kernel on an oversubscribed machine); on other
    devices it is ``torch.sparse.mm`` with the CSR tensor. Both are deterministic on CPU.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, adjacency: torch.Tensor, host: sp.csr_matrix):
        ctx.adjacency, ctx.host = adjacency, host
        return _Propagate.apply_matrix(adjacency, host, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _Propagate.apply_matrix(ctx.adjacency, ctx.host, grad), None, None

    @staticmethod
    def apply_matrix(adjacency: torch.Tensor, host: sp.csr_matrix, x: torch.Tensor):
        if x.device.type == "cpu":
            product = host @ x.detach().contiguous().numpy()
            return torch.from_numpy(np.asarray(product)).to(x.dtype)
        return torch.sparse.mm(adjacency, x)


class LightGCNModule(RecModule):
    """``(n_users + n_items, dim)`` layer-0 embeddings (normal init, std 0.1, as MFModule and
    the authors' PyTorch code), ``n_layers`` propagation steps over ``adjacency``."""

    def __init__(self, adjacency: torch.Tensor, n_users: int, n_items: int, dim: int,
                 n_layers: int, reg: float):
        super().__init__()
        if adjacency.layout != torch.sparse_csr or adjacency.shape != (n_users + n_items,) * 2:
            raise ValueError(f"adjacency must be a {(n_users + n_items,) * 2} CSR tensor, got "
                             f"{adjacency.layout} {tuple(adjacency.shape)}")
        self.n_users, self.n_items, self.n_layers = n_users, n_items, n_layers
        self.embedding = torch.nn.Embedding(n_users + n_items, dim)
        torch.nn.init.normal_(self.embedding.weight, std=0.1)
        # not in the state dict: rebuilt from train in fit, never checkpointed or copied; the
        # buffer follows .to(device), the scipy view of the CPU copy serves CPU products
        self.register_buffer("adjacency", adjacency.cpu(), persistent=False)
        self.host_adjacency = _to_scipy(self.adjacency)
        self.reg = reg
        self._cache: tuple[tuple, torch.Tensor] | None = None

    def propagate(self) -> torch.Tensor:
        """Layer-mean embeddings ``mean_k Â^k E0``, ``(n_users + n_items, dim)``."""
        layer = self.embedding.weight
        total = layer
        for _ in range(self.n_layers):
            layer = _Propagate.apply(layer, self.adjacency, self.host_adjacency)
            total = total + layer
        return total / (self.n_layers + 1)

    def final_embeddings(self) -> torch.Tensor:
        """:meth:`propagate` without autograd, computed once per weight version.

        The cache key holds the weight's storage and in-place version counter, which every
        optimizer step, ``load_state_dict`` (best-weights restore, checkpoint resume) and
        device move changes, so a stale propagation is never served.
        """
        weight = self.embedding.weight
        key = (weight.data_ptr(), weight._version, weight.device, weight.dtype)
        if self._cache is None or self._cache[0] != key:
            with torch.no_grad():
                self._cache = (key, self.propagate())
        return self._cache[1]

    def on_train_batch_start(self, batch, batch_idx) -> None:
        self._cache = None  # weights are about to change; free the evaluation copy

    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        final = self.final_embeddings()
        return torch.mm(final[users.to(self.device)], final[self.n_users:].T, out=out)

    def batch_loss(self, batch):
        users, pos, neg = batch  # (B,), (B,), (B, n)
        final = self.propagate()
        pos, neg = pos + self.n_users, neg + self.n_users
        u, i, j = final[users], final[pos], final[neg]
        diff = (u * i).sum(1, keepdim=True) - (u[:, None, :] * j).sum(2)  # (B, n)
        e0 = self.embedding.weight
        u0, i0, j0 = e0[users], e0[pos], e0[neg]
        reg = (u0.pow(2).sum(1) + i0.pow(2).sum(1) + j0.pow(2).sum(2).mean(1)).mean()
        return self.record_loss(-F.logsigmoid(diff).mean() + self.reg * reg)


class LightGCN(NeuralRecommender):
    """LightGCN with sampled negatives and Adam; the BPR loss averages
    ``-log sigmoid(s_ui - s_uj)`` over the ``negatives`` items j drawn per positive.

    The graph is built from ``train`` in fit; like BPR, scoring reads only the learned
    embeddings (``set_history`` does not change scores).

    Args:
        dim: embedding size.
        n_layers: propagation layers K (final embedding = mean of layers 0..K).
        reg: L2 weight on the batch's layer-0 user / positive / (mean) negative embeddings.
        batch_size: positives per step.
        negatives: negatives drawn per positive.
        sampler: negative sampling distribution, ``"uniform"`` or ``"popularity"``.
        optimizer: shared optimizer settings ``{name, lr, weight_decay, momentum}``
            (:mod:`recbench.models.optim`; default Adam, lr 5e-3).
    """

    module: LightGCNModule

    parameter_constraints = {"dim": AT_LEAST_ONE, "n_layers": NON_NEGATIVE,
                             "reg": NON_NEGATIVE, **SAMPLED_TRAINING}

    def __init__(self, dim: int = 64, n_layers: int = 3, reg: float = 1e-4,
                 batch_size: int = 2048, negatives: int = 1, sampler: str = "uniform",
                 optimizer: dict | None = None):
        self.check_params(locals())
        self.dim, self.n_layers, self.reg = int(dim), int(n_layers), float(reg)
        self.optimizer = optimizer_spec(optimizer, lr=5e-3)
        self.batch_size, self.negatives, self.sampler = int(batch_size), int(negatives), sampler
        self._adjacency: torch.Tensor | None = None

    def _fit(self, train, valid, ctx) -> None:
        self._adjacency = normalized_adjacency(train)
        try:
            super()._fit(train, valid, ctx)
        finally:
            self._adjacency = None  # the module keeps its own reference

    def build_module(self, n_users: int, n_items: int) -> LightGCNModule:
        return LightGCNModule(self._adjacency, n_users, n_items, self.dim, self.n_layers,
                              self.reg)

    def train_loader(self, train: sp.csr_matrix, generator: torch.Generator):
        batches = PairBatches(train, self.batch_size, generator, self.negatives, self.sampler)
        return torch.utils.data.DataLoader(batches, batch_size=None)
