"""SogCLR against a naive loop written from docs/losses.md (value and the compositional gradient
of the reference), its limit γ_g = 1 (SL), its moving-average update by hand, and its messages."""

import math

import pytest
import torch

from recbole_losses import build_loss
from recbole_losses.losses import SL, SogCLR


def data(seed=0, b=5, n=8, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, generator=g, dtype=dtype) * 2 - 1, torch.rand(b, n, generator=g, dtype=dtype) * 2 - 1


def naive_rows(pos, neg, stored, tau, gamma):
    """Per row: (value, g used, d value / d r_ui, d value / d r_uj list) with g detached.
    ``stored[b]``: the user's g_u before the batch, or None for a user not seen yet."""
    rows = []
    for b in range(len(pos)):
        n = len(neg[b])
        g_hat = sum(math.exp(s / tau) for s in neg[b]) / n
        g = g_hat if stored[b] is None else (1 - gamma) * stored[b] + gamma * g_hat
        value = -pos[b] / tau + math.log(n) + math.log(g) + g_hat / g - 1
        grad_neg = [math.exp(s / tau) / (n * tau * g) for s in neg[b]]
        rows.append((value, g, -1 / tau, grad_neg))
    return rows


def stateful(n_users=4, tau=0.1, gamma=0.5, log_g=None, seen=None):
    loss = SogCLR(tau=tau, gamma_g=gamma)
    loss.setup(n_users=n_users, n_items=10, item_counts=torch.ones(10))
    if log_g is not None:
        loss.log_g.copy_(torch.tensor(log_g))
        loss.g_seen.copy_(torch.tensor(seen))
    return loss


@pytest.mark.parametrize("tau,gamma", [(0.1, 0.9), (0.2, 0.3), (0.5, 1.0), (0.05, 0.1)])
def test_matches_naive_loop_value_and_gradient_with_stored_averages(tau, gamma):
    pos, neg = data(1)
    log_g = [1.5, -0.5, 3.0, 0.0]
    seen = [1.0, 1.0, 0.0, 1.0]
    loss = stateful(tau=tau, gamma=gamma, log_g=log_g, seen=seen)
    user = torch.tensor([2, 0, 1, 1, 3])
    stored = [math.exp(log_g[u]) if seen[u] else None for u in user.tolist()]
    rows = naive_rows(pos.tolist(), neg.tolist(), stored, tau, gamma)
    p, n = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    out = loss(p, n, user=user)
    out.backward()
    b = len(rows)
    assert out.item() == pytest.approx(sum(r[0] for r in rows) / b, rel=1e-12)
    assert p.grad.tolist() == pytest.approx([r[2] / b for r in rows], rel=1e-10)
    assert n.grad.flatten().tolist() == pytest.approx([x / b for r in rows for x in r[3]], rel=1e-10)


def test_without_state_is_sl_value_and_gradient():
    pos, neg = data(2)
    grads = []
    for loss in (SogCLR(tau=0.2, gamma_g=0.3), SL(tau=0.2)):
        p, n = pos.clone().requires_grad_(), neg.clone().requires_grad_()
        value = loss(p, n)
        value.backward()
        grads.append((value, p.grad, n.grad))
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want)


def test_gamma_one_is_sl_whatever_the_stored_average():
    pos, neg = data(3)
    loss = stateful(gamma=1.0, log_g=[9.0, -9.0, 2.0, 0.5], seen=[1.0, 1.0, 1.0, 1.0])
    user = torch.tensor([0, 1, 2, 3, 0])
    p, n = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    value = loss(p, n, user=user)
    value.backward()
    p_sl, n_sl = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    want = SL(tau=0.1)(p_sl, n_sl)
    want.backward()
    torch.testing.assert_close(value, want)
    torch.testing.assert_close(n.grad, n_sl.grad)
    torch.testing.assert_close(p.grad, p_sl.grad)


def test_value_is_an_upper_bound_of_sl():
    pos, neg = data(4, b=6)
    loss = stateful(n_users=6, gamma=0.2, log_g=[5.0, -3.0, 0.0, 1.0, 7.0, -1.0], seen=[1.0] * 6)
    user = torch.arange(6)
    rows = loss.row_loss(pos, neg, user=user)
    sl = SL(tau=0.1).row_loss(pos, neg)
    assert (rows >= sl).all() and (rows > sl + 1e-3).any()


def test_moving_average_update_by_hand():
    """γ = 0.25. User 0 (seen, g = e): (1 - γ)e + γ·mean of its two rows' ĝ; user 2 (unseen): its
    row's ĝ; users 1 and 3 (no rows) unchanged."""
    tau, gamma = 0.5, 0.25
    loss = stateful(tau=tau, gamma=gamma, log_g=[1.0, 0.3, 0.0, -2.0], seen=[1.0, 1.0, 0.0, 0.0])
    loss.train()
    pos = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64, requires_grad=True)
    neg = torch.tensor([[0.5, -0.5], [0.0, 1.0], [0.2, 0.4]], dtype=torch.float64)
    loss(pos, neg, user=torch.tensor([0, 2, 0])).backward()
    loss.after_step()
    g_hat = [sum(math.exp(s / tau) for s in row) / 2 for row in neg.tolist()]
    g0 = (1 - gamma) * math.e + gamma * (g_hat[0] + g_hat[2]) / 2
    assert loss.log_g.tolist() == pytest.approx([math.log(g0), 0.3, math.log(g_hat[1]), -2.0], rel=1e-6)
    assert loss.g_seen.tolist() == [1.0, 1.0, 1.0, 0.0]
    # The next batch of user 2 moves from the stored average.
    loss(pos[:1], neg[2:], user=torch.tensor([2])).backward()
    loss.after_step()
    want = (1 - gamma) * g_hat[1] + gamma * g_hat[2]
    assert loss.log_g[2].item() == pytest.approx(math.log(want), rel=1e-6)


def test_no_update_outside_training():
    loss = stateful()
    pos, neg = data(5)
    loss.eval()
    loss(pos, neg, user=torch.arange(4).repeat(2)[:5])
    loss.after_step()
    loss.train()
    with torch.no_grad():
        loss(pos, neg, user=torch.arange(4).repeat(2)[:5])
    loss.after_step()
    assert loss.g_seen.tolist() == [0.0] * 4 and loss.log_g.tolist() == [0.0] * 4


def test_large_dot_product_scores_stay_finite_in_float32():
    """exp(r/τ) overflows float32 at r/τ > 88; the loss works with log g and log ĝ."""
    loss = stateful(tau=0.01, gamma=0.1, log_g=[0.0, 0.0, 0.0, 0.0], seen=[1.0, 1.0, 0.0, 0.0])
    loss.train()
    pos = torch.tensor([40.0, -3.0, 10.0], requires_grad=True)
    neg = torch.tensor([[50.0, 45.0], [2.0, -60.0], [9.0, 11.0]], requires_grad=True)
    out = loss(pos, neg, user=torch.tensor([0, 1, 2]))
    out.backward()
    loss.after_step()
    assert torch.isfinite(out) and torch.isfinite(pos.grad).all() and torch.isfinite(neg.grad).all()
    assert torch.isfinite(loss.log_g).all() and loss.log_g[0].item() > 4000.0  # log ĝ ≈ 5000 - log 2 + log 0.1


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"tau": 0}, "SogCLR: tau must be a number > 0, got 0.0"),
        ({"tau": "0.1"}, "SogCLR: tau must be a number > 0, got '0.1'"),
        ({"gamma_g": 0.0}, "SogCLR: gamma_g must be a number in (0, 1], got 0.0"),
        ({"gamma_g": 1.5}, "SogCLR: gamma_g must be a number in (0, 1], got 1.5"),
        ({"gamma_g": None}, "SogCLR: gamma_g must be a number in (0, 1], got None"),
    ],
)
def test_bad_hyperparameters_have_exact_messages(kwargs, message):
    with pytest.raises(ValueError) as err:
        build_loss("SogCLR", **kwargs)
    assert str(err.value) == message
