"""DrRL against a naive loop written from docs/losses.md, its two limits (γ → ∞: CCL; γ → 1:
SL's softmax weighting), and its messages."""

import math

import pytest
import torch

from recbole_losses import build_loss
from recbole_losses.losses import CCL, SL, DrRL


def data(seed=0, b=5, n=8, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, generator=g, dtype=dtype) * 2 - 1, torch.rand(b, n, generator=g, dtype=dtype) * 2 - 1


def naive_drrl(pos, neg, margins, gamma, c, eps):
    p = gamma / (gamma - 1)
    out = 0.0
    for b in range(len(pos)):
        beta = margins[b]
        power_mean = (sum((eps + c * max(s - beta, 0.0)) ** p for s in neg[b]) / len(neg[b])) ** (1 / p)
        out += max(1.0 - pos[b], 0.0) + beta + power_mean
    return out / len(pos)


@pytest.mark.parametrize("gamma,c,eps", [(150.0, 1.0, 0.1), (2.0, 1.0, 0.0), (1.5, 3.0, 0.05), (11.0, 0.5, 0.2)])
def test_matches_naive_loop_with_initial_margin(gamma, c, eps):
    pos, neg = data(1)
    got = build_loss("DrRL", gamma=gamma, c=c, eps=eps, margin_init=0.1)(pos, neg)
    assert got.item() == pytest.approx(naive_drrl(pos.tolist(), neg.tolist(), [0.1] * 5, gamma, c, eps), rel=1e-12)


def test_matches_naive_loop_with_per_user_margins():
    pos, neg = data(2)
    loss = DrRL(gamma=3.0, c=2.0, eps=0.1)
    loss.setup(n_users=4, n_items=10, item_counts=torch.ones(10))
    loss.margin.copy_(torch.tensor([0.0, -0.3, 0.25, 0.5]))
    user = torch.tensor([1, 3, 3, 0, 2])
    got = loss(pos, neg, user=user)
    margins = [float(loss.margin[u]) for u in user.tolist()]
    assert got.item() == pytest.approx(naive_drrl(pos.tolist(), neg.tolist(), margins, 3.0, 2.0, 0.1), rel=1e-12)


def test_margin_is_not_differentiated_by_the_model_loss():
    pos, neg = data(3)
    loss = DrRL()
    loss.setup(n_users=5, n_items=10, item_counts=torch.ones(10))
    loss.train()
    loss(pos, neg, user=torch.arange(5))
    assert not loss.margin.requires_grad and not any(True for _ in loss.parameters())


@pytest.mark.parametrize("margin,eps", [(0.2, 0.0), (-0.1, 0.1)])
def test_gamma_to_infinity_is_ccl(margin, eps):
    """Power mean with γ* → 1 is the arithmetic mean: ℓ → CCL(m, w = c) + m + ε, error O(1/γ)."""
    pos, neg = data(4)
    ccl = CCL(margin=margin, neg_weight=2.0)(pos, neg).item() + margin + eps
    errors = []
    for gamma in (1e2, 1e4, 1e6, 1e8):
        drrl = DrRL(gamma=gamma, c=2.0, eps=eps, margin_init=margin)(pos, neg).item()
        errors.append(abs(drrl - ccl))
    assert errors == sorted(errors, reverse=True)
    assert errors[0] > 1e-4 and errors[-1] < 1e-7
    for coarse, fine in zip(errors, errors[1:]):
        assert fine < coarse / 50  # O(1/γ): 100× larger γ, ~100× smaller error


def optimal_margin(loss, neg_row):
    """Golden-section search of the convex β ↦ β + power mean (Eq. 10's constraint)."""
    objective = lambda b: loss.margin_objective(neg_row[None], torch.tensor([b], dtype=torch.float64)).item()
    lo, hi = neg_row.min().item() - 10 * loss.gamma_star - 10, neg_row.max().item()
    phi = (math.sqrt(5) - 1) / 2
    for _ in range(250):
        m1, m2 = hi - phi * (hi - lo), lo + phi * (hi - lo)
        if objective(m1) < objective(m2):
            hi = m2
        else:
            lo = m1
    return (lo + hi) / 2


@pytest.mark.parametrize("tau", [0.1, 0.2, 0.5])
def test_gamma_to_one_is_sl(tau):
    """With ε = 0, c = c_γ(η) for η = KL(softmax(r/τ) ‖ uniform) and β at its optimum, DrRL → the
    KL-DRO loss 1 − r_ui + τη + τ log mean_j exp(r_uj/τ), whose gradient is τ × SL_τ's, with an
    O(γ − 1) error (value and gradient)."""
    pos, neg = data(5, b=3, n=7)
    pos = pos.clamp(max=0.9)  # keep relu(1 - r_ui) on its linear side, as for any cosine < 1
    q = torch.softmax(neg / tau, dim=1)
    eta = (q * torch.log(q * neg.shape[1])).sum(dim=1)  # KL(Q_τ ‖ U) per row
    want_value = 1 - pos + tau * eta + tau * (torch.logsumexp(neg / tau, dim=1) - math.log(neg.shape[1]))
    pos_sl, neg_sl = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    SL(tau=tau).row_loss(pos_sl, neg_sl).sum().backward()
    want_grad_pos, want_grad_neg = tau * pos_sl.grad, tau * neg_sl.grad  # = -1 and softmax(r/τ)
    previous = None
    for gamma in (1.1, 1.01, 1.001):
        value_err = grad_err = 0.0
        for b in range(3):
            c = (1 + gamma * (gamma - 1) * eta[b].item()) ** (1 / gamma)
            loss = DrRL(gamma=gamma, c=c, eps=0.0)
            loss.margin_init = optimal_margin(loss, neg[b])
            p, n = pos[b : b + 1].clone().requires_grad_(), neg[b : b + 1].clone().requires_grad_()
            value = loss(p, n)
            value.backward()
            value_err = max(value_err, abs(value.item() - want_value[b].item()))
            grad_err = max(grad_err, (n.grad - want_grad_neg[b]).abs().max().item(), abs(p.grad.item() - want_grad_pos[b].item()))
        if previous is not None:
            assert value_err < previous[0] / 5 and grad_err < previous[1] / 5
        previous = (value_err, grad_err)
    assert previous[0] < 1e-3 and previous[1] < 1e-3


def test_large_gamma_star_is_finite_in_float32():
    pos, neg = data(6, dtype=torch.float32)
    neg.requires_grad_()
    out = DrRL(gamma=1.0001, eps=0.0, margin_init=-5.0)(pos, neg)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(neg.grad).all()


def test_all_negatives_below_the_margin_with_zero_eps_give_zero_negative_gradient():
    pos = torch.tensor([0.5])
    neg = torch.tensor([[0.1, 0.2, -0.3]], requires_grad=True)
    out = DrRL(eps=0.0, margin_init=0.7)(pos, neg)
    out.backward()
    assert out.item() == pytest.approx(0.5 + 0.7, abs=1e-6)
    assert torch.equal(neg.grad, torch.zeros_like(neg))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"gamma": 1.0}, "DrRL: gamma must be a number > 1, got 1.0"),
        ({"gamma": 0.5}, "DrRL: gamma must be a number > 1, got 0.5"),
        ({"gamma": float("inf")}, "DrRL: gamma must be a finite number > 1, got inf"),
        ({"gamma": "2"}, "DrRL: gamma must be a number > 1, got '2'"),
        ({"c": 0.0}, "DrRL: c must be a number > 0, got 0.0"),
        ({"eps": -0.1}, "DrRL: eps must be a number >= 0, got -0.1"),
        ({"margin_init": None}, "DrRL: margin_init must be a number, got None"),
        ({"margin_lr": -1e-3}, "DrRL: margin_lr must be a number >= 0, got -0.001"),
    ],
)
def test_bad_hyperparameters_have_exact_messages(kwargs, message):
    with pytest.raises(ValueError) as err:
        DrRL(**kwargs)
    assert str(err.value) == message
