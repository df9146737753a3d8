r"""LightGCN++: LightGCN with norm scaling, neighbour weighting and a weighted ego layer.

Reference:
    Geon Lee, Kyungho Kim and Kijung Shin. "Revisiting LightGCN: Unexpected Inflexibility,
    Inconsistency, and A Remedy Towards Improved Recommendation." in RecSys 2024.

Reference code: IR-Benchmark's ``model_LightGCNpp.py`` (the same formulas and defaults).
Formulas and defaults: ``docs/models.md``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from ..losses._checks import number
from ..scoring import normalize_rows
from .graph import FastLightGCN, layer_mean, sparse_matmul, torch_csr

__all__ = ["CONFIG_CHECKS", "LightGCNPP", "lightgcnpp_adjacency"]

# LightGCN++'s own keys (recbole_losses.config_checks reads them before any data loads).
CONFIG_CHECKS = {
    "alpha": number(),
    "beta": number(),
    "gamma": number(0, 1),
}


def lightgcnpp_adjacency(interaction_matrix, n_users: int, n_items: int, alpha: float, beta: float) -> sp.csr_matrix:
    r"""The [U + I, U + I] propagation matrix :math:`P_{ab} = |N_a|^{-\alpha} |N_b|^{-\beta}` on the
    edges (a, b) of the binary user-item graph (a receives, b sends; a pair stored several times is
    one edge, a degree counts distinct neighbours), float32 CSR. Not symmetric unless α = β."""
    coo = sp.coo_matrix(interaction_matrix)
    r = sp.csr_matrix((np.ones(coo.nnz), (coo.row, coo.col)), shape=(n_users, n_items))
    r.sum_duplicates()
    r.data[:] = 1.0
    graph = sp.bmat([[None, r], [r.T, None]], format="coo")
    degree = np.asarray(graph.sum(axis=1)).ravel()
    values = degree[graph.row] ** -alpha * degree[graph.col] ** -beta
    return sp.csr_matrix((values.astype(np.float32), (graph.row, graph.col)), shape=graph.shape)


class LightGCNPP(FastLightGCN):
    r"""LightGCN++ as a RecBole ``GeneralRecommender`` (PAIRWISE, BPR when used on its own).

    Each layer propagates row-normalised embeddings,

    .. math::
        e^{(k+1)}_a = \sum_{b \in N_a} \frac{1}{|N_a|^{\alpha} |N_b|^{\beta}}
                      \frac{e^{(k)}_b}{\lVert e^{(k)}_b \rVert},

    and the final embedding weights the ego layer by γ and the mean of the K propagated layers by
    1 − γ: :math:`e = \gamma e^{(0)} + \frac{1 - \gamma}{K} \sum_{k=1}^{K} e^{(k)}`. α = β = 0.5,
    γ = 1/(K+1) without the normalisation is LightGCN. Everything else (tables, xavier-uniform
    initialisation, BPR and EmbLoss on the ego embeddings, evaluation cache) is RecBole's LightGCN.

    Config keys (``properties/model/LightGCN++.yaml``): ``embedding_size``, ``n_layers`` (K),
    ``alpha``, ``beta``, ``gamma`` (in [0, 1]), ``reg_weight``, ``require_pow``.
    """

    def __init__(self, config, dataset):
        name = type(self).__name__
        self.alpha = CONFIG_CHECKS["alpha"].check(name, "alpha", config["alpha"])
        self.beta = CONFIG_CHECKS["beta"].check(name, "beta", config["beta"])
        self.gamma = CONFIG_CHECKS["gamma"].check(name, "gamma", config["gamma"])
        super().__init__(config, dataset)
        # Autograd needs Pᵀ, built once (P is not symmetric for α ≠ β).
        self.norm_adj_matrix_t = torch_csr(
            lightgcnpp_adjacency(self.interaction_matrix, self.n_users, self.n_items, self.alpha, self.beta).T.tocsr()
        ).to(self.device)

    def get_norm_adj_mat(self) -> torch.Tensor:
        return torch_csr(lightgcnpp_adjacency(self.interaction_matrix, self.n_users, self.n_items, self.alpha, self.beta))

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        ego = self.get_ego_embeddings()
        layers, layer = [], ego
        for _ in range(self.n_layers):
            layer = sparse_matmul(self.norm_adj_matrix, self.norm_adj_matrix_t, normalize_rows(layer))
            layers.append(layer)
        final = self.gamma * ego + (1.0 - self.gamma) * layer_mean(layers) if layers else ego
        return torch.split(final, [self.n_users, self.n_items])


# RecBole's Config reads a model's name from its class (properties/model/LightGCN++.yaml, the log,
# the checkpoint names); __qualname__ stays the importable name, so the class pickles.
LightGCNPP.__name__ = "LightGCN++"
