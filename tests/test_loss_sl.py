"""SL against a naive per-row loop (float64), and its error messages."""

import pytest

from naive import lists, naive_sl, scores
from recbole_losses import build_loss

@pytest.mark.parametrize("tau", [0.05, 0.1, 1.0])
def test_sl_matches_naive_loop(tau):
    pos, neg, _ = scores()
    got = build_loss("SL", tau=tau)(pos, neg)
    assert got.item() == pytest.approx(naive_sl(*lists(pos, neg), tau), rel=1e-12)


@pytest.mark.parametrize(
    "params,message",
    [
        ({"tau": 0}, r"SL: tau must be a number > 0, got 0.0"),
        ({"tau": -1.0}, r"SL: tau must be a number > 0, got -1.0"),
        ({"tau": "0.1"}, r"SL: tau must be a number > 0, got '0.1'"),
    ],
)
def test_invalid_hyperparameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        build_loss("SL", **params)
