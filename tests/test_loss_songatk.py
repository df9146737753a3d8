"""SONG@K against a naive loop written from docs/losses.md (value and gradient, with and without
the moving averages, with the weight detached or not), its γ_g = 1 limit, the quantile-regression
step and the moving-average update by hand, and its messages."""

import math

import pytest
import torch

from recbole_losses import build_loss
from recbole_losses.losses import SONGatK, canonical_loss_name

N_ITEMS = 50
TRAIN_USER = [0, 0, 1, 1, 2, 3, 3]
TRAIN_ITEM = [4, 7, 1, 9, 4, 0, 2]


def data(seed=0, b=5, n=6, m=2):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(*s, generator=g, dtype=torch.float64) * 2 - 1 for s in ((b,), (b, n), (b, m)))


def f(x):
    return -1 / math.log2(1 + x)


def f_prime(x):
    return 1 / (math.log(2) * (1 + x) * math.log2(1 + x) ** 2)


def naive(pos, neg, spos, betas, stored, gamma, n_items, detach_weight=True):
    """(loss, d/d pos [B], d/d neg [B][N]); ``stored[b]``: the pair's g before the batch or None."""
    b = len(pos)
    value, grad_pos, grad_neg = 0.0, [], []
    for r in range(b):
        others = neg[r] + ([] if spos is None else spos[r])
        c = len(others) + 1
        scale = max(1.0, (n_items - 1) / (c - 1)) if n_items else 1.0
        g_hat = 1 + scale * sum(max(0.0, s - pos[r] + 1) ** 2 for s in others)
        g = g_hat if stored[r] is None else (1 - gamma) * stored[r] + gamma * g_hat
        w = 1 / (1 + math.exp(-(pos[r] - betas[r])))
        bracket = f(g) + f_prime(g) * (g_hat - g)
        value += w * bracket / b
        dg_dneg = [scale * 2 * max(0.0, s - pos[r] + 1) for s in neg[r]]
        dg_dpos = -scale * sum(2 * max(0.0, s - pos[r] + 1) for s in others)
        gp = w * f_prime(g) * dg_dpos + (0.0 if detach_weight else w * (1 - w) * bracket)
        grad_pos.append(gp / b)
        grad_neg.append([w * f_prime(g) * x / b for x in dg_dneg])
    return value, grad_pos, grad_neg


def stateful(**kwargs):
    loss = SONGatK(**kwargs)
    loss.setup(n_users=4, n_items=N_ITEMS, item_counts=torch.ones(N_ITEMS, dtype=torch.long)[: len(TRAIN_ITEM)])
    loss.attach(scorer=None, train_user=torch.tensor(TRAIN_USER), train_item=torch.tensor(TRAIN_ITEM))
    return loss


def check(loss, pos, neg, spos, want, **kwargs):
    p, n = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    out = loss(p, n, sampled_pos_score=spos, **kwargs)
    out.backward()
    value, grad_pos, grad_neg = want
    assert out.item() == pytest.approx(value, rel=1e-12)
    assert p.grad.tolist() == pytest.approx(grad_pos, rel=1e-10, abs=1e-15)
    assert n.grad.flatten().tolist() == pytest.approx([x for row in grad_neg for x in row], rel=1e-10, abs=1e-15)


@pytest.mark.parametrize("with_spos", [False, True])
@pytest.mark.parametrize("detach_weight", [True, False])
def test_without_state_matches_naive_loop(with_spos, detach_weight):
    pos, neg, spos = data(1)
    spos = spos if with_spos else None
    loss = SONGatK(beta_init=0.3, detach_weight=detach_weight)
    want = naive(pos.tolist(), neg.tolist(), None if spos is None else spos.tolist(), [0.3] * 5, [None] * 5, 0.1,
                 None, detach_weight)
    check(loss, pos, neg, spos, want)


@pytest.mark.parametrize("gamma", [0.1, 0.7, 1.0])
@pytest.mark.parametrize("detach_weight", [True, False])
def test_with_moving_averages_and_quantiles_matches_naive_loop(gamma, detach_weight):
    pos, neg, spos = data(2)
    loss = stateful(gamma_g=gamma, detach_weight=detach_weight)
    loss.beta.copy_(torch.tensor([0.2, -0.3, 0.0, 0.5]))
    key = {(u, i): k for k, (u, i) in enumerate(sorted(zip(TRAIN_USER, TRAIN_ITEM)))}
    loss.g[key[(0, 7)]], loss.g_seen[key[(0, 7)]] = 3.5, 1.0
    loss.g[key[(3, 2)]], loss.g_seen[key[(3, 2)]] = 40.0, 1.0
    loss.g[key[(1, 1)]] = 8.0  # not seen: ignored
    user, item = [0, 1, 3, 2, 0], [7, 1, 2, 3, 4]  # (2, 3) is no training pair
    stored = [3.5, None, 40.0, None, None]
    betas = [float(loss.beta[u]) for u in user]  # the float32 buffer's values
    want = naive(pos.tolist(), neg.tolist(), spos.tolist(), betas, stored, gamma, N_ITEMS, detach_weight)
    check(loss, pos, neg, spos, want, user=torch.tensor(user), pos_item=torch.tensor(item))


def test_gamma_one_is_the_smoothed_dcg_term_and_an_upper_bound_otherwise():
    pos, neg, spos = data(3)
    user, item = torch.tensor([0, 0, 1, 3, 2]), torch.tensor([4, 7, 9, 0, 4])
    values = {}
    for gamma in (1.0, 0.2):
        loss = stateful(gamma_g=gamma)
        loss.g.fill_(30.0)
        loss.g_seen.fill_(1.0)
        values[gamma] = loss.row_loss(pos, neg, sampled_pos_score=spos, user=user, pos_item=item)
    others = torch.cat([neg, spos], dim=1)
    g_hat = 1 + (N_ITEMS - 1) / 8 * torch.clamp(others - pos[:, None] + 1, min=0).square().sum(1)
    target = -torch.sigmoid(pos) / torch.log2(1 + g_hat)  # β = 0
    torch.testing.assert_close(values[1.0], target)
    assert (values[0.2] >= target).all() and (values[0.2] > target + 1e-6).any()


def test_quantile_step_and_moving_average_update_by_hand():
    """K = 5 of I = 50 items: p = 0.9. User 0 has two rows, so two steps are summed; pair (0, 7)
    is seen (g = 3.5), (1, 9) is not; the non-training pair (2, 3) writes nothing."""
    loss = stateful(gamma_g=0.25, eta_lambda=0.1, k=5)
    key = {(u, i): k for k, (u, i) in enumerate(sorted(zip(TRAIN_USER, TRAIN_ITEM)))}
    loss.g[key[(0, 7)]], loss.g_seen[key[(0, 7)]] = 3.5, 1.0
    loss.train()
    pos = torch.tensor([0.5, 0.0, 0.2, -0.1], dtype=torch.float64, requires_grad=True)
    neg = torch.tensor([[0.9, 0.1, -0.5], [0.3, 0.2, -0.2], [0.0, 0.4, 0.6], [0.7, -0.7, 0.1]], dtype=torch.float64)
    user, item = torch.tensor([0, 1, 2, 0]), torch.tensor([7, 9, 3, 4])
    loss(pos, neg, user=user, pos_item=item).backward()
    loss.after_step()
    p = 0.9
    steps = {}
    for r, u in enumerate(user.tolist()):
        scores = [pos[r].item()] + neg[r].tolist()
        grad = sum((1 - p) * (s < 0) - p * (s > 0) for s in scores) / 4
        steps[u] = steps.get(u, 0.0) - 0.1 * grad
    assert loss.beta.tolist() == pytest.approx([steps[0], steps[1], steps[2], 0.0], rel=1e-6)
    scale = (N_ITEMS - 1) / 3
    g_hat = [1 + scale * sum(max(0.0, s - pos[r].item() + 1) ** 2 for s in neg[r].tolist()) for r in range(4)]
    want = {key[(0, 7)]: 0.75 * 3.5 + 0.25 * g_hat[0], key[(1, 9)]: g_hat[1], key[(0, 4)]: g_hat[3]}
    for k in range(len(TRAIN_ITEM)):
        assert loss.g[k].item() == pytest.approx(want.get(k, 1.0), rel=1e-6)
        assert loss.g_seen[k].item() == (1.0 if k in want else 0.0)


def test_no_update_outside_training():
    loss = stateful(eta_lambda=0.5)
    pos, neg, spos = data(4)
    user, item = torch.tensor([0, 0, 1, 3, 2]), torch.tensor([4, 7, 9, 0, 4])
    loss.eval()
    loss(pos, neg, user=user, pos_item=item)
    loss.after_step()
    assert loss.beta.tolist() == [0.0] * 4 and loss.g_seen.sum().item() == 0.0


def test_attach_with_more_pairs_than_setup_counted_is_an_error():
    loss = SONGatK()
    loss.setup(n_users=2, n_items=5, item_counts=torch.tensor([1, 1, 0, 0, 0]))
    with pytest.raises(ValueError) as err:
        loss.attach(scorer=None, train_user=torch.tensor([0, 0, 1]), train_item=torch.tensor([0, 1, 2]))
    assert str(err.value) == ("SONG@K: attach got 3 distinct training pairs, but setup's item counts sum to 2; "
                              "pass setup the training split's counts")


def test_names():
    for name in ("SONG@K", "SONGatK", "song@k"):
        assert canonical_loss_name(name) == "SONG@K"
    assert build_loss("SONGatK").hyperparameters() == {
        "gamma_g": 0.1, "eta_lambda": 0.001, "k": 20, "beta_init": 0.0, "detach_weight": True}


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"gamma_g": 0.0}, "SONG@K: gamma_g must be a number in (0, 1], got 0.0"),
        ({"eta_lambda": -0.1}, "SONG@K: eta_lambda must be a number >= 0, got -0.1"),
        ({"k": 0}, "SONG@K: k must be an integer >= 1, got 0"),
        ({"beta_init": "0"}, "SONG@K: beta_init must be a number, got '0'"),
        ({"detach_weight": 0}, "SONG@K: detach_weight must be True or False, got 0"),
    ],
)
def test_bad_hyperparameters_have_exact_messages(kwargs, message):
    with pytest.raises(ValueError) as err:
        SONGatK(**kwargs)
    assert str(err.value) == message
