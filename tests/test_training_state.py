"""Training-time state of the stateful losses: the updates on toy cases computed by hand, and the
trainer mechanism (optimiser groups, epoch/step hooks, frozen model, checkpoints, resuming) on a
tiny synthetic RecBole dataset."""

import math
import os

import pytest
import torch

from recbole_losses import LOSSES, build_loss
from recbole_losses.checkpoint import load_checkpoint
from recbole_losses.losses import LLPAUC, AdvInfoNCE, DrRL, SLatK
from recbole_losses.losses.slatk import _padded_positives
from conftest import STATE, STATEFUL

# ---------------------------------------------------------------------------------------------
# SL@K: beta_u is the K-th largest of the scores it was estimated from
# ---------------------------------------------------------------------------------------------


def test_slatk_refresh_takes_the_kth_largest_score():
    loss = SLatK(k=2, beta_init=-9.0)
    loss.setup(n_users=3, n_items=5, item_counts=torch.ones(5))
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.3], [0.2, -0.1, 0.4, 0.0]])
    loss.refresh_beta(torch.tensor([0, 2]), scores)
    assert loss.beta.tolist() == pytest.approx([0.5, -9.0, 0.2])
    # Invalid entries are ignored; a row with fewer than K valid entries takes its smallest one.
    valid = torch.tensor([[False, False, True, True], [False, True, False, False]])
    loss.refresh_beta(torch.tensor([0, 1]), scores, valid)
    assert loss.beta.tolist() == pytest.approx([0.3, -0.1, 0.2])


def test_slatk_padded_positives_cut_at_the_length_quantile():
    user = torch.tensor([1, 1, 1, 2, 3, 3, 3, 3, 3, 4, 4])
    item = torch.tensor([7, 2, 5, 9, 8, 1, 6, 3, 4, 0, 5])
    # Lengths of the non-empty lists [3, 1, 5, 2]: numpy's 90th percentile is 4.4 -> L = 4.
    table, mask = _padded_positives(user, item, n_users=5, quantile=0.9)
    assert table.shape == (5, 4)
    assert [table[u][mask[u]].tolist() for u in range(5)] == [[], [2, 5, 7], [9], [1, 3, 4, 6], [0, 5]]
    table, mask = _padded_positives(user, item, n_users=5, quantile=1.0)
    assert table[3][mask[3]].tolist() == [1, 3, 4, 6, 8]


def test_slatk_refresh_after_step_from_the_model_scores():
    """In a refresh epoch, after the step: beta_u = K-th largest model score over u's training
    positives and the row's negatives, computed by hand here."""
    g = torch.Generator().manual_seed(0)
    model_scores = torch.rand(4, 10, generator=g)  # the "model": a fixed [n_users, n_items] table
    train_user = torch.tensor([1, 1, 1, 2, 2, 3, 3, 3, 3])
    train_item = torch.tensor([0, 4, 6, 1, 2, 3, 5, 7, 9])
    loss = SLatK(k=3, t_beta=2, pos_quantile=1.0)
    loss.setup(n_users=4, n_items=10, item_counts=torch.ones(10))
    loss.attach(scorer=lambda u, items: model_scores[u.unsqueeze(1), items], train_user=train_user, train_item=train_item)
    user = torch.tensor([3, 1])
    neg_item = torch.tensor([[0, 2], [3, 8]])
    pos, neg = torch.rand(2, requires_grad=True), torch.rand(2, 2, requires_grad=True)

    loss.on_epoch_start(0)  # (0 + 1) % 2 != 0: no refresh
    loss(pos, neg, user=user, neg_item=neg_item).backward()
    loss.after_step()
    assert loss.beta.tolist() == [0.0] * 4

    loss.on_epoch_start(1)  # refresh epoch
    loss(pos, neg, user=user, neg_item=neg_item).backward()
    loss.after_step()
    for u, negs in ((3, [0, 2]), (1, [3, 8])):
        candidates = [i for uu, i in zip(train_user.tolist(), train_item.tolist()) if uu == u] + negs
        want = sorted((model_scores[u, i].item() for i in candidates), reverse=True)[2]
        assert loss.beta[u].item() == want
    assert loss.beta[0].item() == 0.0 and loss.beta[2].item() == 0.0

    # Evaluation mode (or no grad) never schedules a refresh.
    loss.beta.zero_()
    loss.eval()
    loss(pos, neg, user=user, neg_item=neg_item)
    loss.after_step()
    assert loss.beta.tolist() == [0.0] * 4


def test_slatk_refresh_without_a_scorer_uses_the_batch_scores():
    loss = SLatK(k=2, t_beta=1)
    loss.setup(n_users=2, n_items=5, item_counts=torch.ones(5))
    loss.on_epoch_start(0)
    pos = torch.tensor([0.5, 0.1])
    neg = torch.tensor([[0.9, 0.2, 0.3], [0.0, 0.4, -0.2]])
    spos = torch.tensor([[0.6], [0.05]])
    with torch.enable_grad():
        loss(pos.requires_grad_(), neg, sampled_pos_score=spos, user=torch.tensor([1, 0]))
    loss.after_step()
    assert loss.beta.tolist() == pytest.approx([0.1, 0.6])  # 2nd largest of {0.1,0.05,0,0.4,-0.2} / {0.5,0.6,0.9,0.2,0.3}


# ---------------------------------------------------------------------------------------------
# DrRL: the beta step lowers its objective
# ---------------------------------------------------------------------------------------------


def test_drrl_margin_step_by_hand_lowers_the_objective():
    """γ = 2 (γ* = 2), c = 1, ε = 0, negatives (0.5, 0.1), β = 0: the objective is
    β + sqrt(mean((r - β)_+²)) = sqrt(0.13), its β-derivative 1 - 0.3 / sqrt(0.13)."""
    loss = DrRL(gamma=2.0, c=1.0, eps=0.0, margin_init=0.0, margin_lr=0.1)
    loss.setup(n_users=2, n_items=3, item_counts=torch.ones(3))
    neg = torch.tensor([[0.5, 0.1]], dtype=torch.float64)
    before = loss.margin_objective(neg, torch.zeros(1, dtype=torch.float64)).item()
    assert before == pytest.approx(math.sqrt(0.13))
    loss.margin_step(neg, torch.tensor([1]))
    derivative = 1 - 0.3 / math.sqrt(0.13)
    assert loss.margin.tolist() == pytest.approx([0.0, -0.1 * derivative])
    after = loss.margin_objective(neg, loss.margin[1:].double()).item()
    assert after < before
    # A user with two rows gets both contributions (sum over rows, as the authors).
    loss.margin.zero_()
    loss.margin_step(torch.cat([neg, neg]), torch.tensor([1, 1]))
    assert loss.margin[1].item() == pytest.approx(-0.2 * derivative)


def test_drrl_margins_descend_towards_the_optimum_through_the_hooks():
    torch.manual_seed(0)
    loss = DrRL(gamma=5.0, c=1.0, eps=0.1, margin_init=0.9, margin_lr=0.05)
    loss.setup(n_users=3, n_items=10, item_counts=torch.ones(10))
    user = torch.tensor([0, 1, 2])
    neg = torch.rand(3, 50) * 2 - 1
    pos = torch.rand(3, requires_grad=True)
    objective = lambda: loss.margin_objective(neg, loss.margin[user]).sum().item()
    values = [objective()]
    for _ in range(30):
        loss(pos, neg, user=user).backward()
        loss.after_step()
        values.append(objective())
    assert all(b <= a + 1e-7 for a, b in zip(values, values[1:])) and values[-1] < values[0] - 0.1
    # Outside training the loss schedules no margin step.
    loss.eval()
    margins = loss.margin.clone()
    loss(pos, neg, user=user)
    loss.after_step()
    assert torch.equal(loss.margin, margins)


# ---------------------------------------------------------------------------------------------
# AdvInfoNCE: the adversarial step raises the loss while the model is frozen
# ---------------------------------------------------------------------------------------------


def test_advinfonce_adversarial_step_raises_the_loss():
    torch.manual_seed(0)
    loss = AdvInfoNCE(tau=0.1, adv_dim=8, adv_lr=1e-2, adv_interval=5)
    loss.setup(n_users=6, n_items=30, item_counts=torch.ones(30))
    optimizer = torch.optim.Adam(loss.optimizer_groups(lr=1e-3, weight_decay=0.0))
    user = torch.arange(6)
    neg_item = torch.randint(0, 30, (6, 12))
    pos, neg = torch.rand(6) * 2 - 1, torch.rand(6, 12) * 2 - 1  # the frozen model's scores

    loss.on_epoch_start(4)  # adversarial epoch: only the adversary trains, by ascent
    assert not loss.trains_model(4)
    values = []
    for _ in range(5):
        optimizer.zero_grad()
        value = loss(pos, neg, user=user, neg_item=neg_item)
        value.backward()
        optimizer.step()
        values.append(value.item())
    values.append(loss(pos, neg, user=user, neg_item=neg_item).item())
    assert all(b > a for a, b in zip(values, values[1:]))

    loss.on_epoch_start(5)  # model epoch: the adversary is frozen
    weights = loss.adv_user.weight.detach().clone()
    optimizer.zero_grad()
    loss(pos.requires_grad_(), neg, user=user, neg_item=neg_item).backward()
    optimizer.step()
    assert torch.equal(loss.adv_user.weight, weights)


# ---------------------------------------------------------------------------------------------
# LLPAUC: the variables stay in their clipping ranges
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ascent", [False, True])
def test_llpauc_variables_stay_in_their_ranges(ascent):
    torch.manual_seed(0)
    loss = LLPAUC(alpha=0.3, beta=0.05, lr=0.5, ascent=ascent)
    optimizer = torch.optim.Adam(loss.optimizer_groups(lr=1e-3, weight_decay=0.0))
    optimizer.register_step_post_hook(lambda *_: loss.after_step())
    v = loss.variables
    for _ in range(60):
        optimizer.zero_grad()
        loss(torch.rand(16) * 4 - 2, torch.rand(16, 10) * 4 - 2).backward()
        optimizer.step()
        assert 0.0 <= v["a"].item() <= 1.0 and 0.0 <= v["b"].item() <= 1.0
        assert -1.0 <= v["s_pos"].item() <= 4.0 and 0.0 <= v["s_neg"].item() <= 5.0
        assert max(-v["a"].item(), v["b"].item() - 1.0) - 1e-7 <= v["gamma"].item() <= 1.0
    moved = {k: p.item() for k, p in v.items()}
    assert moved != {"a": 1.0, "b": 0.0, "gamma": 0.0, "s_pos": 0.5, "s_neg": 0.5, "theta_a": 0.5, "theta_b": 0.5}


# ---------------------------------------------------------------------------------------------
# The trainer mechanism on a tiny synthetic dataset
# ---------------------------------------------------------------------------------------------

def state_keys(name):
    """The model's state-dict keys of the loss's state: its own state_dict once set up."""
    loss = LOSSES[name]()
    loss.setup(n_users=3, n_items=100, item_counts=torch.ones(100, dtype=torch.long))  # above any default K
    return {f"loss.{key}" for key in loss.state_dict()}


def test_state_keys_name_each_kind_of_state():
    assert state_keys("SL@K") == {"loss.beta"} and state_keys("DrRL") == {"loss.margin"}
    assert state_keys("LLPAUC") == {f"loss.variables.{k}" for k in ("a", "b", "gamma", "s_pos", "s_neg", "theta_a", "theta_b")}
    assert state_keys("AdvInfoNCE") == {"loss.adv_user.weight", "loss.adv_item.weight"}
    assert {"SL@K", "DrRL", "LLPAUC", "AdvInfoNCE"} <= set(STATEFUL) and "SL" not in STATEFUL


def build(root, loss, **extra):
    from recbole.data import create_dataset
    from recbole.utils import init_seed

    from recbole_losses.config import Config
    from recbole_losses.data.dataloader import data_preparation
    from recbole_losses.trainer import get_trainer

    config_dict = {
        "loss": loss, "data_path": str(root), "epochs": 2, "neg_num": 8, "pos_num": 2,
        "train_batch_size": 64, "eval_step": 1, "show_progress": False, "learning_rate": 0.01,
        "checkpoint_dir": str(root / "saved"), "topk": [5], "valid_metric": "NDCG@5", **STATE.get(loss, {}), **extra,
    }
    config = Config("MF", "toy", None, config_dict)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    model = config.model_class(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config)(config, model)
    return trainer, train_data, valid_data, test_data


@pytest.mark.parametrize("loss", STATEFUL)
def test_state_is_in_the_checkpoint_and_resumes(toy, loss):
    keys = state_keys(loss)
    trainer, train_data, valid_data, test_data = build(toy, loss)
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items() if k in keys}
    assert set(initial) == keys
    trainer.fit(train_data, valid_data, saved=True)
    state = trainer.model.state_dict()
    assert any(not torch.equal(state[k], initial[k]) for k in initial), "the loss state never moved"
    checkpoint = load_checkpoint(trainer.saved_model_file)
    assert keys <= set(checkpoint["state_dict"])
    assert len(checkpoint["optimizer"]["param_groups"]) == len(trainer.optimizer.param_groups)
    result = trainer.evaluate(test_data, load_best_model=True)  # stock full-sort evaluation
    assert 0.0 <= result["ndcg@5"] <= 1.0

    # A fresh trainer resumes from the checkpoint with the loss state and continues training.
    fresh, train_data, valid_data, _ = build(toy, loss, epochs=3)
    fresh.resume_checkpoint(trainer.saved_model_file)
    for k in keys:
        torch.testing.assert_close(fresh.model.state_dict()[k], checkpoint["state_dict"][k])
    fresh.fit(train_data, valid_data, saved=False)
    assert fresh.start_epoch == checkpoint["epoch"] + 1


def test_optimizer_groups_reach_the_trainer(toy):
    trainer, *_ = build(toy, "LLPAUC", learning_rate=0.02, weight_decay=1e-6, llpauc_ascent=True)
    groups = trainer.optimizer.param_groups
    assert len(groups) == 4
    model_params = {id(p) for p in trainer.model.net.parameters()}
    assert {id(p) for p in groups[0]["params"]} == model_params
    assert groups[0]["lr"] == 0.02 and groups[0]["maximize"] is False
    assert [g["lr"] for g in groups[1:]] == [0.02, 0.04, 0.04] and groups[3]["maximize"] is True
    assert all(g["weight_decay"] == 1e-6 for g in groups)


def test_advinfonce_freezes_the_model_in_adversarial_epochs(toy):
    trainer, train_data, *_ = build(toy, "AdvInfoNCE")  # adv_interval 2: epochs 1, 3, ... adversarial
    model, loss = trainer.model, trainer.model.loss
    snapshot = lambda: ([p.detach().clone() for p in model.net.parameters()], loss.adv_user.weight.detach().clone())
    net0, adv0 = snapshot()
    trainer._train_epoch(train_data, 0)
    net1, adv1 = snapshot()
    assert torch.equal(adv1, adv0) and not all(torch.equal(a, b) for a, b in zip(net0, net1))
    trainer._train_epoch(train_data, 1)
    net2, adv2 = snapshot()
    assert not torch.equal(adv2, adv1) and all(torch.equal(a, b) for a, b in zip(net1, net2))
    assert all(p.requires_grad for p in model.net.parameters())  # unfrozen again afterwards


def test_stateless_losses_train_as_before(toy):
    trainer, train_data, valid_data, _ = build(toy, "SL")
    assert len(trainer.optimizer.param_groups) == 1
    trainer.fit(train_data, valid_data, saved=False)


def test_every_trainer_gets_the_recbole_fixes(workdir):
    """Composed models, stock models on RecBole's Trainer and stock models with a trainer of their
    own (RecVAE) all train with the same loss-agnostic fixes (checkpoints, finite loss, timing,
    multi-process mode)."""
    from recbole.trainer import RecVAETrainer

    from recbole_losses.config import Config
    from recbole_losses.trainer import RecBoleFixes, Trainer, get_trainer

    assert get_trainer(Config("MF", "ml-100k", config_dict={"loss": "SL"})) is Trainer
    assert get_trainer(Config("BPR", "ml-100k")) is Trainer
    recvae = get_trainer(Config("RecVAE", "ml-100k"))
    assert issubclass(recvae, RecBoleFixes) and issubclass(recvae, RecVAETrainer)
    assert recvae.__mro__[1:3] == (RecBoleFixes, RecVAETrainer)
