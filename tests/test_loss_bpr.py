"""BPR against RecBole's BPRLoss (N = 1) and a naive loop."""

import math

import pytest
import torch
from recbole.model.loss import BPRLoss

from naive import B, N, scores
from recbole_losses import build_loss

def test_bpr_with_one_negative_equals_recbole_bprloss():
    g = torch.Generator().manual_seed(9)
    pos, neg = torch.randn(64, generator=g) * 3, torch.randn(64, generator=g) * 3
    ours = build_loss("BPR")(pos, neg.unsqueeze(1))
    torch.testing.assert_close(ours, BPRLoss()(pos, neg), rtol=1e-6, atol=1e-7)


def test_bpr_matches_naive_loop():
    pos, neg, _ = scores(10)
    expected = sum(math.log1p(math.exp(n - p)) for p, row in zip(pos.tolist(), neg.tolist()) for n in row) / (B * N)
    assert build_loss("BPR")(pos, neg).item() == pytest.approx(expected, rel=1e-12)
