r"""The sampled batch mode on RecBole's own data pipeline.

:class:`SampledTrainDataLoader` is RecBole's ``TrainDataLoader`` with its pairwise sampler off
(so ``train_batch_size`` counts positive rows B) and a vectorised ``collate_fn`` that adds
``neg_item_id`` [B, N] and ``sampled_pos_item_id`` [B, M] from :class:`TrainingItemSampler`.
:func:`data_preparation` is RecBole's split and samplers unchanged, with this loader for training
when a loss is set; validation and test loaders are RecBole's (full-sort, history masked).
"""

from __future__ import annotations

from recbole.data import data_preparation as recbole_data_preparation
from recbole.data.interaction import Interaction
from recbole.data.utils import create_samplers, get_dataloader
from recbole.data.dataloader import TrainDataLoader

from .duplicates import drop_duplicates, install_logged_removal
from .sampler import TrainingItemSampler

# The field of the training batch holding the M sampled training positives per row, [B, M]
# (the negatives are RecBole's neg_item_id field, NEG_PREFIX + ITEM_ID_FIELD).
SAMPLED_POS_ITEM_ID = "sampled_pos_item_id"

install_logged_removal()


class SampledTrainDataLoader(TrainDataLoader):
    def __init__(self, config, dataset, sampler, shuffle=False):
        self.neg_num, self.pos_num = config["neg_num"], config["pos_num"]
        # False negatives by construction (DrRL/BSL noise experiments): this many of each row's
        # negatives are replaced by the user's own training positives.
        self.noisy_num = round((config["neg_noise_ratio"] or 0.0) * self.neg_num)
        self.item_sampler = TrainingItemSampler(
            dataset.inter_feat[dataset.uid_field],
            dataset.inter_feat[dataset.iid_field],
            n_users=dataset.user_num,
            n_items=dataset.item_num,
            distribution=config["neg_distribution"],
            alpha=config["neg_alpha"],
        )
        self.neg_item_field = config["NEG_PREFIX"] + dataset.iid_field
        check_trainable(dataset, self.item_sampler)
        super().__init__(config, dataset, sampler, shuffle=shuffle)
        if not config["single_spec"]:
            self.sampler.seed = config["seed"]  # RecBole's DistributedSampler: seed 0 otherwise

    def collate_fn(self, index):
        data = super().collate_fn(index)
        users = data[self.uid_field]
        data.update(
            Interaction(
                {
                    self.neg_item_field: self.negatives(users),
                    SAMPLED_POS_ITEM_ID: self.item_sampler.positives(users, self.pos_num),
                }
            )
        )
        return data

    def negatives(self, users):
        """[B, N] negatives; with ``neg_noise_ratio`` > 0 the first round(ratio·N) columns are the
        user's training positives drawn with replacement (the draws are i.i.d., so which columns
        carry them does not matter). Training positives, not validation or test items: the noise
        must not leak evaluation data into training."""
        neg = self.item_sampler.negatives(users, self.neg_num)
        if self.noisy_num:
            neg[:, : self.noisy_num] = self.item_sampler.positives(users, self.noisy_num)
        return neg


def check_trainable(dataset, item_sampler) -> None:
    """ValueError, before training, for a training split the sampled batch mode cannot use: no
    rows, or users whose training items are every item (no negative exists)."""
    if len(dataset) == 0:
        raise ValueError(f"the training split of dataset {dataset.dataset_name!r} is empty: nothing to train on")
    users = dataset.inter_feat[dataset.uid_field].unique()
    full = users[item_sampler.free[users] <= 0]
    if full.numel():
        tokens = [str(t) for t in dataset.id2token(dataset.uid_field, full[:5].numpy())]
        raise ValueError(
            f"users {tokens} ({full.numel()} in all) interacted with every item in training, so no "
            f"negative can be sampled for them; remove them (e.g. user_inter_num_interval) or add items"
        )


def check_topk(config, dataset) -> None:
    """ValueError, before training, when the largest ``topk`` exceeds the dataset's items (RecBole's
    full-sort ranking fails after the first epoch, or ranks the padding id, otherwise)."""
    largest, items = max(config["topk"]), dataset.item_num - 1  # id 0 is padding
    if largest > items:
        raise ValueError(
            f"topk {config['topk']} asks for top-{largest} lists but dataset {dataset.dataset_name!r} has only "
            f"{items} items; use topk values <= {items} (and a valid_metric among them)"
        )


def data_preparation(config, dataset):
    """RecBole's ``data_preparation``, with the sampled batch mode when ``config['loss']`` is set;
    first ``rm_dup_inter`` on pre-split files (:func:`~.duplicates.drop_duplicates`) and the checks
    that need the data (:func:`check_topk`)."""
    drop_duplicates(config, dataset)
    check_topk(config, dataset)
    if config["loss"] is None:
        return recbole_data_preparation(config, dataset)
    train_set, valid_set, test_set = built = dataset.build()
    _, valid_sampler, test_sampler = create_samplers(config, dataset, built)
    train_data = SampledTrainDataLoader(config, train_set, None, shuffle=config["shuffle"])
    valid_data = get_dataloader(config, "valid")(config, valid_set, valid_sampler, shuffle=False)
    test_data = get_dataloader(config, "test")(config, test_set, test_sampler, shuffle=False)
    return train_data, valid_data, test_data


__all__ = ["SAMPLED_POS_ITEM_ID", "SampledTrainDataLoader", "check_topk", "check_trainable", "data_preparation"]
