"""LLPAUC against a naive loop written from docs/losses.md, its optimiser groups, and its messages."""

import math

import pytest
import torch

from recbole_losses import build_loss
from recbole_losses.losses import LLPAUC


def data(seed=0, b=5, n=8, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, generator=g, dtype=dtype) * 2 - 1, torch.rand(b, n, generator=g, dtype=dtype) * 2 - 1


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def r_kappa(x, kappa):
    return math.log1p(math.exp(kappa * x)) / kappa


def naive_llpauc(pos, neg, v, alpha, beta, kappa):
    a, b, g, sp, sn, ta, tb = (v[k] for k in ("a", "b", "gamma", "s_pos", "s_neg", "theta_a", "theta_b"))
    out = 0.0
    for row in range(len(pos)):
        pp = sigmoid(pos[row])
        max_p = r_kappa(-((pp - a) ** 2) + 2 * (1 + g) * pp - sp, kappa)
        max_n = sum(r_kappa((sigmoid(s) - b) ** 2 + 2 * (1 + g) * sigmoid(s) - sn, kappa) for s in neg[row]) / len(neg[row])
        out += -sp - max_p / alpha + sn + max_n / beta - g * g + ta * (a + g) + tb * (g + 1 - b)
    return out / len(pos)


INITIAL = {"a": 1.0, "b": 0.0, "gamma": 0.0, "s_pos": 0.5, "s_neg": 0.5, "theta_a": 0.5, "theta_b": 0.5}


@pytest.mark.parametrize("alpha,beta,kappa", [(0.7, 0.01, 5.0), (0.5, 0.1, 5.0), (0.9, 1.0, 2.0)])
def test_matches_naive_loop_at_initial_variables(alpha, beta, kappa):
    pos, neg = data(1)
    got = build_loss("LLPAUC", alpha=alpha, beta=beta, kappa=kappa)(pos, neg)
    assert got.item() == pytest.approx(naive_llpauc(pos.tolist(), neg.tolist(), INITIAL, alpha, beta, kappa), rel=1e-12)


def test_matches_naive_loop_at_other_variables():
    pos, neg = data(2)
    loss = LLPAUC(alpha=0.3, beta=0.1)
    values = {"a": 0.8, "b": 0.3, "gamma": -0.2, "s_pos": 1.5, "s_neg": 0.2, "theta_a": -0.1, "theta_b": 0.7}
    with torch.no_grad():
        for k, v in values.items():
            loss.variables[k].fill_(v)
    got = loss(pos, neg)
    want = naive_llpauc(pos.tolist(), neg.tolist(), {k: float(torch.tensor(v, dtype=torch.float32)) for k, v in values.items()}, 0.3, 0.1, 5.0)
    assert got.item() == pytest.approx(want, rel=1e-12)


def test_initial_variables_and_state_dict():
    loss = LLPAUC()
    assert {k: p.item() for k, p in loss.variables.items()} == INITIAL
    assert set(loss.state_dict()) == {f"variables.{k}" for k in INITIAL}


@pytest.mark.parametrize("ascent", [False, True])
def test_optimizer_groups(ascent):
    loss = LLPAUC(ascent=ascent)
    groups = loss.optimizer_groups(lr=0.01, weight_decay=1e-4)
    by_param = {}
    for group in groups:
        for p in group["params"]:
            by_param[p] = group
    v = loss.variables
    assert set(by_param) == set(v.values())
    for key in ("a", "b", "theta_a", "theta_b"):
        assert by_param[v[key]]["lr"] == 0.01 and not by_param[v[key]].get("maximize", False)
    assert by_param[v["s_neg"]]["lr"] == 0.02 and not by_param[v["s_neg"]].get("maximize", False)
    for key in ("s_pos", "gamma"):
        assert by_param[v[key]]["lr"] == 0.02 and by_param[v[key]]["maximize"] is ascent
    assert all(g["weight_decay"] == 1e-4 for g in groups)
    assert LLPAUC(lr=0.5).optimizer_groups(lr=0.01, weight_decay=0.0)[0]["lr"] == 0.5


def test_clip_variables_projects_onto_the_ranges():
    loss = LLPAUC()
    values = {"a": 1.7, "b": -0.4, "gamma": -3.0, "s_pos": 9.0, "s_neg": -2.0, "theta_a": -7.0, "theta_b": 12.0}
    with torch.no_grad():
        for k, val in values.items():
            loss.variables[k].fill_(val)
    loss.after_step()
    got = {k: p.item() for k, p in loss.variables.items()}
    # a -> 1, b -> 0, s+ -> 4, s- -> 0, gamma -> max(-a, b - 1) = -1, theta unclipped.
    assert got == {"a": 1.0, "b": 0.0, "gamma": -1.0, "s_pos": 4.0, "s_neg": 0.0, "theta_a": -7.0, "theta_b": 12.0}
    with torch.no_grad():
        loss.variables["a"].fill_(0.3)
        loss.variables["b"].fill_(0.9)
        loss.variables["gamma"].fill_(-0.8)
    loss.clip_variables()
    assert loss.variables["gamma"].item() == pytest.approx(-0.1)  # max(-0.3, 0.9 - 1)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"alpha": 0.0}, "LLPAUC: alpha must be a number in (0, 1], got 0.0"),
        ({"beta": 1.5}, "LLPAUC: beta must be a number in (0, 1], got 1.5"),
        ({"kappa": 0}, "LLPAUC: kappa must be a number > 0, got 0.0"),
        ({"lr": -0.1}, "LLPAUC: lr must be a number > 0 or None, got -0.1"),
        ({"ascent": "yes"}, "LLPAUC: ascent must be True or False, got 'yes'"),
    ],
)
def test_bad_hyperparameters_have_exact_messages(kwargs, message):
    with pytest.raises(ValueError) as err:
        LLPAUC(**kwargs)
    assert str(err.value) == message
