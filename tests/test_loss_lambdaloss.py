"""LambdaRank, LambdaLoss and LambdaLoss@K against a naive loop written from docs/losses.md (ranks
by counting, ties included; values and gradients), the rank estimate, LambdaLoss@K's limit
(K beyond every rank: LambdaLoss), their names and their messages."""

import math

import pytest
import torch

from recbole_losses import build_loss
from recbole_losses.losses import LambdaLoss, LambdaLossAtK, LambdaRank, canonical_loss_name


def data(seed=0, b=5, n=8, m=3, ties=False):
    g = torch.Generator().manual_seed(seed)
    pos, neg, spos = (torch.rand(*s, generator=g, dtype=torch.float64) * 2 - 1 for s in ((b,), (b, n), (b, m)))
    if ties:  # a coarse grid: many equal scores within a row
        pos, neg, spos = ((t * 2).round() / 2 for t in (pos, neg, spos))
    return pos, neg, spos


def naive_ranks(pos, neg, spos, n_items=None):
    """Rank (1 = best) of the positive and of each negative by counting: strictly higher scores
    first, then ties in the order negatives (by index), sampled positives (by index), positive."""
    c = 1 + len(neg) + len(spos)
    others = [(s, 0, j) for j, s in enumerate(neg)] + [(s, 1, k) for k, s in enumerate(spos)] + [(pos, 2, 0)]

    def rank(score, group, index):
        return 1 + sum(1 for s, g, i in others if s > score or (s == score and (g, i) < (group, index)))

    pos_rank, neg_rank = rank(pos, 2, 0), [rank(s, 0, j) for j, s in enumerate(neg)]
    if n_items is not None:
        f = max(1.0, (n_items - 1) / (c - 1))
        pos_rank, neg_rank = 1 + (pos_rank - 1) * f, [1 + (r - 1) * f for r in neg_rank]
    return pos_rank, neg_rank


def weight(name, pi, pj, k=None):
    disc = lambda r: 1 / math.log2(1 + r)
    if name == "LambdaRank":
        return abs(disc(pi) - disc(pj))
    gap = abs(pi - pj)
    eta = 1 / math.log2(1 + gap) - 1 / math.log2(2 + gap)
    if name == "LambdaLoss@K" and max(pi, pj) > k:
        return eta / (1 - 1 / math.log2(1 + max(pi, pj)))
    return eta


def naive(name, pos, neg, spos, k=None, n_items=None):
    """(loss, d loss / d pos [B], d loss / d neg [B, N]) for float lists; spos may be None."""
    b, n = len(pos), len(neg[0])
    value, grad_pos, grad_neg = 0.0, [], []
    for r in range(b):
        pi, pjs = naive_ranks(pos[r], neg[r], [] if spos is None else spos[r], n_items)
        row, gp, gn = 0.0, 0.0, []
        for j in range(n):
            w = weight(name, pi, pjs[j], k)
            d = neg[r][j] - pos[r]
            row += w * math.log1p(math.exp(d)) / n
            s = 1 / (1 + math.exp(-d))
            gn.append(w * s / (n * b))
            gp -= w * s / (n * b)
        value += row / b
        grad_pos.append(gp)
        grad_neg.append(gn)
    return value, grad_pos, grad_neg


CASES = [("LambdaRank", {}), ("LambdaLoss", {}), ("LambdaLoss@K", {"k": 3}), ("LambdaLoss@K", {"k": 40})]


@pytest.mark.parametrize("name,kwargs", CASES)
@pytest.mark.parametrize("with_spos", [False, True])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("n_items", [None, 97])
def test_matches_naive_loop_value_and_gradient(name, kwargs, with_spos, ties, n_items):
    pos, neg, spos = data(1, ties=ties)
    spos = spos if with_spos else None
    loss = build_loss(name, **kwargs)
    if n_items is not None:
        loss.setup(n_users=5, n_items=n_items, item_counts=torch.ones(n_items))
    p, n = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    out = loss(p, n, sampled_pos_score=spos)
    out.backward()
    want, grad_pos, grad_neg = naive(name, pos.tolist(), neg.tolist(), None if spos is None else spos.tolist(),
                                     kwargs.get("k"), n_items)
    assert out.item() == pytest.approx(want, rel=1e-12)
    assert p.grad.tolist() == pytest.approx(grad_pos, rel=1e-10, abs=1e-15)
    assert n.grad.flatten().tolist() == pytest.approx([x for row in grad_neg for x in row], rel=1e-10, abs=1e-15)


def test_ranks_by_hand():
    """Row 0: 0.9 > 0.7 (sampled positive) > 0.5 (negative, tied with the positive and ranked
    above it) > 0.5 (positive) > 0.1; rescaled to I = 101 items: 1 + (π - 1)·100/4."""
    pos = torch.tensor([0.5, 0.0])
    neg = torch.tensor([[0.9, 0.1, 0.5], [0.2, -0.1, 0.3]])
    spos = torch.tensor([[0.7], [0.0]])
    loss = LambdaRank()
    pos_rank, neg_rank = loss.ranks(pos, neg, spos)
    assert pos_rank.tolist() == [4.0, 4.0] and neg_rank.tolist() == [[1.0, 5.0, 3.0], [2.0, 5.0, 1.0]]
    pos_rank, neg_rank = loss.ranks(pos, neg)  # without the sampled positives
    assert pos_rank.tolist() == [3.0, 3.0] and neg_rank.tolist() == [[1.0, 4.0, 2.0], [2.0, 4.0, 1.0]]
    loss.setup(n_users=2, n_items=101, item_counts=torch.ones(101))
    pos_rank, neg_rank = loss.ranks(pos, neg, spos)
    assert pos_rank.tolist() == [76.0, 76.0] and neg_rank.tolist() == [[1.0, 101.0, 51.0], [26.0, 101.0, 1.0]]
    # rescale off: the candidates' own ranks; fewer items than candidates: never scaled down.
    assert LambdaRank(rescale=False).ranks(pos, neg, spos)[0].tolist() == [4.0, 4.0]
    few = LambdaRank()
    few.setup(n_users=2, n_items=3, item_counts=torch.ones(3))
    assert few.ranks(pos, neg, spos)[1].tolist() == [[1.0, 5.0, 3.0], [2.0, 5.0, 1.0]]


@pytest.mark.parametrize("n_items", [None, 500])
def test_lambdaloss_at_k_beyond_every_rank_is_lambdaloss(n_items):
    pos, neg, spos = data(2)
    largest = 1 + neg.shape[1] if n_items is None else n_items  # no sampled positives: C = N + 1
    results = []
    for loss in (LambdaLossAtK(k=largest), LambdaLoss(), LambdaLossAtK(k=largest - 1)):
        if n_items is not None:
            loss.setup(n_users=5, n_items=n_items, item_counts=torch.ones(n_items))
        results.append(loss(pos, neg))
    assert torch.equal(results[0], results[1])
    assert results[2] > results[1]  # a pair reaching the last rank is reweighted by > 1


def test_permuting_tied_negatives_leaves_the_loss_unchanged():
    pos, neg, spos = data(3, ties=True)
    for name, kwargs in CASES:
        loss = build_loss(name, **kwargs)
        base = loss(pos, neg, sampled_pos_score=spos)
        for seed in range(5):
            perm = torch.randperm(neg.shape[1], generator=torch.Generator().manual_seed(seed))
            torch.testing.assert_close(loss(pos, neg[:, perm], sampled_pos_score=spos), base)


def test_names_and_aliases():
    assert canonical_loss_name("lambdarank") == "LambdaRank" and canonical_loss_name("LAMBDALOSS") == "LambdaLoss"
    for name in ("LambdaLoss@K", "LambdaLossAtK", "lambdaloss@k"):
        assert canonical_loss_name(name) == "LambdaLoss@K"
    assert LambdaLossAtK().hyperparameters() == {"k": 20, "rescale": True}
    assert LambdaRank.default_score == LambdaLoss.default_score == LambdaLossAtK.default_score == "dot"


@pytest.mark.parametrize(
    "name,kwargs,message",
    [
        ("LambdaRank", {"rescale": 1}, "LambdaRank: rescale must be True or False, got 1"),
        ("LambdaLoss", {"rescale": "yes"}, "LambdaLoss: rescale must be True or False, got 'yes'"),
        ("LambdaLoss@K", {"k": 0}, "LambdaLoss@K: k must be an integer >= 1, got 0"),
        ("LambdaLoss@K", {"k": 20.0}, "LambdaLoss@K: k must be an integer >= 1, got 20.0"),
        ("LambdaLoss@K", {"rescale": None}, "LambdaLoss@K: rescale must be True or False, got None"),
    ],
)
def test_bad_hyperparameters_have_exact_messages(name, kwargs, message):
    with pytest.raises(ValueError) as err:
        build_loss(name, **kwargs)
    assert str(err.value) == message
