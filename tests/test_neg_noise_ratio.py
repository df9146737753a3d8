"""neg_noise_ratio: a share of each row's negatives replaced by the user's own training positives."""

import pytest
import torch
from recbole.data import create_dataset

from recbole_losses.config import Config
from recbole_losses.data.dataloader import data_preparation


def train_loader(**settings):
    config = Config("MF", "ml-100k", config_dict={"loss": "SL", "train_batch_size": 256, "state": "WARNING", **settings})
    return data_preparation(config, create_dataset(config))[0]


@pytest.mark.parametrize("ratio,noisy", [(0.0, 0), (0.25, 10), (0.5, 20)])
def test_each_row_gets_exactly_its_share_of_training_positives(workdir, ratio, noisy):
    loader = train_loader(neg_num=40, neg_noise_ratio=ratio)
    batch = next(iter(loader))
    users, neg = batch[loader.uid_field], batch[loader.neg_item_field]
    assert neg.shape == (users.shape[0], 40)
    is_pos = loader.item_sampler.is_training_positive(users, neg)
    # The noisy entries are the user's own training items (never validation or test items: the
    # sampler is built from the training split only), the rest are true negatives.
    assert is_pos.sum(1).tolist() == [noisy] * users.shape[0]
    assert bool(is_pos[:, :noisy].all()) and not bool(is_pos[:, noisy:].any())


def test_noise_items_vary_and_cover_several_positives(workdir):
    loader = train_loader(neg_num=20, neg_noise_ratio=0.5)
    batch = next(iter(loader))
    noisy = batch[loader.neg_item_field][:, :10]
    assert (noisy != noisy[:, :1]).any(1).float().mean() > 0.5  # drawn per entry, not one item per row


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, "half", True])
def test_invalid_ratio_is_rejected(bad):
    with pytest.raises(ValueError, match="neg_noise_ratio must be a number in \\[0, 1\\)"):
        Config("MF", "ml-100k", config_dict={"loss": "SL", "neg_noise_ratio": bad})


def test_default_is_clean():
    assert Config("MF", "ml-100k", config_dict={"loss": "SL"})["neg_noise_ratio"] == 0.0
