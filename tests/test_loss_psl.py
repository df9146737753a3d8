"""PSL against a naive per-row loop (float64) for every activation, its exp limit (SL), and its
error messages."""

import pytest
import torch

from naive import lists, naive_psl, scores
from recbole_losses import build_loss

@pytest.mark.parametrize("activation", ["relu", "tanh", "atan", "exp"])
@pytest.mark.parametrize("tau", [0.05, 0.5])
def test_psl_matches_naive_loop(activation, tau):
    pos, neg, _ = scores(1)
    got = build_loss("PSL", tau=tau, activation=activation)(pos, neg)
    assert got.item() == pytest.approx(naive_psl(*lists(pos, neg), tau, activation), rel=1e-12)


def test_psl_with_exp_is_sl():
    pos, neg, _ = scores(3)
    torch.testing.assert_close(build_loss("PSL", tau=0.1, activation="exp")(pos, neg), build_loss("SL", tau=0.1)(pos, neg))


@pytest.mark.parametrize(
    "params,message",
    [
        ({"tau": 0.0}, r"PSL: tau must be a number > 0, got 0.0"),
        ({"activation": "sigmoid"}, r"PSL: activation must be one of \['relu', 'tanh', 'atan', 'exp'\], got 'sigmoid'"),
    ],
)
def test_invalid_hyperparameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        build_loss("PSL", **params)
