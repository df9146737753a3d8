r"""The symmetric-normalised user-item adjacency, built once with vectorised sparse arithmetic.

RecBole 1.2.1's LightGCN and NGCF build :math:`\hat A = D^{-1/2} A D^{-1/2}` by filling a Python
dict with one entry per edge and loading it into a ``dok_matrix`` (the ``_update`` call that SciPy
1.13 removed; :mod:`recbole_losses.compat` restores it), a Python loop over the edges (timings:
docs/performance.md, ``benchmarks/adjacency.py``). :func:`normalized_adjacency` computes the
same matrix from index arrays only, and :class:`FastLightGCN` / :class:`FastNGCF` are RecBole's models with
``get_norm_adj_mat`` swapped for it (LightGCN also propagating with :func:`symmetric_spmm`);
XSimGCL (:mod:`.xsimgcl`) propagates as LightGCN does.

Agreement with RecBole (checked in ``tests/test_graph.py``): the graph is binary (a user-item pair
stored several times is one edge), a node's degree is its number of distinct neighbours, every
value is computed in float64 as :math:`(d_u + 10^{-7})^{-1/2} (d_i + 10^{-7})^{-1/2}` — RecBole's
guard against zero degrees, which only touches nodes without edges, kept so that the float32
values are bit-identical — and the entries come in row-major order, as RecBole's ``coo_matrix``
of a CSR product lists them.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from recbole.model.general_recommender import LightGCN as RecBoleLightGCN
from recbole.model.general_recommender import NGCF as RecBoleNGCF

from .. import native

__all__ = ["FastLightGCN", "FastNGCF", "layer_mean", "normalized_adjacency", "normalized_adjacency_scipy", "propagation_mean",
           "sparse_matmul", "spmm", "symmetric_spmm", "torch_csr"]

_DEGREE_EPS = 1e-7  # RecBole's "avoid divide by zero" term, added to every degree


def normalized_adjacency_scipy(interaction_matrix, n_users: int, n_items: int) -> sp.csr_matrix:
    r""":math:`D^{-1/2} A D^{-1/2}` as a float32 CSR matrix of shape [U + I, U + I].

    ``interaction_matrix``: any SciPy sparse matrix of shape [U, I] whose stored positions are
    the training interactions (values and duplicates are ignored, as RecBole does). Users take
    rows 0..U-1 and items rows U..U+I-1.
    """
    coo = sp.coo_matrix(interaction_matrix)
    if coo.shape != (n_users, n_items):
        raise ValueError(f"interaction matrix has shape {coo.shape}, expected ({n_users}, {n_items})")
    ones = np.ones(coo.nnz, dtype=np.float64)
    # Summing duplicates then resetting the data to 1 leaves one unit edge per distinct pair.
    r = sp.csr_matrix((ones, (coo.row, coo.col)), shape=(n_users, n_items))
    r.sum_duplicates()
    r.data[:] = 1.0
    rt = r.T.tocsr()  # items × users, sorted by item then user
    user_scale = (np.diff(r.indptr) + _DEGREE_EPS) ** -0.5  # [U]
    item_scale = (np.diff(rt.indptr) + _DEGREE_EPS) ** -0.5  # [I]
    nnz = r.nnz
    # User rows: (u, U + i) with value s_u s_i; item rows: (U + i, u) with value s_i s_u. The
    # float64 product is rounded once to float32, like RecBole's (D A) D.
    user_values = np.repeat(user_scale, np.diff(r.indptr)) * item_scale[r.indices]
    item_values = np.repeat(item_scale, np.diff(rt.indptr)) * user_scale[rt.indices]
    indptr = np.concatenate([r.indptr, nnz + rt.indptr[1:]])
    indices = np.concatenate([r.indices + n_users, rt.indices])
    data = np.concatenate([user_values, item_values]).astype(np.float32)
    n = n_users + n_items
    return sp.csr_matrix((data, indices, indptr), shape=(n, n))


def normalized_adjacency(interaction_matrix, n_users: int, n_items: int, layout: str = "coo") -> torch.Tensor:
    r""":math:`D^{-1/2} A D^{-1/2}` as a float32 torch sparse tensor [U + I, U + I].

    ``layout="coo"`` gives a coalesced COO tensor with RecBole's entry order (what NGCF's sparse
    dropout needs); ``layout="csr"`` a CSR tensor, faster in ``torch.sparse.mm`` on CPU.
    """
    csr = normalized_adjacency_scipy(interaction_matrix, n_users, n_items)
    shape = csr.shape
    values = torch.from_numpy(csr.data)
    if layout == "csr":
        return torch_csr(csr)
    if layout != "coo":
        raise ValueError(f"layout must be 'coo' or 'csr', got {layout!r}")
    rows = np.repeat(np.arange(shape[0], dtype=np.int64), np.diff(csr.indptr))
    indices = torch.from_numpy(np.stack([rows, csr.indices.astype(np.int64)]))
    # Row-major with sorted columns in each row and no duplicates: already coalesced.
    return torch.sparse_coo_tensor(indices, values, size=shape, is_coalesced=True, check_invariants=False)


def torch_csr(csr: sp.csr_matrix) -> torch.Tensor:
    """A SciPy CSR matrix as a torch sparse CSR tensor (same values and order)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(
            torch.from_numpy(csr.indptr.astype(np.int64)),
            torch.from_numpy(csr.indices.astype(np.int64)),
            torch.from_numpy(csr.data),
            size=csr.shape,
            check_invariants=False,
        )


def _runs_natively(adjacency: torch.Tensor, dense: torch.Tensor) -> bool:
    """Whether the package's C kernel multiplies these: a CSR matrix and a CPU float32/float64 dense
    matrix of its dtype, kernels built."""
    return (adjacency.layout == torch.sparse_csr and dense.device.type == "cpu" and dense.dtype == adjacency.dtype
            and dense.dtype in native.FLOAT_DTYPES and native.library() is not None)


def spmm(adjacency: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """``adjacency @ dense``: out[r] = Σ_{j in row r} A[r, j] · dense[j]. For a CSR ``adjacency`` on
    CPU in float32/float64, the package's C kernel (:func:`recbole_losses.native.csr_matmul`, rows
    balanced over the threads), else an ``embedding_bag`` whose bags are the rows (about 2.5× faster
    than ``torch.sparse.mm`` on CPU at Gowalla size, docs/performance.md); any other layout through
    ``torch.sparse.mm``."""
    if adjacency.layout != torch.sparse_csr:
        return torch.sparse.mm(adjacency, dense)
    if _runs_natively(adjacency, dense):
        return native.csr_matmul(adjacency.crow_indices(), adjacency.col_indices(), adjacency.values(), dense)
    return F.embedding_bag(
        adjacency.col_indices(), dense, adjacency.crow_indices()[:-1], mode="sum",
        per_sample_weights=adjacency.values(),
    )


class _SpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, adjacency, transposed, dense):
        ctx.save_for_backward(transposed)
        return spmm(adjacency, dense)

    @staticmethod
    def backward(ctx, grad_output):
        (transposed,) = ctx.saved_tensors
        return None, None, spmm(transposed, grad_output.contiguous())


def sparse_matmul(adjacency: torch.Tensor, transposed: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """``adjacency @ dense`` (no gradient to the sparse matrix), its gradient ``transposed @ grad``
    with ``transposed`` the transpose of ``adjacency`` built once (see :func:`symmetric_spmm`)."""
    return _SpMM.apply(adjacency, transposed, dense)


def symmetric_spmm(adjacency: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """``adjacency @ dense`` for a symmetric sparse ``adjacency`` (no gradient to it).

    The gradient to ``dense`` is ``adjacencyᵀ @ grad = adjacency @ grad``. Autograd's own
    backward of ``torch.sparse.mm`` re-sorts the transpose into a new CSR matrix at every call,
    which on CPU costs more than the products themselves (docs/performance.md).
    """
    return _SpMM.apply(adjacency, adjacency, dense)


class _PropagationMean(torch.autograd.Function):
    @staticmethod
    def forward(ctx, adjacency, ego, n_layers):
        ctx.save_for_backward(adjacency)
        ctx.n_layers = n_layers
        return _mean_of_powers(adjacency, ego, n_layers)

    @staticmethod
    def backward(ctx, grad_output):
        (adjacency,) = ctx.saved_tensors
        return None, _mean_of_powers(adjacency, grad_output.contiguous(), ctx.n_layers), None


def _mean_of_powers(adjacency: torch.Tensor, x: torch.Tensor, n_layers: int) -> torch.Tensor:
    """(x + Âx + ... + Â^L x) / (L + 1), accumulated in place: with the C kernel each product adds
    itself to the sum in its own pass (the first from x, the last dividing, the last product never
    stored), else one pass per sum and the division."""
    if n_layers > 0 and _runs_natively(adjacency, x):
        parts = adjacency.crow_indices(), adjacency.col_indices(), adjacency.values()
        x = x.contiguous()
        total, layer = torch.empty_like(x), x
        for index in range(n_layers):
            last = index == n_layers - 1
            layer = native.csr_matmul(*parts, layer, total=total, base=x if index == 0 else None,
                                      divisor=n_layers + 1 if last else 1.0, store=not last)
        return total
    total, layer = x.clone(), x
    for _ in range(n_layers):
        layer = spmm(adjacency, layer)
        total.add_(layer)
    return total.div_(n_layers + 1)


def propagation_mean(adjacency: torch.Tensor, ego: torch.Tensor, n_layers: int) -> torch.Tensor:
    r"""LightGCN's output :math:`\frac{1}{L+1} \sum_{l=0}^{L} \hat A^l E^{(0)}` for a symmetric
    :math:`\hat A`, as one autograd function: its gradient is the same propagation of the incoming
    gradient, :math:`\frac{1}{L+1} \sum_l (\hat A^\top)^l G = \frac{1}{L+1} \sum_l \hat A^l G`, so
    neither pass keeps the L + 1 layers or builds autograd's graph of sums and a division."""
    return _PropagationMean.apply(adjacency, ego, n_layers)


def layer_mean(layers: list[torch.Tensor]) -> torch.Tensor:
    """The mean of equally shaped layers, summed one by one (no stacked [n, L, d] copy)."""
    total = layers[0]
    for layer in layers[1:]:
        total = total + layer
    return total / len(layers)


class FastLightGCN(RecBoleLightGCN):
    """RecBole's LightGCN (parameters, initialisation, loss) with the vectorised adjacency builder
    and its propagation E^(l+1) = Â E^(l) done on a CSR Â with :func:`symmetric_spmm` instead of
    RecBole's COO ``torch.sparse.mm`` (docs/performance.md): the composed models' LightGCN
    backbone, and XSimGCL's base. Same values as RecBole's to float rounding."""

    def get_norm_adj_mat(self) -> torch.Tensor:
        return normalized_adjacency(self.interaction_matrix, self.n_users, self.n_items, layout="csr")

    def layers(self, transform=None) -> list[torch.Tensor]:
        """Layers 0..L of the stacked [n_users + n_items, d] embeddings; ``transform`` (e.g.
        XSimGCL's noise) is applied to each propagated layer."""
        layers = [self.get_ego_embeddings()]
        for _ in range(self.n_layers):
            layer = symmetric_spmm(self.norm_adj_matrix, layers[-1])
            layers.append(layer if transform is None else transform(layer))
        return layers

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """RecBole's LightGCN output: the mean of layers 0..L (:func:`propagation_mean`), split
        into (users, items)."""
        mean = propagation_mean(self.norm_adj_matrix, self.get_ego_embeddings(), self.n_layers)
        return torch.split(mean, [self.n_users, self.n_items])


class FastNGCF(RecBoleNGCF):
    """RecBole's NGCF with the vectorised adjacency builder (COO: its sparse dropout reads the
    indices and values of a COO tensor): the composed models' NGCF backbone."""

    def get_norm_adj_mat(self) -> torch.Tensor:
        return normalized_adjacency(self.interaction_matrix, self.n_users, self.n_items)
