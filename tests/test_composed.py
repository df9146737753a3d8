"""The composed backbone × loss models: ranking consistency, score functions, and faithfulness to
RecBole's own backbone."""

import pytest
import torch
from recbole.data import create_dataset
from recbole.data.interaction import Interaction
from recbole.model.general_recommender import LightGCN as RecBoleLightGCN

from recbole_losses import Config
from recbole_losses.data.dataloader import data_preparation


@pytest.fixture(scope="module")
def ml100k(module_workdir):
    config = Config("LightGCN", "ml-100k", config_dict={"loss": "CW", "neg_num": 20})
    train, _, _ = data_preparation(config, create_dataset(config))
    return config, train


def build(model, loss, train, **extra):
    config = Config(model, "ml-100k", config_dict={"loss": loss, "neg_num": 20, **extra})
    torch.manual_seed(0)
    return config, config.model_class(config, train._dataset)


@pytest.mark.parametrize("model,loss", [("MF", "CW"), ("LightGCN", "SL"), ("NGCF", "BPR"), ("LightGCN", "PSL")])
def test_full_sort_predict_agrees_with_predict(ml100k, model, loss):
    _, train = ml100k
    _, m = build(model, loss, train)
    m.eval()
    users = torch.tensor([1, 5, 17])
    full = m.full_sort_predict(Interaction({"user_id": users})).view(3, -1)
    items = torch.randint(1, m.n_items, (3,))
    pointwise = m.predict(Interaction({"user_id": users, "item_id": items}))
    torch.testing.assert_close(full[torch.arange(3), items], pointwise)


def test_score_function_follows_the_loss_and_the_score_key(ml100k):
    _, train = ml100k
    assert build("MF", "CW", train)[1].score == "half_cos"
    assert build("MF", "SL", train)[1].score == "cos"
    assert build("MF", "BPR", train)[1].score == "dot"
    assert build("MF", "CW", train, score="dot")[1].score == "dot"


def test_cosine_scores_are_bounded_in_evaluation(ml100k):
    _, train = ml100k
    _, m = build("MF", "CW", train)
    m.eval()
    scores = m.full_sort_predict(Interaction({"user_id": torch.arange(1, 30)}))
    assert scores.abs().max() <= 0.5 + 1e-6  # half cosine


def test_training_batch_gives_finite_loss_and_gradients(ml100k):
    _, train = ml100k
    _, m = build("LightGCN", "CW", train)
    batch = next(iter(train))
    loss = m.calculate_loss(batch)
    total = sum(loss) if isinstance(loss, tuple) else loss
    total.backward()
    assert torch.isfinite(total)
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_composed_lightgcn_with_bpr_reproduces_recbole_lightgcn_loss(ml100k):
    """Same weights, same batch, N = 1, dot score, no regulariser: RecBole's LightGCN loss."""
    _, train = ml100k
    config, ours = build("LightGCN", "BPR", train, reg_weight=0.0)
    stock_config = Config("LightGCN", "ml-100k", config_dict={"reg_weight": 0.0})
    stock = RecBoleLightGCN(stock_config, train._dataset)
    stock.load_state_dict({k: v for k, v in ours.net.state_dict().items() if k in stock.state_dict()})
    batch = next(iter(train))
    user, pos, neg = batch["user_id"], batch["item_id"], batch["neg_item_id"][:, :1]
    ours_loss = ours.calculate_loss(Interaction({"user_id": user, "item_id": pos, "neg_item_id": neg}))
    stock_loss = stock.calculate_loss(Interaction({"user_id": user, "item_id": pos, "neg_item_id": neg[:, 0]}))
    torch.testing.assert_close(ours_loss, stock_loss.reshape(()), rtol=1e-5, atol=1e-6)  # EmbLoss makes it [1]
