"""BSL against a naive loop written from docs/losses.md, its SL identity, and its messages."""

import math

import pytest
import torch

from recbole_losses import build_loss
from recbole_losses.losses import BSL, SL


def data(seed=0, b=5, n=8, m=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (
        (torch.rand(b, generator=g, dtype=dtype) * 2 - 1),
        (torch.rand(b, n, generator=g, dtype=dtype) * 2 - 1),
        (torch.rand(b, m, generator=g, dtype=dtype) * 2 - 1),
    )


def naive_bsl(pos, neg, spos, tau1, tau2, positives):
    out = 0.0
    for b in range(len(pos)):
        p = [pos[b]] + (spos[b] if positives == "sampled" else [])
        pos_term = -math.log(sum(math.exp(r / tau1) for r in p) / len(p))
        neg_term = (tau2 / tau1) * math.log(sum(math.exp(r / tau2) for r in neg[b]))
        out += pos_term + neg_term
    return out / len(pos)


@pytest.mark.parametrize("positives", ["anchor", "sampled"])
@pytest.mark.parametrize("tau1,tau2", [(0.1, 0.1), (0.2, 0.05), (0.5, 0.2), (1.0, 0.3)])
def test_matches_naive_loop(positives, tau1, tau2):
    pos, neg, spos = data(1)
    got = build_loss("BSL", tau1=tau1, tau2=tau2, positives=positives)(pos, neg, sampled_pos_score=spos)
    want = naive_bsl(pos.tolist(), neg.tolist(), spos.tolist(), tau1, tau2, positives)
    assert got.item() == pytest.approx(want, rel=1e-11)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tau", [0.01, 0.05, 0.1, 0.2, 1.0])
def test_equal_temperatures_is_exactly_sl(dtype, tau):
    pos, neg, spos = data(2, dtype=dtype)
    pos_a, neg_a = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    pos_b, neg_b = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    bsl = BSL(tau1=tau, tau2=tau)(pos_a, neg_a, sampled_pos_score=spos)
    sl = SL(tau=tau)(pos_b, neg_b, sampled_pos_score=spos)
    assert torch.equal(bsl, sl)
    bsl.backward()
    sl.backward()
    assert torch.equal(pos_a.grad, pos_b.grad) and torch.equal(neg_a.grad, neg_b.grad)


def test_anchor_form_is_scaled_sl_of_tau2():
    pos, neg, _ = data(3)
    got = BSL(tau1=0.4, tau2=0.1)(pos, neg)
    torch.testing.assert_close(got, 0.25 * SL(tau=0.1)(pos, neg))


def test_sampled_form_with_the_anchor_repeated_is_the_anchor_form():
    pos, neg, _ = data(4)
    spos = pos.unsqueeze(1).repeat(1, 3)
    got = BSL(tau1=0.3, tau2=0.1, positives="sampled")(pos, neg, sampled_pos_score=spos)
    torch.testing.assert_close(got, BSL(tau1=0.3, tau2=0.1)(pos, neg))


def test_sampled_form_needs_sampled_positives():
    pos, neg, _ = data()
    with pytest.raises(ValueError) as err:
        BSL(positives="sampled")(pos, neg)
    assert str(err.value) == "BSL: positives='sampled' needs sampled_pos_score [B, M] (set pos_num >= 1)"


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"tau1": 0.0}, "BSL: tau1 must be a number > 0, got 0.0"),
        ({"tau2": -0.1}, "BSL: tau2 must be a number > 0, got -0.1"),
        ({"tau1": None}, "BSL: tau1 must be a number > 0, got None"),
        ({"positives": "all"}, "BSL: positives must be one of ['anchor', 'sampled'], got 'all'"),
    ],
)
def test_bad_hyperparameters_have_exact_messages(kwargs, message):
    with pytest.raises(ValueError) as err:
        BSL(**kwargs)
    assert str(err.value) == message
