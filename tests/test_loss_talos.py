"""Talos against a naive loop written from docs/losses.md (value, gradients of the scores and of
the thresholds), the quantile loss's minimiser, its parameter group, and its messages."""

import math

import pytest
import torch

from recbole_losses import build_loss
from recbole_losses.losses import Talos


def data(seed=0, b=5, n=8, m=3):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(*s, generator=g, dtype=torch.float64) * 2 - 1 for s in ((b,), (b, n), (b, m)))


def log_sigmoid(x):
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def naive(pos, neg, spos, betas, tau, k=None, n_items=None, n_pos=None):
    """(loss, d/d pos [B], d/d neg [B][N], d/d beta per row [B]); Q only with n_items."""
    b = len(pos)
    value, g_pos, g_neg, g_beta = 0.0, [], [], []
    for r in range(b):
        beta = betas[r]
        sig = lambda x: 1 / (1 + math.exp(-x))
        terms = [log_sigmoid(s - beta) / tau for s in neg[r]]
        top = max(terms)
        lse = top + math.log(sum(math.exp(t - top) for t in terms))
        row = lse - log_sigmoid(pos[r] - beta) / tau
        soft = [math.exp(t - lse) for t in terms]
        g_pos.append(-(1 - sig(pos[r] - beta)) / tau / b)
        g_neg.append([p * (1 - sig(s - beta)) / tau / b for p, s in zip(soft, neg[r])])
        grad_beta = 0.0
        if n_items is not None:
            share = k / n_items
            rho = lambda x: (1 - share) * max(x, 0.0) + share * max(-x, 0.0)
            drho = lambda x: -(1 - share) if x > 0 else (share if x < 0 else 0.0)  # d/d beta of rho(s - beta)
            positives = [pos[r]] + spos[r]
            q = (n_pos[r] * sum(rho(s - beta) for s in positives) / len(positives)
                 + (n_items - n_pos[r]) * sum(rho(s - beta) for s in neg[r]) / len(neg[r])) / n_items
            row += q
            grad_beta = (n_pos[r] * sum(drho(s - beta) for s in positives) / len(positives)
                         + (n_items - n_pos[r]) * sum(drho(s - beta) for s in neg[r]) / len(neg[r])) / n_items / b
        value += row / b
        g_beta.append(grad_beta)
    return value, g_pos, g_neg, g_beta


@pytest.mark.parametrize("tau,beta_init", [(0.15, 0.0), (0.05, 0.3), (1.0, -0.2)])
def test_without_state_matches_naive_loop(tau, beta_init):
    pos, neg, spos = data(1)
    p, n = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    out = Talos(tau=tau, beta_init=beta_init)(p, n, sampled_pos_score=spos)
    out.backward()
    value, g_pos, g_neg, _ = naive(pos.tolist(), neg.tolist(), spos.tolist(), [beta_init] * 5, tau)
    assert out.item() == pytest.approx(value, rel=1e-12)
    assert p.grad.tolist() == pytest.approx(g_pos, rel=1e-10)
    assert n.grad.flatten().tolist() == pytest.approx([x for row in g_neg for x in row], rel=1e-10)


def stateful(n_items=60, **kwargs):
    loss = Talos(**kwargs)
    loss.setup(n_users=4, n_items=n_items, item_counts=torch.ones(n_items, dtype=torch.long))
    return loss


@pytest.mark.parametrize("attached", [False, True])
def test_with_thresholds_and_quantile_loss_matches_naive_loop(attached):
    pos, neg, spos = data(2)
    loss = stateful(tau=0.2, k=5)
    if attached:  # |P_u| = 3, 1, 2, 0 (a duplicated interaction counts once)
        loss.attach(scorer=None, train_user=torch.tensor([0, 0, 0, 0, 1, 2, 2]),
                    train_item=torch.tensor([1, 2, 3, 3, 4, 5, 6]))
        assert loss.pos_count.tolist() == [3.0, 1.0, 2.0, 0.0]
    with torch.no_grad():
        loss.beta.copy_(torch.tensor([0.1, -0.4, 0.35, 0.0]))
    user = torch.tensor([2, 0, 1, 1, 3])
    betas = [float(loss.beta[u].detach()) for u in user.tolist()]
    n_pos = [[3.0, 1.0, 2.0, 0.0][u] for u in user.tolist()] if attached else [4.0] * 5  # else 1 + M
    p, n = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    out = loss(p, n, sampled_pos_score=spos, user=user)
    out.backward()
    value, g_pos, g_neg, g_beta = naive(pos.tolist(), neg.tolist(), spos.tolist(), betas, 0.2, 5, 60, n_pos)
    assert out.item() == pytest.approx(value, rel=1e-12)
    assert p.grad.tolist() == pytest.approx(g_pos, rel=1e-10)  # the quantile loss sees no score gradient
    assert n.grad.flatten().tolist() == pytest.approx([x for row in g_neg for x in row], rel=1e-10)
    want_beta = [0.0] * 4
    for u, g in zip(user.tolist(), g_beta):
        want_beta[u] += g
    assert loss.beta.grad.tolist() == pytest.approx(want_beta, rel=1e-6, abs=1e-12)  # float32 parameter


def test_quantile_loss_is_minimal_at_the_top_k_quantile():
    """One user whose candidates are the whole catalogue (its 4 positives and the other 36 items,
    each counted once): Q(β) is smallest between the K-th and (K+1)-th largest scores."""
    g = torch.Generator().manual_seed(3)
    scores = torch.rand(40, generator=g, dtype=torch.float64)
    loss = stateful(n_items=40, k=7)
    loss.attach(scorer=None, train_user=torch.zeros(4, dtype=torch.long), train_item=torch.arange(4))
    pos, spos, neg = scores[:1], scores[1:4].unsqueeze(0), scores[4:].unsqueeze(0)
    top = torch.sort(scores, descending=True).values
    grid = torch.linspace(-0.1, 1.1, 241, dtype=torch.float64)
    q = torch.stack([loss.quantile_loss(b.reshape(1), pos, neg, spos, torch.zeros(1, dtype=torch.long)) for b in grid])
    best = grid[q.squeeze(1).argmin()].item()
    step = (grid[1] - grid[0]).item()  # the minimum is flat between the two order statistics
    assert top[7].item() - step <= best <= top[6].item() + step


def test_threshold_group_and_no_group_before_setup():
    assert Talos().optimizer_groups(lr=0.1, weight_decay=1e-4) == []
    loss = stateful(beta_lr=0.005, beta_init=0.25)
    (group,) = loss.optimizer_groups(lr=0.1, weight_decay=1e-4)
    assert group["params"] == [loss.beta] and group["lr"] == 0.005 and group["weight_decay"] == 0.0
    assert loss.beta.tolist() == [0.25] * 4 and "beta" in loss.state_dict()


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"tau": 0}, "Talos: tau must be a number > 0, got 0.0"),
        ({"k": 0}, "Talos: k must be an integer >= 1, got 0"),
        ({"k": 2.0}, "Talos: k must be an integer >= 1, got 2.0"),
        ({"beta_lr": 0.0}, "Talos: beta_lr must be a number > 0, got 0.0"),
        ({"beta_init": None}, "Talos: beta_init must be a number, got None"),
    ],
)
def test_bad_hyperparameters_have_exact_messages(kwargs, message):
    with pytest.raises(ValueError) as err:
        build_loss("Talos", **kwargs)
    assert str(err.value) == message
