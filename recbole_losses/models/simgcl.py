r"""SimGCL: LightGCN with noise-perturbed layers and a contrastive term between two perturbed views.

Reference:
    Junliang Yu et al. "Are Graph Augmentations Necessary? Simple Graph Contrastive Learning for
    Recommendation." in SIGIR 2022.

Reference code:
    https://github.com/Coder-Yu/SELFRec (``model/graph/SimGCL.py``); IR-Benchmark's
    ``model_SimGCL.py`` (Gaussian instead of uniform noise; we follow the paper).

Formulas and defaults: ``docs/models.md``.
"""

from __future__ import annotations

import torch

from .xsimgcl import NOISE_CONFIG_CHECKS, PerturbedLightGCN

__all__ = ["CONFIG_CHECKS", "SimGCL"]

# SimGCL's own keys and their rules (recbole_losses.config_checks reads them before any data loads).
CONFIG_CHECKS = dict(NOISE_CONFIG_CHECKS)


class SimGCL(PerturbedLightGCN):
    r"""SimGCL as a RecBole ``GeneralRecommender`` (PAIRWISE, BPR when used on its own).

    With :math:`E^{(0)}` the embedding tables and :math:`\hat A` the symmetric-normalised graph, a
    perturbed propagation is :math:`E^{(k)} = \hat A E^{(k-1)} + \Delta^{(k)}` with
    :math:`\Delta = \epsilon \, \mathrm{sign}(e) \odot \bar u` per row (:math:`\bar u` a U[0, 1)
    vector scaled to unit norm), and the final embedding is :math:`\frac1L \sum_{k=1}^{L} E^{(k)}`
    (no ego layer). The training loss is

    .. math::
        \mathcal L_{rec}(E) + \lambda \big(\mathrm{InfoNCE}_\tau(E'_U, E''_U)
                                         + \mathrm{InfoNCE}_\tau(E'_I, E''_I)\big)

    where :math:`E` is the clean propagation (:math:`\Delta = 0`, also used for ranking),
    :math:`E'` and :math:`E''` two independently perturbed ones, and U, I the batch's unique users
    and positive items. Alone, :math:`\mathcal L_{rec}` is BPR plus ``reg_weight`` · EmbLoss on the
    ego embeddings; composed with a loss (``--loss=...``), the loss replaces it and the
    contrastive term is kept with its weight λ. Unlike XSimGCL, each step propagates three times.

    Config keys (``properties/model/SimGCL.yaml``): ``embedding_size``, ``n_layers`` (L),
    ``eps`` (ε), ``temperature`` (τ), ``lambda`` (λ), ``reg_weight``, ``require_pow``.
    """

    def training_embeddings(self, user, pos_item):
        """(clean user_all, clean item_all, (λ · InfoNCE(view 1, view 2),)); the views are
        perturbed only in training mode."""
        user_all, item_all = self.forward(perturbed=False)
        return user_all, item_all, (self.cl_weight * self.contrastive_loss(user, pos_item),)

    def contrastive_loss(self, user, pos_item) -> torch.Tensor:
        """Unweighted InfoNCE between two perturbed views (perturbed in training mode)."""
        user_1, item_1 = self.forward()
        user_2, item_2 = self.forward()
        return self.infonce_pair(user, pos_item, user_1, item_1, user_2, item_2)
