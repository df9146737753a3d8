r"""AdvInfoNCE: InfoNCE with adversarially learned negative hardness.

Reference: Zhang et al., "Empowering Collaborative Filtering with Principled Adversarial
Contrastive Loss", NeurIPS 2023. Reference code: Tiny-Snow/IR-Benchmark ``optim_AdvInfoNCE.py``
(the AdvInfoNCE of the PSL and SL@K tables; the default here) and the authors'
LehengTHU/AdvInfoNCE ``model.py``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..scoring import candidate_scores
from ._checks import check_int, check_nonnegative, check_positive
from .base import RankingLoss
from .registry import register_loss


@register_loss
class AdvInfoNCE(RankingLoss):
    r"""InfoNCE (positive in the denominator) whose negatives are reweighted by an adversary.

    .. math::
        \ell_{ui} = -\log \frac{e^{r_{ui}/\tau}}{e^{r_{ui}/\tau} + k\,N \sum_{j=1}^{N} p_{uj}\, e^{r_{uj}/\tau}}
        = \operatorname{softplus}\Big(\log(kN) + \operatorname{logsumexp}_j\big(\log p_{uj} + d_{uij}/\tau\big)\Big)

    p_u· = softmax over the row's N negatives of the adversary's logits cos(a_u, a_j), where
    a_u, a_j are adversary embeddings of dimension ``adv_dim`` (N(0, 1) initialised, created by
    :meth:`setup`). Uniform p gives InfoNCE with the negatives weighted by k.

    Schedule (IR-Benchmark): in every epoch e with (e + 1) mod ``adv_interval`` = 0 the whole
    epoch updates only the adversary, by gradient **ascent** on the loss (Adam group with
    ``maximize``, learning rate ``adv_lr``, the model's weight decay) while the model is frozen;
    in all other epochs only the model trains (the adversary is frozen).

    With ``adv_lr`` = 0 there are no adversarial epochs (p stays at its initialisation).

    Note: the authors' code uses a dot-product adversary, one extra adversarial pass at the
    start of epochs with (e + 3) mod interval = 0 and at most ``eta_epochs`` such passes; the
    published tables used the schedule above. Before :meth:`setup`, or without ``user`` and
    ``neg_item``, p is uniform. Default score: cosine (full-cosine τ scale).
    Args (defaults in the signature): tau > 0; neg_weight k > 0; adv_lr >= 0; adv_interval >= 1;
    adv_dim >= 1.
    """

    name = "AdvInfoNCE"
    prefix = "advinfonce_"
    default_score = "cos"

    def __init__(
        self,
        tau: float = 0.1,
        neg_weight: float = 64.0,
        adv_lr: float = 5e-5,
        adv_interval: int = 5,
        adv_dim: int = 64,
    ):
        super().__init__()
        self.tau = check_positive(self.name, "tau", tau)
        self.neg_weight = check_positive(self.name, "neg_weight", neg_weight)
        self.adv_lr = check_nonnegative(self.name, "adv_lr", adv_lr)
        self.adv_interval = check_int(self.name, "adv_interval", adv_interval, 1)
        self.adv_dim = check_int(self.name, "adv_dim", adv_dim, 1)
        self.adv_user: nn.Embedding | None = None
        self.adv_item: nn.Embedding | None = None

    def setup(self, *, n_users: int, n_items: int, item_counts: torch.Tensor) -> None:
        self.adv_user = nn.Embedding(n_users, self.adv_dim).to(item_counts.device)
        self.adv_item = nn.Embedding(n_items, self.adv_dim).to(item_counts.device)
        self._set_adversary_trainable(False)

    def is_adversarial_epoch(self, epoch: int) -> bool:
        """Epochs (0-based) that train only the adversary; none without one or with adv_lr = 0."""
        return self.adv_user is not None and self.adv_lr > 0 and (epoch + 1) % self.adv_interval == 0

    def optimizer_groups(self, *, lr: float, weight_decay: float) -> list[dict]:
        if self.adv_user is None:
            return []
        params = [self.adv_user.weight, self.adv_item.weight]
        return [{"params": params, "lr": self.adv_lr, "weight_decay": weight_decay, "maximize": True}]

    def trains_model(self, epoch: int) -> bool:
        return not self.is_adversarial_epoch(epoch)

    def on_epoch_start(self, epoch: int) -> None:
        self._set_adversary_trainable(self.is_adversarial_epoch(epoch))

    def _set_adversary_trainable(self, flag: bool) -> None:
        if self.adv_user is not None:
            self.adv_user.weight.requires_grad_(flag)
            self.adv_item.weight.requires_grad_(flag)

    def log_hardness(self, user: torch.Tensor, neg_item: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """log p [B, N]: the adversary's log-softmax over the row's negatives."""
        a_u = F.normalize(self.adv_user(user), dim=-1)  # [B, d]
        a_items = F.normalize(self.adv_item.weight, dim=-1)  # [I, d]: once per step, not per negative
        logits = candidate_scores(a_u, a_items, neg_item)  # [B, N] cosines
        return torch.log_softmax(logits.to(dtype), dim=1)

    def row_loss(self, pos_score, neg_score, *, user=None, neg_item=None, **context):
        n = neg_score.shape[1]
        d = neg_score - pos_score.unsqueeze(1)  # [B, N]
        if self.adv_user is not None and user is not None and neg_item is not None:
            log_p = self.log_hardness(user, neg_item, d.dtype)
        else:
            log_p = torch.full_like(d, -math.log(n))
        x = math.log(self.neg_weight * n) + torch.logsumexp(log_p + d / self.tau, dim=1)  # [B]
        return torch.logaddexp(torch.zeros_like(x), x)  # softplus, exact (no linear cut-off)
