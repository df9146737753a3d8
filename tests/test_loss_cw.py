"""CW against a naive per-row loop (float64), its limits (PSL, SL), its gradient with the normaliser
frozen, the floor, the popularity prior, and its error messages."""

import math

import pytest
import torch

from naive import B, N, lists, naive_a, naive_cw, scores, sigma
from recbole_losses import build_loss

@pytest.mark.parametrize("activation", ["relu", "tanh", "atan", "exp"])
@pytest.mark.parametrize("beta,tau_plus", [(0.8, 0.1), (0.0, 0.1), (0.8, 0.0), (2.0, 0.05)])
def test_cw_matches_naive_loop(activation, beta, tau_plus):
    pos, neg, spos = scores(2)
    got = build_loss("CW", tau=0.2, beta=beta, tau_plus=tau_plus, activation=activation)(
        pos, neg, sampled_pos_score=spos
    )
    expected = naive_cw(*lists(pos, neg, spos), 0.2, beta, tau_plus, activation)
    assert got.item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("activation", ["relu", "tanh", "atan", "exp"])
def test_cw_without_weight_and_correction_is_psl(activation):
    pos, neg, spos = scores(4)
    cw = build_loss("CW", tau=0.1, beta=0.0, tau_plus=0.0, activation=activation)
    psl = build_loss("PSL", tau=0.1, activation=activation)
    torch.testing.assert_close(cw(pos, neg, sampled_pos_score=spos), psl(pos, neg))


def test_cw_without_weight_and_correction_with_exp_is_sl():
    pos, neg, spos = scores(5)
    cw = build_loss("CW", tau=0.1, beta=0.0, tau_plus=0.0, activation="exp")
    torch.testing.assert_close(cw(pos, neg, sampled_pos_score=spos), build_loss("SL", tau=0.1)(pos, neg))


def test_cw_gradient_is_that_of_eq_10_with_the_normaliser_frozen():
    """β > 0: Z is detached, so the gradient equals the derivative of the loss with Z held fixed."""
    pos, neg, spos = scores(6)
    z = [sum(math.exp(-0.8 * (n - p)) for n in row) / N for p, row in zip(pos.tolist(), neg.tolist())]
    loss = build_loss("CW", tau=0.2, beta=0.8, tau_plus=0.1)
    pos.requires_grad_()
    loss(pos, neg, sampled_pos_score=spos).backward()
    eps = 1e-6
    for b in range(B):
        up, down = pos.detach().clone(), pos.detach().clone()
        up[b] += eps
        down[b] -= eps
        numeric = (naive_cw(*lists(up, neg, spos), 0.2, 0.8, 0.1, "relu", z=z)
                   - naive_cw(*lists(down, neg, spos), 0.2, 0.8, 0.1, "relu", z=z)) / (2 * eps)
        assert pos.grad[b].item() == pytest.approx(numeric, rel=1e-5)


def test_cw_floor_binds_and_keeps_the_row_finite_and_trained_as_lw():
    """A row whose sampled positives dominate: A − τ⁺C < 0 without the floor."""
    pos = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    neg = torch.tensor([[-0.5, -0.4, -0.45]], dtype=torch.float64, requires_grad=True)
    spos = torch.tensor([[0.3, 0.2]], dtype=torch.float64, requires_grad=True)
    cw = build_loss("CW", tau=0.1, beta=0.8, tau_plus=0.5, floor=0.01)
    out = cw(pos, neg, sampled_pos_score=spos)
    a_minus = naive_a(pos, neg, 0.1, 0.8) - 0.5 * sum(sigma(s - 0.0, "relu") ** 10 for s in (0.3, 0.2)) / 2
    assert a_minus < 0  # the correction overshoots: the floor must bind
    lw = build_loss("CW", tau=0.1, beta=0.8, tau_plus=0.0)(pos, neg)
    assert out.item() == pytest.approx(lw.item() + math.log(0.01) - math.log(0.5), rel=1e-12)
    out.backward()
    assert torch.isfinite(pos.grad).all() and torch.isfinite(neg.grad).all()
    assert torch.all(spos.grad == 0)  # C gets no gradient while the floor binds


def test_cw_floor_inactive_when_corrected_term_is_comfortably_positive():
    pos, neg, spos = scores(7)
    tiny_floor = build_loss("CW", tau_plus=0.01, floor=1e-8)(pos, neg, sampled_pos_score=spos)
    default_floor = build_loss("CW", tau_plus=0.01)(pos, neg, sampled_pos_score=spos)
    torch.testing.assert_close(tiny_floor, default_floor)


def test_cw_pop_uses_training_popularity_of_the_sampled_negatives():
    pos, neg, spos = scores(8)
    counts = torch.tensor([0, 5, 1, 2, 9, 0, 3, 7, 4, 6])
    neg_item = torch.randint(1, 10, (B, N))
    cw = build_loss("CW", tau_plus="pop")
    cw.setup(n_users=20, n_items=10, item_counts=counts)
    got = cw.row_loss(pos, neg, sampled_pos_score=spos, neg_item=neg_item)
    for b in range(B):
        tp = (counts[neg_item[b]].double() / 20).mean().item()
        row = build_loss("CW", tau_plus=tp).row_loss(pos[b:b + 1], neg[b:b + 1], sampled_pos_score=spos[b:b + 1])
        assert got[b].item() == pytest.approx(row.item(), rel=1e-10)


def test_cw_pop_without_setup_is_a_clear_error():
    pos, neg, spos = scores()
    with pytest.raises(ValueError, match=r"tau_plus='pop' needs item popularity"):
        build_loss("CW", tau_plus="pop")(pos, neg, sampled_pos_score=spos, neg_item=torch.ones(B, N, dtype=torch.long))


def test_cw_correction_needs_sampled_positives():
    pos, neg, _ = scores()
    with pytest.raises(ValueError, match=r"CW: tau_plus > 0 needs sampled_pos_score \[B, M\]"):
        build_loss("CW")(pos, neg)


@pytest.mark.parametrize(
    "params,message",
    [
        ({"tau": -0.1}, r"CW: tau must be a number > 0, got -0.1"),
        ({"beta": -1}, r"CW: beta must be a number >= 0, got -1.0"),
        ({"tau_plus": 1.0}, r"CW: tau_plus must be a number in \[0, 1\) or 'pop', got 1.0"),
        ({"tau_plus": -0.1}, r"CW: tau_plus must be a number in \[0, 1\) or 'pop', got -0.1"),
        ({"tau_plus": None}, r"CW: tau_plus must be a number in \[0, 1\) or 'pop', got None"),
        ({"tau_plus": "popularity"}, r"CW: tau_plus must be a number in \[0, 1\) or 'pop', got 'popularity'"),
        ({"activation": "gelu"}, r"CW: activation must be one of \['relu', 'tanh', 'atan', 'exp'\], got 'gelu'"),
        ({"floor": 0}, r"CW: floor must be a number in \(0, 1\), got 0.0"),
    ],
)
def test_invalid_hyperparameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        build_loss("CW", **params)
