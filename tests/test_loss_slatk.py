"""SL@K against a naive loop written from docs/losses.md, its names and its messages."""

import math

import pytest
import torch

from recbole_losses import LOSSES, build_loss
from recbole_losses.losses import SL, SLatK, canonical_loss_name, get_loss_class


def data(seed=0, b=5, n=8, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, generator=g, dtype=dtype) * 2 - 1, torch.rand(b, n, generator=g, dtype=dtype) * 2 - 1


def naive_slatk(pos, neg, betas, tau, tau_w):
    out = 0.0
    for b in range(len(pos)):
        w = 1.0 / (1.0 + math.exp(-(pos[b] - betas[b]) / tau_w))
        out += w * math.log(sum(math.exp((s - pos[b]) / tau) for s in neg[b]))
    return out / len(pos)


@pytest.mark.parametrize("tau,tau_w,beta_init", [(0.1, 2.25, 0.0), (0.05, 0.5, 0.3), (0.2, 1.0, -0.2)])
def test_matches_naive_loop_with_initial_beta(tau, tau_w, beta_init):
    pos, neg = data(1)
    got = build_loss("SL@K", tau=tau, tau_w=tau_w, beta_init=beta_init)(pos, neg)
    assert got.item() == pytest.approx(naive_slatk(pos.tolist(), neg.tolist(), [beta_init] * 5, tau, tau_w), rel=1e-12)


def test_matches_naive_loop_with_per_user_beta():
    pos, neg = data(2)
    loss = SLatK(tau=0.1, tau_w=1.5, k=5)
    loss.setup(n_users=3, n_items=10, item_counts=torch.ones(10))
    loss.beta.copy_(torch.tensor([0.1, 0.6, -0.4]))
    user = torch.tensor([2, 0, 1, 1, 2])
    got = loss(pos, neg, user=user)
    betas = [float(loss.beta[u]) for u in user.tolist()]
    assert got.item() == pytest.approx(naive_slatk(pos.tolist(), neg.tolist(), betas, 0.1, 1.5), rel=1e-12)


def test_weight_is_not_detached():
    """d/dr_ui of w·L includes w'·L (the reference does not detach the weight)."""
    pos, neg = data(3, b=1)
    tau, tau_w = 0.2, 2.0
    p = pos.clone().requires_grad_()
    SLatK(tau=tau, tau_w=tau_w)(p, neg).backward()
    w = torch.sigmoid(pos / tau_w)
    softmax = torch.logsumexp((neg - pos.unsqueeze(1)) / tau, dim=1)
    want = w * (1 - w) / tau_w * softmax - w / tau  # product rule; d softmax / d r_ui = -1/τ
    torch.testing.assert_close(p.grad, want)


def test_large_tau_w_weight_half_is_half_sl():
    pos, neg = data(4)
    torch.testing.assert_close(SLatK(tau_w=1e12)(pos, neg), 0.5 * SL(tau=0.1)(pos, neg))


def test_name_and_alias():
    assert "SL@K" in LOSSES
    for name in ("SL@K", "SLatK", "slatk", "sl@k"):
        assert canonical_loss_name(name) == "SL@K"
        assert get_loss_class(name) is SLatK
    assert SLatK().hyperparameters()["k"] == 20


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"tau": 0}, "SL@K: tau must be a number > 0, got 0.0"),
        ({"tau_w": -1.0}, "SL@K: tau_w must be a number > 0, got -1.0"),
        ({"k": 0}, "SL@K: k must be an integer >= 1, got 0"),
        ({"k": 2.5}, "SL@K: k must be an integer >= 1, got 2.5"),
        ({"t_beta": 0}, "SL@K: t_beta must be an integer >= 1, got 0"),
        ({"t_beta": True}, "SL@K: t_beta must be an integer >= 1, got True"),
        ({"beta_init": "0"}, "SL@K: beta_init must be a number, got '0'"),
        ({"pos_quantile": 0.0}, "SL@K: pos_quantile must be a number in (0, 1], got 0.0"),
        ({"pos_quantile": 1.5}, "SL@K: pos_quantile must be a number in (0, 1], got 1.5"),
    ],
)
def test_bad_hyperparameters_have_exact_messages(kwargs, message):
    with pytest.raises(ValueError) as err:
        SLatK(**kwargs)
    assert str(err.value) == message
