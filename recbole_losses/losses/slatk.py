r"""SL@K: the Top-K Softmax Loss (SoftmaxLoss@K).

Reference: Yang et al., "Breaking the Top-K Barrier: Advancing Top-K Ranking Metrics Optimization
in Recommender Systems", KDD 2025. Reference code: Tiny-Snow/IR-Benchmark ``optim_SLatK.py``
(the SL@K of the published tables; quantile by sorting, sigmoid weight).
"""

from __future__ import annotations

import torch

from ._checks import check_int, check_interval, check_number, check_positive
from .base import RankingLoss
from .registry import register_loss


@register_loss
class SLatK(RankingLoss):
    r"""SL weighted by a smooth indicator that the positive is in the user's top K.

    .. math:: \ell_{ui} = w_{ui} \log \sum_{j=1}^{N} \exp(d_{uij}/\tau), \qquad
              w_{ui} = \operatorname{sigmoid}\big((r_{ui} - \beta_u^K)/\tau_w\big)

    β_u^K is a per-user buffer: the K-th largest of the scores of all of u's training
    positives and the N negatives of one of u's rows, refreshed (no gradient) after every
    optimiser step of the epochs e with (e + 1) mod T_β = 0, for the users of that batch, from
    scores recomputed with the just-updated model (last write wins). It starts at
    ``beta_init``. The weight is **not** detached (the gradient flows through r_ui in the
    sigmoid), as in the reference.

    Note: like the reference, each user's positive list is cut to the ``pos_quantile`` quantile
    of the list lengths (keeping the smallest item ids) before the sort; 1.0 keeps all. Without
    the composed model's scorer (:meth:`attach`), the refresh uses the scores the loss saw in
    the batch (the row's positive, sampled positives and negatives). Before :meth:`setup`, or
    without ``user``, β = ``beta_init`` for every row. Default score: cosine.
    Args (defaults in the signature): tau > 0, tau_w > 0, k >= 1, t_beta >= 1, beta_init any
    number, pos_quantile in (0, 1].
    """

    name = "SL@K"
    prefix = "slatk_"
    aliases = ("SLatK",)
    default_score = "cos"
    step_state = {"beta": "mean"}  # combined across ranks after every step (base class)

    def __init__(
        self,
        tau: float = 0.1,
        tau_w: float = 2.25,
        k: int = 20,
        t_beta: int = 20,
        beta_init: float = 0.0,
        pos_quantile: float = 0.9,
    ):
        super().__init__()
        self.tau = check_positive(self.name, "tau", tau)
        self.tau_w = check_positive(self.name, "tau_w", tau_w)
        self.k = check_int(self.name, "k", k, 1)
        self.t_beta = check_int(self.name, "t_beta", t_beta, 1)
        self.beta_init = check_number(self.name, "beta_init", beta_init)
        self.pos_quantile = check_interval(self.name, "pos_quantile", pos_quantile, 0.0, 1.0, closed="right")
        self.register_buffer("beta", None)  # [n_users], persistent: checkpoints hold it
        self.register_buffer("pos_table", None, persistent=False)  # [n_users, L] item ids
        self.register_buffer("pos_mask", None, persistent=False)  # [n_users, L] valid entries
        self._scorer = None
        self._refresh = False
        self._pending = None

    # -- state --------------------------------------------------------------------------------

    def setup(self, *, n_users: int, n_items: int, item_counts: torch.Tensor) -> None:
        # K ranks among the dataset's items (RecBole's n_items counts the padding id 0).
        check_int(self.name, "k", self.k, 1, n_items - 1, maximum_name="the dataset's items")
        self.beta = torch.full((n_users,), self.beta_init, dtype=torch.float32, device=item_counts.device)

    def attach(self, *, scorer, train_user: torch.Tensor, train_item: torch.Tensor) -> None:
        self._scorer = scorer
        n_users = self.beta.shape[0] if self.beta is not None else int(train_user.max()) + 1
        self.pos_table, self.pos_mask = _padded_positives(train_user, train_item, n_users, self.pos_quantile)

    def on_epoch_start(self, epoch: int) -> None:
        self._refresh = (epoch + 1) % self.t_beta == 0
        self._pending = None

    @torch.no_grad()
    def refresh_beta(self, user: torch.Tensor, scores: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        """β[user] ← the K-th largest entry of each row of ``scores`` [R, L] (entries where
        ``valid`` is False are ignored; rows with fewer than K valid entries take their
        smallest valid one). For a user in several rows, one of them wins."""
        if valid is not None:
            scores = scores.masked_fill(~valid, float("-inf"))
        k = min(self.k, scores.shape[1])
        kth = torch.topk(scores, k, dim=1).values  # [R, k] descending
        if valid is not None:
            # Fewer than K valid entries: the smallest valid one.
            n_valid = valid.sum(dim=1).clamp(min=1, max=k)
            kth = kth.gather(1, (n_valid - 1).unsqueeze(1)).squeeze(1)
        else:
            kth = kth[:, -1]
        self.beta[user] = kth.to(self.beta.dtype)

    def after_step(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        user, neg_item, seen = pending
        if self._scorer is not None and self.pos_table is not None and neg_item is not None:
            pos_items = self.pos_table[user]  # [R, L]
            scores = self._scorer(user, torch.cat([pos_items, neg_item], dim=1))  # [R, L + N]
            valid = torch.cat([self.pos_mask[user], torch.ones_like(neg_item, dtype=torch.bool)], dim=1)
            self.refresh_beta(user, scores, valid)
        else:  # the scores the loss saw: positive, sampled positives, negatives
            self.refresh_beta(user, torch.cat([t for t in seen if t is not None], dim=1))

    # -- loss ---------------------------------------------------------------------------------

    def row_loss(self, pos_score, neg_score, *, sampled_pos_score=None, user=None, neg_item=None, **context):
        d = neg_score - pos_score.unsqueeze(1)  # [B, N]
        softmax = torch.logsumexp(d / self.tau, dim=1)  # [B]
        return self.quantile_weight(pos_score, neg_score, sampled_pos_score, user, neg_item) * softmax

    def quantile_weight(self, pos_score, neg_score, sampled_pos_score, user, neg_item) -> torch.Tensor:
        """w_ui = sigmoid((r_ui − β_u)/τ_w) [B], not detached; in a refresh epoch (training, with
        gradients) it also keeps what :meth:`after_step` refreshes β from."""
        if self.beta is not None and user is not None:
            beta = self.beta[user].to(pos_score.dtype)  # [B]
            if self._refresh and self.training and torch.is_grad_enabled():
                seen = (pos_score.detach().unsqueeze(1), _detach(sampled_pos_score), neg_score.detach())
                self._pending = (user, neg_item, seen)
        else:
            beta = torch.full_like(pos_score, self.beta_init)
        return torch.sigmoid((pos_score - beta) / self.tau_w)  # [B], not detached


def _detach(t):
    return None if t is None else t.detach()


def _padded_positives(user: torch.Tensor, item: torch.Tensor, n_users: int, quantile: float):
    """Each user's training items in ascending id order, padded to a [n_users, L] table (and
    its validity mask), L = the ``quantile`` quantile of the (non-empty) list lengths, linearly
    interpolated and truncated to an int, as the reference's ``int(np.percentile(lengths, 90))``."""
    user, item = user.long().cpu(), item.long().cpu()
    order = torch.argsort(user * (int(item.max()) + 1 if item.numel() else 1) + item)
    user, item = user[order], item[order]
    counts = torch.bincount(user, minlength=n_users)
    if quantile < 1.0:
        length = int(torch.quantile(counts[counts > 0].double(), quantile).item())
    else:
        length = int(counts.max().item()) if counts.numel() else 0
    length = max(length, 1)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(user.numel()) - starts[user]  # position of each item in its user's list
    keep = rank < length
    table = torch.zeros(n_users, length, dtype=torch.long)
    mask = torch.zeros(n_users, length, dtype=torch.bool)
    table[user[keep], rank[keep]] = item[keep]
    mask[user[keep], rank[keep]] = True
    return table, mask
