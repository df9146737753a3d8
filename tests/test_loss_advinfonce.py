"""AdvInfoNCE against a naive loop written from docs/losses.md, its schedule, and its messages."""

import math

import pytest
import torch

from recbole_losses import build_loss
from recbole_losses.losses import AdvInfoNCE


def data(seed=0, b=5, n=8, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, generator=g, dtype=dtype) * 2 - 1, torch.rand(b, n, generator=g, dtype=dtype) * 2 - 1


def naive_advinfonce(pos, neg, p, tau, k):
    out = 0.0
    for b in range(len(pos)):
        n = len(neg[b])
        numerator = math.exp(pos[b] / tau)
        weighted = k * n * sum(p[b][j] * math.exp(neg[b][j] / tau) for j in range(n))
        out += -math.log(numerator / (numerator + weighted))
    return out / len(pos)


def cosine(x, y):
    return sum(a * b for a, b in zip(x, y)) / math.sqrt(sum(a * a for a in x) * sum(b * b for b in y))


@pytest.mark.parametrize("tau,k", [(0.1, 64.0), (0.5, 1.0), (1.0, 10.0)])
def test_matches_naive_loop_with_uniform_hardness(tau, k):
    pos, neg = data(1)
    got = build_loss("AdvInfoNCE", tau=tau, neg_weight=k)(pos, neg)
    uniform = [[1 / 8] * 8 for _ in range(5)]
    assert got.item() == pytest.approx(naive_advinfonce(pos.tolist(), neg.tolist(), uniform, tau, k), rel=1e-12)


def test_matches_naive_loop_with_the_adversary():
    pos, neg = data(2)
    loss = AdvInfoNCE(tau=0.2, neg_weight=64.0, adv_dim=4)
    loss.setup(n_users=3, n_items=12, item_counts=torch.ones(12))
    loss.double()
    user = torch.tensor([0, 2, 1, 1, 0])
    neg_item = torch.randint(0, 12, (5, 8), generator=torch.Generator().manual_seed(0))
    got = loss(pos, neg, user=user, neg_item=neg_item)
    au, ai = loss.adv_user.weight.tolist(), loss.adv_item.weight.tolist()
    p = []
    for b in range(5):
        logits = [cosine(au[user[b]], ai[j]) for j in neg_item[b].tolist()]
        z = sum(math.exp(x) for x in logits)
        p.append([math.exp(x) / z for x in logits])
    assert got.item() == pytest.approx(naive_advinfonce(pos.tolist(), neg.tolist(), p, 0.2, 64.0), rel=1e-12)


def test_positive_is_in_the_denominator():
    # One negative scoring like the positive, k = 1: -log(1 / (1 + 1)) = log 2.
    loss = AdvInfoNCE(tau=0.1, neg_weight=1.0)
    assert loss(torch.tensor([0.3]), torch.tensor([[0.3]])).item() == pytest.approx(math.log(2.0))


def test_schedule_and_groups():
    loss = AdvInfoNCE(adv_interval=5, adv_lr=5e-5)
    assert all(loss.trains_model(e) for e in range(10))  # no adversary before setup
    loss.setup(n_users=4, n_items=6, item_counts=torch.ones(6))
    assert [e for e in range(15) if not loss.trains_model(e)] == [4, 9, 14]
    (group,) = loss.optimizer_groups(lr=0.1, weight_decay=1e-4)
    assert group["lr"] == 5e-5 and group["maximize"] is True and group["weight_decay"] == 1e-4
    assert group["params"] == [loss.adv_user.weight, loss.adv_item.weight]
    for epoch in range(10):
        loss.on_epoch_start(epoch)
        assert loss.adv_user.weight.requires_grad is (epoch in (4, 9))
        assert loss.adv_item.weight.requires_grad is (epoch in (4, 9))
    no_adv = AdvInfoNCE(adv_lr=0.0)
    no_adv.setup(n_users=4, n_items=6, item_counts=torch.ones(6))
    assert all(no_adv.trains_model(e) for e in range(10))


def test_state_dict_holds_the_adversary():
    loss = AdvInfoNCE(adv_dim=3)
    assert loss.state_dict() == {}
    loss.setup(n_users=4, n_items=6, item_counts=torch.ones(6))
    assert {k: tuple(v.shape) for k, v in loss.state_dict().items()} == {"adv_user.weight": (4, 3), "adv_item.weight": (6, 3)}


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"tau": 0.0}, "AdvInfoNCE: tau must be a number > 0, got 0.0"),
        ({"neg_weight": -64}, "AdvInfoNCE: neg_weight must be a number > 0, got -64.0"),
        ({"adv_lr": -1e-5}, "AdvInfoNCE: adv_lr must be a number >= 0, got -1e-05"),
        ({"adv_interval": 0}, "AdvInfoNCE: adv_interval must be an integer >= 1, got 0"),
        ({"adv_dim": 1.5}, "AdvInfoNCE: adv_dim must be an integer >= 1, got 1.5"),
    ],
)
def test_bad_hyperparameters_have_exact_messages(kwargs, message):
    with pytest.raises(ValueError) as err:
        AdvInfoNCE(**kwargs)
    assert str(err.value) == message
