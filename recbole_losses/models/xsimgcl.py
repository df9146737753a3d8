r"""XSimGCL: LightGCN propagation with noise-perturbed layers and a cross-layer contrastive term.

Reference:
    Junliang Yu et al. "XSimGCL: Towards Extremely Simple Graph Contrastive Learning for
    Recommendation." in TKDE 2023.

Reference code:
    https://github.com/Coder-Yu/SELFRec (``model/graph/XSimGCL.py``)

Formulas, defaults and the differences from RecBole-GNN's and SELFRec's versions: ``docs/models.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..functional import infonce
from ..losses import check_int
from ..losses._checks import integer, number
from .graph import FastLightGCN, layer_mean

__all__ = ["CONFIG_CHECKS", "NOISE_CONFIG_CHECKS", "PerturbedLightGCN", "XSimGCL"]

# The keys of the noise-perturbed LightGCNs (XSimGCL, SimGCL) and their rules, checked when their
# Config is built (before any data loads, recbole_losses.config_checks) and again by the model.
NOISE_CONFIG_CHECKS = {
    "eps": number(0),
    "lambda": number(0),
    "temperature": number(0, closed="neither"),
}
# XSimGCL's keys: those and layer_cl, whose bound is n_layers.
CONFIG_CHECKS = {**NOISE_CONFIG_CHECKS, "layer_cl": integer(0)}


class PerturbedLightGCN(FastLightGCN):
    """LightGCN whose every propagated layer gets ε-norm noise in training and whose final
    embedding is the mean of layers 1..L, trained with BPR (or a composed loss) plus a weighted
    contrastive term: the common part of XSimGCL and SimGCL (:mod:`.simgcl`). Subclasses give
    ``training_embeddings(user, pos_item) -> (user_all, item_all, (λ · contrastive,))``."""

    # The terms calculate_loss returns, named in the train loss line.
    loss_term_names = ("BPR", "reg", "contrastive")

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        name = type(self).__name__
        self.eps = NOISE_CONFIG_CHECKS["eps"].check(name, "eps", config["eps"])
        self.cl_weight = NOISE_CONFIG_CHECKS["lambda"].check(name, "lambda", config["lambda"])
        self.cl_temperature = NOISE_CONFIG_CHECKS["temperature"].check(name, "temperature", config["temperature"])
        check_int(name, "n_layers", self.n_layers, 1)
        self.reg_weight = float(self.reg_weight or 0.0)

    def perturb(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Adds ε · sign(e) ⊙ normalize(U[0, 1)) to every row of ``embeddings`` [n, d]."""
        noise = F.normalize(torch.rand_like(embeddings), dim=-1)
        return embeddings + self.eps * torch.sign(embeddings) * noise

    def propagate(self, perturbed: bool) -> list[torch.Tensor]:
        """Layers 0..L of the stacked [n_users + n_items, d] embeddings, noise added after each
        propagation when ``perturbed``."""
        return self.layers(self.perturb if perturbed and self.eps > 0 else None)

    def _final(self, layers: list[torch.Tensor]) -> torch.Tensor:
        return layer_mean(layers[1:])

    def split(self, stacked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.split(stacked, [self.n_users, self.n_items])

    def forward(self, perturbed: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Final (user, item) embeddings; perturbed in training mode unless told otherwise."""
        return self.split(self._final(self.propagate(self.training if perturbed is None else perturbed)))

    def infonce_pair(self, user, pos_item, user_a, item_a, user_b, item_b) -> torch.Tensor:
        """Unweighted InfoNCE(view a, view b) over the unique batch users plus that over the
        unique batch positive items."""
        users, items = torch.unique(user), torch.unique(pos_item)
        return infonce(user_a[users], user_b[users], self.cl_temperature) + infonce(
            item_a[items], item_b[items], self.cl_temperature
        )

    def training_embeddings(self, user, pos_item):
        raise NotImplementedError

    def calculate_loss(self, interaction):
        self.restore_user_e = self.restore_item_e = None
        user = interaction[self.USER_ID]
        pos_item = interaction[self.ITEM_ID]
        neg_item = interaction[self.NEG_ITEM_ID]
        user_all, item_all, (cl,) = self.training_embeddings(user, pos_item)
        user_e = user_all[user]  # [B, d]
        pos_score = (user_e * item_all[pos_item]).sum(dim=1)  # [B]
        neg_score = (user_e * item_all[neg_item]).sum(dim=1)  # [B]
        rec = self.mf_loss(pos_score, neg_score)
        reg = self.reg_weight * self.reg_loss(
            self.user_embedding(user),
            self.item_embedding(pos_item),
            self.item_embedding(neg_item),
            require_pow=self.require_pow,
        )
        return rec, reg, cl

    def predict(self, interaction):
        user_all, item_all = self.forward(perturbed=False)
        user, item = interaction[self.USER_ID], interaction[self.ITEM_ID]
        return (user_all[user] * item_all[item]).sum(dim=1)

    def full_sort_predict(self, interaction):
        if self.restore_user_e is None or self.restore_item_e is None:
            self.restore_user_e, self.restore_item_e = self.forward(perturbed=False)
        user = interaction[self.USER_ID]
        return (self.restore_user_e[user] @ self.restore_item_e.T).view(-1)


class XSimGCL(PerturbedLightGCN):
    r"""XSimGCL as a RecBole ``GeneralRecommender`` (PAIRWISE, BPR when used on its own).

    With :math:`E^{(0)}` the embedding tables and :math:`\hat A` the symmetric-normalised graph,
    each layer is :math:`E^{(k)} = \hat A E^{(k-1)} + \Delta^{(k)}`, where in training every row
    gets :math:`\Delta = \epsilon \, \mathrm{sign}(e) \odot \bar u`, :math:`\bar u` a U[0, 1) vector
    normalised to unit L2 norm (noise of norm ε in the row's own hyperoctant), and in evaluation
    :math:`\Delta = 0`. The final embedding is :math:`\frac1L \sum_{k=1}^{L} E^{(k)}` (no ego
    layer). The training loss is

    .. math::
        \mathcal L_{rec} + \lambda \big(\mathrm{InfoNCE}_\tau(E_U, E^{(l^*)}_U)
                                        + \mathrm{InfoNCE}_\tau(E_I, E^{(l^*)}_I)\big)

    over the batch's unique users U and unique positive items I, on the perturbed embeddings.
    Alone, :math:`\mathcal L_{rec}` is RecBole's BPR plus ``reg_weight`` · EmbLoss on the ego
    embeddings of (u, i, j); composed with a loss (``--loss=...``), the loss replaces it.

    It is RecBole's LightGCN (embedding tables, xavier-uniform initialisation, BPR and EmbLoss,
    evaluation cache) with the propagation and loss above; the adjacency is the vectorised one of
    :mod:`.graph` in CSR layout.

    Config keys (``properties/model/XSimGCL.yaml``): ``embedding_size``, ``n_layers`` (L),
    ``eps`` (ε), ``layer_cl`` (l*, the embedding layer counting as 0), ``temperature`` (τ),
    ``lambda`` (λ), ``reg_weight``, ``require_pow``.
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.layer_cl = check_int("XSimGCL", "layer_cl", config["layer_cl"], 0, self.n_layers, maximum_name="n_layers")

    def contrastive_views(self):
        """(user, item) final embeddings and (user, item) layer-l* embeddings of one propagation,
        perturbed when the module is in training mode."""
        layers = self.propagate(self.training)
        user_all, item_all = self.split(self._final(layers))
        user_cl, item_cl = self.split(layers[self.layer_cl])
        return user_all, item_all, user_cl, item_cl

    def contrastive_loss(self, user, pos_item, user_all, item_all, user_cl, item_cl) -> torch.Tensor:
        """Unweighted InfoNCE(final, layer l*) over the unique batch users plus that over the
        unique batch positive items."""
        return self.infonce_pair(user, pos_item, user_all, item_all, user_cl, item_cl)

    def training_embeddings(self, user, pos_item):
        """(user_all, item_all, (λ · InfoNCE,)): what a composed loss trains on."""
        user_all, item_all, user_cl, item_cl = self.contrastive_views()
        cl = self.cl_weight * self.contrastive_loss(user, pos_item, user_all, item_all, user_cl, item_cl)
        return user_all, item_all, (cl,)
