"""Every registered loss trains every RecBole model the adapter takes (one training step on
ml-100k): a finite loss whose gradient reaches the model's own parameters. The full cycle (train,
evaluate, checkpoint, resume, load) per model is in test_adapter.py; our own backbones × every
loss are in test_scoring.py."""

import pytest
import torch
from recbole.data import create_dataset

from conftest import STATE
from recbole_losses import Config
from recbole_losses.data.dataloader import data_preparation
from recbole_losses.losses import available_losses
from recbole_losses.models import adaptable_models

SMALL = {"neg_num": 8, "pos_num": 2, "train_batch_size": 64}  # each model at its own embedding size


@pytest.fixture(scope="module")
def batch_and_dataset(module_workdir):
    config = Config("MF", "ml-100k", config_dict={"loss": "SL", **SMALL})
    train, _, _ = data_preparation(config, create_dataset(config))
    return next(iter(train)), train._dataset


@pytest.mark.parametrize("model", adaptable_models())
@pytest.mark.parametrize("loss", available_losses())
def test_every_loss_trains_every_adapted_model(batch_and_dataset, model, loss):
    batch, dataset = batch_and_dataset
    config = Config(model, "ml-100k", config_dict={"loss": loss, **SMALL, **STATE.get(loss, {})})
    torch.manual_seed(0)
    net = config.model_class(config, dataset)
    net.train()
    out = net.calculate_loss(batch)
    total = sum(out) if isinstance(out, tuple) else out
    assert torch.isfinite(total), (model, loss, out)
    total.backward()
    own = [p for name, p in net.named_parameters() if not name.startswith("loss.")]
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in own), (model, loss)
