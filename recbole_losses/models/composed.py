r"""Any backbone × any registered loss, as a RecBole ``GeneralRecommender``.

The composed model owns a RecBole backbone (MF, LightGCN, NGCF, ...) and a loss built from the
config. In training it reads the sampled batch mode's fields — ``neg_item_id`` [B, N] and
``sampled_pos_item_id`` [B, M] — scores them with the loss's score function and returns the loss,
followed (as separately logged terms) by ``reg_weight`` · EmbLoss on the ego embeddings of the
batch users and positives when ``reg_weight`` > 0, and by any extra terms the backbone adds.
``predict`` and ``full_sort_predict`` rank by the same score function the loss trained.
"""

from __future__ import annotations

import recbole.model.loss as recbole_loss_modules
import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.model.loss import EmbLoss
from recbole.utils import InputType

from ..losses import get_loss_class
from ..losses._checks import SettingError
from ..data.dataloader import SAMPLED_POS_ITEM_ID
from ..scoring import candidate_scores, transform_embeddings
from .backbones import BACKBONES, Backbone


class LossRecommender(GeneralRecommender):
    input_type = InputType.PAIRWISE
    backbone: Backbone  # set by each composed subclass

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.net = self.backbone.recbole_class(config, dataset)
        # The backbone's own training loss (RecBole's BPRLoss, EmbLoss, ...) is replaced by the
        # configured loss: its modules (no parameters) go, so the model shows what trains.
        for name, child in list(self.net.named_children()):
            if type(child).__module__ == recbole_loss_modules.__name__:
                delattr(self.net, name)
        loss_class = get_loss_class(config["loss"])
        self.loss = loss_class.from_config(config)
        self.score = config["score"] or self.loss.default_score
        self.reg_weight = float(config["reg_weight"] or 0.0)
        if self.reg_weight > 0:
            self.reg_loss = EmbLoss()
        # The names of the terms calculate_loss returns, for the train loss line.
        self.loss_term_names = (self.loss.name, *(("reg",) if self.reg_weight > 0 else ()), *self.backbone.extra_terms)
        items = dataset.inter_feat[self.ITEM_ID]
        try:
            self.loss.setup(
                n_users=self.n_users,
                n_items=self.n_items,
                item_counts=torch.bincount(items, minlength=self.n_items),
            )
        except SettingError as err:  # a setting that does not fit this dataset (SL@K's K)
            raise ValueError(f"{loss_class.prefix}{err.name} = {err.value!r} does not fit dataset "
                             f"{dataset.dataset_name!r}: {err}") from None
        self.loss.attach(scorer=self.score_candidates, train_user=dataset.inter_feat[self.USER_ID], train_item=items)
        self.restore_user_e = self.restore_item_e = None
        self.other_parameter_name = ["restore_user_e", "restore_item_e"]

    def embeddings(self):
        """All (user, item) embeddings transformed for the score function."""
        user_e, item_e = self.backbone.embeddings(self.net)
        return transform_embeddings(user_e, item_e, self.score)

    @torch.no_grad()
    def score_candidates(self, user: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores [R, L] of ``items`` [R, L] for ``user`` [R] by the current parameters and the
        score function, as evaluation computes them (eval mode, no gradient): what a loss
        estimates its state from."""
        was_training = self.training
        self.eval()
        try:
            user_all, item_all = self.embeddings()
        finally:
            self.train(was_training)
        return candidate_scores(user_all[user], item_all, items)

    def calculate_loss(self, interaction):
        self.restore_user_e = self.restore_item_e = None
        user = interaction[self.USER_ID]
        pos_item = interaction[self.ITEM_ID]
        neg_item = interaction[self.NEG_ITEM_ID]  # [B, N]
        sampled_pos = interaction[SAMPLED_POS_ITEM_ID] if SAMPLED_POS_ITEM_ID in interaction else None
        user_all, item_all, extra_losses = self.backbone.training_embeddings(self.net, user, pos_item)
        user_e, item_e = transform_embeddings(user_all[user], item_all, self.score)
        # One scoring pass over [positive | N negatives | M sampled positives], then split.
        candidates = [pos_item.unsqueeze(1), neg_item] + ([] if sampled_pos is None else [sampled_pos])
        scores = candidate_scores(user_e, item_e, torch.cat(candidates, dim=1))
        pos_score, neg_score = scores[:, 0], scores[:, 1 : 1 + neg_item.shape[1]]  # [B], [B, N]
        sampled_pos_score = None if sampled_pos is None else scores[:, 1 + neg_item.shape[1] :]  # [B, M]
        loss = self.loss(
            pos_score,
            neg_score,
            sampled_pos_score=sampled_pos_score,
            user=user,
            pos_item=pos_item,
            neg_item=neg_item,
        )
        terms = (loss, *extra_losses)
        if self.reg_weight > 0:
            ego_user, ego_item = self.backbone.ego_embeddings(self.net)
            terms = (loss, self.reg_weight * self.reg_loss(ego_user[user], ego_item[pos_item]), *extra_losses)
        return terms if len(terms) > 1 else loss

    def predict(self, interaction):
        user_all, item_all = self.embeddings()
        user, item = interaction[self.USER_ID], interaction[self.ITEM_ID]
        return (user_all[user] * item_all[item]).sum(dim=1)

    def full_sort_predict(self, interaction):
        if self.restore_user_e is None or self.restore_item_e is None:
            # Detached: with the dot score these are the embedding Parameters themselves, which as
            # module attributes would be registered as parameters and land in the state dict.
            self.restore_user_e, self.restore_item_e = (e.detach() for e in self.embeddings())
        user = interaction[self.USER_ID]
        return (self.restore_user_e[user] @ self.restore_item_e.T).view(-1)


def _compose(backbone: Backbone) -> type:
    # A module-level class per backbone, named like the backbone so RecBole's Config loads the
    # backbone's own YAML defaults and logs/checkpoints carry the familiar name; being importable
    # as recbole_losses.models.composed.<name>, it pickles inside checkpoints.
    return type(
        backbone.name,
        (LossRecommender,),
        {"backbone": backbone, "__module__": __name__, "__qualname__": backbone.name,
         "__doc__": f"{backbone.name} backbone trained with the configured loss."},
    )


COMPOSED: dict[str, type] = {name: _compose(b) for name, b in BACKBONES.items()}
globals().update(COMPOSED)
