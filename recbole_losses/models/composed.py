r"""Any backbone × any registered loss, as a RecBole ``GeneralRecommender``.

The composed model owns a RecBole backbone (MF, LightGCN, NGCF, ...) and a loss built from the
config. In training it reads the sampled batch mode's fields — ``neg_item_id`` [B, N] and
``sampled_pos_item_id`` [B, M] — scores them with the loss's score function and returns the loss,
followed (as separately logged terms) by ``reg_weight`` · EmbLoss on the ego embeddings of the
batch users and positives when ``reg_weight`` > 0, and by any extra terms the backbone adds.
``predict`` and ``full_sort_predict`` rank by the same score function the loss trained.

A backbone with its own pair scorer (``Backbone.pair_scores``: NeuMF, ConvNCF, ...) scores the
[B, K] candidates with it, flattened to B·K pairs in one call; its scores are used as they come
(score ``dot``), and full-sort evaluation goes through RecBole's per-pair ``predict``.
"""

from __future__ import annotations

import logging

import recbole.model.loss as recbole_loss_modules
import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.model.loss import EmbLoss
from recbole.utils import InputType

from ..losses import get_loss_class
from ..losses._checks import SettingError
from ..data.dataloader import SAMPLED_POS_ITEM_ID, available_memory
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
        if self.backbone.pair_scores is not None:
            if config["score"] not in (None, "dot"):
                raise ValueError(f"score = {config['score']!r} does not apply to {self.backbone.name}, which scores "
                                 "each (user, item) pair with its own network; use score = dot (or leave it unset)")
            self.score = "dot"
            check_pair_memory(self.net, self.backbone, config, len(dataset))
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
        net = type(self.net)
        logging.getLogger().info(
            f"model {self.backbone.name}: {net.__module__}.{net.__qualname__} trained with loss {self.loss.name} "
            f"(score {self.score})" + (f"; kept of its own objective: {self.backbone.kept}" if self.backbone.kept else "")
        )

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
        # The modes are set without calling train()/eval(): a backbone's own train() may do an
        # epoch's work (SGL redraws its views, NCL runs its E-step).
        _set_mode(self, False)
        try:
            if self.backbone.pair_scores is not None:
                return self._pair_scores(user, items)
            user_all, item_all = self.embeddings()
        finally:
            _set_mode(self, was_training)
        return candidate_scores(user_all[user], item_all, items)

    def _pair_scores(self, user: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """[B, K] scores of ``items`` for ``user`` [B] by the backbone's own pair scorer."""
        flat_user = user.repeat_interleave(items.shape[1])
        return self.backbone.pair_scores(self.net, flat_user, items.reshape(-1)).view(items.shape)

    def calculate_loss(self, interaction):
        self.restore_user_e = self.restore_item_e = None
        user = interaction[self.USER_ID]
        pos_item = interaction[self.ITEM_ID]
        neg_item = interaction[self.NEG_ITEM_ID]  # [B, N]
        sampled_pos = interaction[SAMPLED_POS_ITEM_ID] if SAMPLED_POS_ITEM_ID in interaction else None
        # One scoring pass over [positive | N negatives | M sampled positives], then split.
        candidates = torch.cat([pos_item.unsqueeze(1), neg_item] + ([] if sampled_pos is None else [sampled_pos]), dim=1)
        if self.backbone.pair_scores is not None:
            scores, extra_losses = self._pair_scores(user, candidates), ()
        else:
            user_rows, item_all, extra_losses = self.backbone.training_embeddings(self.net, user, pos_item)
            user_e, item_e = transform_embeddings(user_rows, item_all, self.score)
            scores = candidate_scores(user_e, item_e, candidates)
        # One split, not three slices: its backward writes the [B, 1 + N + M] gradient once, where
        # each slice's would allocate a zero [B, 1 + N + M] tensor, copy into it and add it up.
        sizes = [1, neg_item.shape[1]] + ([] if sampled_pos is None else [sampled_pos.shape[1]])
        pos_score, neg_score, *rest = torch.split(scores, sizes, dim=1)  # [B, 1], [B, N], [B, M]
        pos_score, sampled_pos_score = pos_score.squeeze(1), rest[0] if rest else None
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
        user, item = interaction[self.USER_ID], interaction[self.ITEM_ID]
        if self.backbone.pair_scores is not None:
            return self.backbone.pair_scores(self.net, user, item)
        user_all, item_all = self.embeddings()
        return (user_all[user] * item_all[item]).sum(dim=1)

    def full_sort_predict(self, interaction):
        if self.backbone.pair_scores is not None:
            # The model's own full ranking where it has one (DMF, FISM, NAIS); otherwise RecBole's
            # NotImplementedError, and RecBole's trainer ranks every item through predict.
            return self.net.full_sort_predict(interaction)
        if self.restore_user_e is None or self.restore_item_e is None:
            # Detached: with the dot score these are the embedding Parameters themselves, which as
            # module attributes would be registered as parameters and land in the state dict.
            self.restore_user_e, self.restore_item_e = (e.detach() for e in self.embeddings())
        user = interaction[self.USER_ID]
        return (self.restore_user_e[user] @ self.restore_item_e.T).view(-1)


def pair_step_bytes(net: torch.nn.Module, pair_scores, probes: tuple[int, int] = (8, 40)) -> float:
    """Bytes one training step keeps per scored (user, item) pair with the pair scorer: the
    tensors autograd saves for the backward pass, measured on two small random batches of pairs
    (the difference, so the parameters saved once do not count), plus the score and its gradient."""
    sizes = []
    for n in probes:
        saved = [0]

        def pack(t, saved=saved):
            saved[0] += t.numel() * t.element_size()
            return t

        user = torch.randint(1, net.n_users, (n,), device=net.device)
        item = torch.randint(1, net.n_items, (n,), device=net.device)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            pair_scores(net, user, item)
        sizes.append(saved[0])
    return max(sizes[1] - sizes[0], 0) / (probes[1] - probes[0]) + 8


def check_pair_memory(net, backbone: Backbone, config, train_rows: int, available: int | None = None) -> None:
    """ValueError, when the model is built, if one sampled-batch step through ``backbone``'s pair
    scorer (train_batch_size rows × (1 + neg_num + pos_num) pairs × the bytes it keeps per pair)
    needs more memory than ``config['device']`` has free; names the figures and a neg_num that fits."""
    batch = max(1, min(int(config["train_batch_size"]), train_rows))
    candidates = 1 + config["neg_num"] + config["pos_num"]
    per_pair = pair_step_bytes(net, backbone.pair_scores)
    needed = batch * candidates * per_pair
    available = available_memory(config["device"]) if available is None else available
    if available is None or needed <= available:
        return
    fitting = int(available // (batch * per_pair)) - 1 - config["pos_num"]
    advice = f"neg_num <= {fitting:,} would fit" if fitting >= 1 else "no neg_num fits at this train_batch_size"
    raise ValueError(
        f"{backbone.name} cannot be trained with a loss at these settings: it scores every candidate (user, item) "
        f"pair with its own network, keeping ~{per_pair / 1024:,.1f} KB per pair for the backward pass, so a step of "
        f"{batch} rows x {candidates:,} candidates needs ~{needed / 2**30:,.1f} GB but {config['device']} has "
        f"{available / 2**30:,.1f} GB free ({advice}, or a smaller train_batch_size)"
    )


def _set_mode(module: torch.nn.Module, training: bool) -> None:
    for m in module.modules():
        m.training = training


def compose(backbone: Backbone, module: str = __name__) -> type:
    # A module-level class per backbone, named like the backbone so RecBole's Config loads the
    # backbone's own YAML defaults and logs/checkpoints carry the familiar name; being importable
    # as recbole_losses.models.composed.<name>, it pickles inside checkpoints.
    return type(
        backbone.name,
        (LossRecommender,),
        {"backbone": backbone, "__module__": module, "__qualname__": backbone.name,
         "__doc__": f"{backbone.name} backbone trained with the configured loss."},
    )


COMPOSED: dict[str, type] = {name: compose(b) for name, b in BACKBONES.items()}
globals().update(COMPOSED)
