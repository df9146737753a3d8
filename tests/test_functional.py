"""The fused log-weighted-activation sum (PSL's and CW's core) against autograd of the plain
formula, for every activation, in float64."""

import math

import pytest
import torch

from recbole_losses.functional import ACTIVATIONS, log_activation, log_weighted_activation_sum


def plain(d, tau, beta, activation):
    """The formula as written, differentiated by autograd (Z detached)."""
    x = log_activation(d, activation) / tau - beta * d
    return torch.logsumexp(x, dim=1) - torch.logsumexp(-beta * d.detach(), dim=1) + math.log(d.shape[1])


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("beta", [0.0, 0.8])
@pytest.mark.parametrize("tau", [1.0, 0.05])
def test_value_and_gradient_equal_autograd_of_the_formula(activation, beta, tau, device):
    g = torch.Generator().manual_seed(0)
    d = (torch.rand(7, 13, generator=g, dtype=torch.float64) * 2 - 1).to(device)
    d[0, :4] = -1.0  # relu's floor: log σ clamped, zero gradient there
    d[1, :] = d[1, 0]  # ties
    d[2, :] = -2.0  # a whole row below relu's and atan's floors (atan at d <= -tan 1)
    weights = torch.rand(7, generator=g, dtype=torch.float64).to(device)
    a, b = d.clone().requires_grad_(), d.clone().requires_grad_()
    ours, ref = log_weighted_activation_sum(a, tau, beta, activation), plain(b, tau, beta, activation)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    (ours * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12)


def test_gradcheck_away_from_the_floors():
    d = (torch.rand(4, 9, dtype=torch.float64) * 1.6 - 0.8).requires_grad_()
    for activation in ACTIVATIONS:
        # beta = 0: no detached Z, so the gradient is the exact derivative
        assert torch.autograd.gradcheck(lambda x: log_weighted_activation_sum(x, 0.3, 0.0, activation), (d,))


def test_float32_small_tau_stays_finite():
    d = torch.tensor([[-1.0, 1.0, 0.0, 0.999]], requires_grad=True)
    out = log_weighted_activation_sum(d, 0.01, 0.8, "relu")
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(d.grad).all()


@pytest.mark.parametrize("activation", ["relu", "atan"])
def test_gradient_is_zero_at_the_floor_and_unchanged_above_it(activation):
    """The floor's mask is skipped when no entry reaches it; both branches give autograd's values."""
    above = torch.rand(3, 5, dtype=torch.float64) * 0.5
    floored = above.clone()
    floored[0, 0] = -2.0
    for d in (above, floored):
        a, b = d.clone().requires_grad_(), d.clone().requires_grad_()
        log_weighted_activation_sum(a, 0.2, 0.5, activation).sum().backward()
        plain(b, 0.2, 0.5, activation).sum().backward()
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12)
    assert a.grad[0, 0] == 0.0
