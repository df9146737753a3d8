"""CCL against a naive loop written from docs/losses.md, hand-computed values, and its messages."""

import pytest
import torch

from recbole_losses import build_loss
from recbole_losses.losses import CCL


def naive_ccl(pos, neg, margin, w):
    out = 0.0
    for b in range(len(pos)):
        hinge = max(1.0 - pos[b], 0.0)
        out += hinge + w * sum(max(s - margin, 0.0) for s in neg[b]) / len(neg[b])
    return out / len(pos)


@pytest.mark.parametrize("margin,w", [(0.7, 1.0), (0.0, 10.0), (-0.5, 50.0), (0.9, 3.0)])
def test_matches_naive_loop(margin, w):
    g = torch.Generator().manual_seed(3)
    pos = torch.rand(6, generator=g, dtype=torch.float64) * 2 - 1
    neg = torch.rand(6, 9, generator=g, dtype=torch.float64) * 2 - 1
    got = build_loss("CCL", margin=margin, neg_weight=w)(pos, neg)
    assert got.item() == pytest.approx(naive_ccl(pos.tolist(), neg.tolist(), margin, w), rel=1e-12)


def test_hand_computed_values():
    loss = CCL(margin=0.7, neg_weight=2.0)
    pos = torch.tensor([0.2, 1.0], dtype=torch.float64)
    neg = torch.tensor([[0.9, 0.5, 0.75], [0.1, 0.2, 0.3]], dtype=torch.float64)
    rows = loss.row_loss(pos, neg)
    # Row 0: relu(0.8) + 2 * (0.2 + 0 + 0.05) / 3; row 1: relu(0) + 2 * 0 (all below the margin).
    torch.testing.assert_close(rows, torch.tensor([0.8 + 2 * 0.25 / 3, 0.0], dtype=torch.float64))
    assert loss(pos, neg).item() == pytest.approx((0.8 + 0.5 / 3) / 2, rel=1e-14)


def test_gradient_only_from_negatives_above_the_margin():
    pos = torch.tensor([0.3], requires_grad=True)
    neg = torch.tensor([[0.8, 0.1, 0.75, -0.2]], requires_grad=True)
    CCL(margin=0.7, neg_weight=4.0)(pos, neg).backward()
    assert pos.grad.tolist() == [-1.0]
    torch.testing.assert_close(neg.grad, torch.tensor([[1.0, 0.0, 1.0, 0.0]]))  # w / N = 4 / 4


def test_defaults_are_simplex_values_that_train_at_n_1000():
    # SimpleX's m = 0.5, w = 10, chosen on Health MF validation over the DrRL code's 0.7 / 1 (tuned at N = 64).
    assert CCL().hyperparameters() == {"margin": 0.5, "neg_weight": 10.0}


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"margin": 1.5}, "CCL: margin must be a number in [-1, 1], got 1.5"),
        ({"margin": "0.5"}, "CCL: margin must be a number in [-1, 1], got '0.5'"),
        ({"neg_weight": 0}, "CCL: neg_weight must be a number > 0, got 0.0"),
        ({"neg_weight": -1.0}, "CCL: neg_weight must be a number > 0, got -1.0"),
    ],
)
def test_bad_hyperparameters_have_exact_messages(kwargs, message):
    with pytest.raises(ValueError) as err:
        CCL(**kwargs)
    assert str(err.value) == message


def test_from_config_names_the_keys():
    with pytest.raises(ValueError) as err:
        CCL.from_config({"ccl_margin": 2.0})
    assert str(err.value) == "invalid loss hyperparameter (ccl_* config keys): CCL: margin must be a number in [-1, 1], got 2.0"
