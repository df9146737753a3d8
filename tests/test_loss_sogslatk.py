"""SogSL@K against a naive loop written from docs/losses.md (value and gradient), its limit
γ_g = 1 (SL@K), both of its states moving through the hooks, its names and its messages."""

import math

import pytest
import torch

from recbole_losses import build_loss
from recbole_losses.losses import SLatK, SogSLatK, canonical_loss_name


def data(seed=0, b=5, n=8, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, generator=g, dtype=dtype) * 2 - 1, torch.rand(b, n, generator=g, dtype=dtype) * 2 - 1


def naive_rows(pos, neg, betas, stored, tau, tau_w, gamma):
    """Per row: (value, d/d r_ui, [d/d r_uj]); ``stored[b]`` is g_u before the batch or None."""
    rows = []
    for b in range(len(pos)):
        n = len(neg[b])
        w = 1 / (1 + math.exp(-(pos[b] - betas[b]) / tau_w))
        g_hat = sum(math.exp(s / tau) for s in neg[b]) / n
        g = g_hat if stored[b] is None else (1 - gamma) * stored[b] + gamma * g_hat
        bracket = -pos[b] / tau + math.log(n) + math.log(g) + g_hat / g - 1
        grad_pos = w * (1 - w) / tau_w * bracket - w / tau
        grad_neg = [w * math.exp(s / tau) / (n * tau * g) for s in neg[b]]
        rows.append((w * bracket, grad_pos, grad_neg))
    return rows


def stateful(tau=0.1, tau_w=1.5, gamma=0.5, **kwargs):
    loss = SogSLatK(tau=tau, tau_w=tau_w, gamma_g=gamma, **kwargs)
    loss.setup(n_users=4, n_items=64, item_counts=torch.ones(64))  # above the default K = 20
    loss.beta.copy_(torch.tensor([0.1, 0.6, -0.4, 0.0]))
    loss.log_g.copy_(torch.tensor([1.5, -0.5, 3.0, 0.0]))
    loss.g_seen.copy_(torch.tensor([1.0, 1.0, 0.0, 1.0]))
    return loss


@pytest.mark.parametrize("tau,tau_w,gamma", [(0.1, 1.5, 0.9), (0.2, 0.5, 0.3), (0.05, 2.25, 0.1)])
def test_matches_naive_loop_value_and_gradient(tau, tau_w, gamma):
    pos, neg = data(1)
    loss = stateful(tau=tau, tau_w=tau_w, gamma=gamma)
    user = torch.tensor([2, 0, 1, 1, 3])
    betas = [float(loss.beta[u]) for u in user.tolist()]
    stored = [math.exp(float(loss.log_g[u])) if loss.g_seen[u] else None for u in user.tolist()]
    rows = naive_rows(pos.tolist(), neg.tolist(), betas, stored, tau, tau_w, gamma)
    p, n = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    out = loss(p, n, user=user)
    out.backward()
    b = len(rows)
    assert out.item() == pytest.approx(sum(r[0] for r in rows) / b, rel=1e-12)
    assert p.grad.tolist() == pytest.approx([r[1] / b for r in rows], rel=1e-10)
    assert n.grad.flatten().tolist() == pytest.approx([x / b for r in rows for x in r[2]], rel=1e-10)


@pytest.mark.parametrize("with_state", [False, True])
def test_gamma_one_is_slatk_value_and_gradient(with_state):
    pos, neg = data(2)
    user = torch.tensor([3, 0, 1, 2, 0])
    sog = stateful(gamma=1.0) if with_state else SogSLatK(tau_w=1.5, gamma_g=1.0)
    slatk = SLatK(tau_w=1.5)
    if with_state:
        slatk.setup(n_users=4, n_items=64, item_counts=torch.ones(64))  # above the default K = 20
        slatk.beta.copy_(sog.beta)
    results = []
    for loss in (sog, slatk):
        p, n = pos.clone().requires_grad_(), neg.clone().requires_grad_()
        value = loss(p, n, user=user)
        value.backward()
        results.append((value, p.grad, n.grad))
    for got, want in zip(*results):
        torch.testing.assert_close(got, want)


def test_both_states_move_through_the_hooks():
    """A refresh epoch without a scorer: β_u ← K-th largest of the scores the loss saw (as SL@K);
    g_u ← (1 - γ) g_u + γ ĝ (as SogCLR); outside refresh epochs only g moves."""
    tau, gamma = 0.5, 0.25
    loss = SogSLatK(tau=tau, k=2, t_beta=2, gamma_g=gamma)
    loss.setup(n_users=2, n_items=5, item_counts=torch.ones(5))
    loss.train()
    pos = torch.tensor([0.5, 0.1], requires_grad=True)
    neg = torch.tensor([[0.9, 0.2, 0.3], [0.0, 0.4, -0.2]])
    spos = torch.tensor([[0.6], [0.05]])
    user = torch.tensor([1, 0])
    g_hat = [sum(math.exp(s / tau) for s in row) / 3 for row in neg.tolist()]

    loss.on_epoch_start(0)  # (0 + 1) % 2 != 0: g moves, β does not
    loss(pos, neg, sampled_pos_score=spos, user=user).backward()
    loss.after_step()
    assert loss.beta.tolist() == [0.0, 0.0]
    assert loss.log_g.tolist() == pytest.approx([math.log(g_hat[1]), math.log(g_hat[0])], rel=1e-6)

    loss.on_epoch_start(1)  # refresh epoch
    loss(pos, neg, sampled_pos_score=spos, user=user).backward()
    loss.after_step()
    assert loss.beta.tolist() == pytest.approx([0.1, 0.6])  # 2nd largest of each row's scores
    assert loss.log_g.tolist() == pytest.approx([math.log(g_hat[1]), math.log(g_hat[0])], rel=1e-6)
    assert loss.g_seen.tolist() == [1.0, 1.0]


def test_names_and_state_declaration():
    for name in ("SogSL@K", "SogSLatK", "sogslatk", "sogsl@k"):
        assert canonical_loss_name(name) == "SogSL@K"
    loss = build_loss("SogSL@K")
    assert loss.hyperparameters()["gamma_g"] == 0.9
    assert set(SogSLatK.step_state) == {"beta", "log_g", "g_seen"}
    loss.setup(n_users=3, n_items=64, item_counts=torch.ones(64))
    assert {"beta", "log_g", "g_seen"} <= set(loss.state_dict())


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"tau": 0}, "SogSL@K: tau must be a number > 0, got 0.0"),
        ({"tau_w": -1.0}, "SogSL@K: tau_w must be a number > 0, got -1.0"),
        ({"k": 0}, "SogSL@K: k must be an integer >= 1, got 0"),
        ({"t_beta": 1.5}, "SogSL@K: t_beta must be an integer >= 1, got 1.5"),
        ({"pos_quantile": 0.0}, "SogSL@K: pos_quantile must be a number in (0, 1], got 0.0"),
        ({"gamma_g": 0.0}, "SogSL@K: gamma_g must be a number in (0, 1], got 0.0"),
        ({"gamma_g": 2}, "SogSL@K: gamma_g must be a number in (0, 1], got 2.0"),
    ],
)
def test_bad_hyperparameters_have_exact_messages(kwargs, message):
    with pytest.raises(ValueError) as err:
        SogSLatK(**kwargs)
    assert str(err.value) == message
