"""CW's readings beside the default (``weighting`` spec | inside | hcl, ``floor_mode`` relative |
absolute): a naive float64 loop written from docs/losses.md, gradients, the identities that still
hold, finiteness on hostile scores, the error texts and the config keys."""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recbole_losses import Config, build_loss
from recbole_losses.losses import CW, PSL, SL

WEIGHTINGS = ["spec", "inside", "hcl"]
FLOOR_MODES = ["relative", "absolute"]
ACTIVATIONS = ["relu", "tanh", "atan", "exp"]
TINY64 = torch.finfo(torch.float64).tiny


# σ of docs/losses.md and its inverse (on σ's range above 0), in plain float64 math.
SIGMA = {"relu": lambda d: max(d + 1.0, 0.0), "tanh": lambda d: math.tanh(d) + 1.0,
         "atan": lambda d: math.atan(d) + 1.0, "exp": math.exp}
INVERSE_SIGMA = {"tanh": lambda s: math.atanh(s - 1.0), "atan": lambda s: math.tan(s - 1.0), "exp": math.log}


def sigma(d, activation):
    return SIGMA[activation](d)


def weight(d, beta, tau, weighting):
    """w_j as docs/losses.md states it for each reading."""
    if weighting == "spec":
        return math.exp(-beta * d)
    if weighting == "inside":
        return math.exp(-beta * d) ** (1.0 / tau)
    return math.exp(beta * d / tau)


def naive_row(p, negs, sposs, tau, beta, tau_plus, activation, weighting, floor_mode, floor=0.01, z=None):
    """ℓ = log(N·max(G, G_min)) for one row, straight from the formulas (Z given: frozen)."""
    n = len(negs)
    d = [r - p for r in negs]
    phi = [sigma(x, activation) ** (1.0 / tau) for x in d]
    w = [weight(x, beta, tau, weighting) for x in d]
    z = sum(w) / n if z is None else z
    a = sum(wj / z * fj for wj, fj in zip(w, phi)) / n
    if tau_plus == 0:
        return math.log(n * a)
    c = sum(sigma(r - p, activation) ** (1.0 / tau) for r in sposs) / len(sposs)
    g = (a - tau_plus * c) / (1.0 - tau_plus)
    if floor_mode == "relative":
        return math.log(n * max(g, floor * a / (1.0 - tau_plus)))
    g_min = sigma(-1.0, activation) ** (1.0 / tau)
    if g <= g_min and g_min == 0.0:  # relu: σ(−1) = 0, log σ floored at log(tiny) (docs/losses.md)
        return math.log(n) + math.log(TINY64) / tau
    return math.log(n * max(g, g_min))


def naive(pos, neg, spos, *args, **kwargs):
    rows = [naive_row(p, ns, ks, *args, **kwargs) for p, ns, ks in zip(pos.tolist(), neg.tolist(), spos.tolist())]
    return sum(rows) / len(rows)


def scores(seed=0, b=6, n=9, m=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(b, generator=g, dtype=dtype) - 0.5
    neg = torch.rand(b, n, generator=g, dtype=dtype) - 0.5
    spos = torch.rand(b, m, generator=g, dtype=dtype) - 0.5
    return pos, neg, spos


def value_and_gradients(pos, neg, spos, **params):
    """The CW loss with ``params`` and its gradients with respect to the three score tensors."""
    p, n, s = (t.clone().requires_grad_() for t in (pos, neg, spos))
    out = build_loss("CW", **params)(p, n, sampled_pos_score=s)
    out.backward()
    return out, p.grad, n.grad, s.grad


def with_binding_row(pos, neg, spos):
    """Row 0: negatives far below the positive, sampled positives above it, so that A − τ⁺C < 0
    for τ⁺ = 0.5 and every activation: every floor binds there."""
    pos, neg, spos = pos.clone(), neg.clone(), spos.clone()
    pos[0], neg[0], spos[0] = 0.2, -0.7, 0.45
    return pos, neg, spos


@pytest.mark.parametrize("floor_mode", FLOOR_MODES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("beta,tau_plus", [(0.0, 0.0), (0.8, 0.0), (0.0, 0.1), (0.8, 0.1), (2.0, 0.5)])
def test_matches_naive_loop(activation, weighting, floor_mode, beta, tau_plus):
    pos, neg, spos = with_binding_row(*scores(1))
    loss = build_loss("CW", tau=0.2, beta=beta, tau_plus=tau_plus, activation=activation,
                      floor_mode=floor_mode, weighting=weighting)
    got = loss(pos, neg, sampled_pos_score=spos).item()
    want = naive(pos, neg, spos, 0.2, beta, tau_plus, activation, weighting, floor_mode)
    assert got == pytest.approx(want, rel=1e-10, abs=1e-10)


def test_the_binding_row_is_really_floored_in_the_naive_loop():
    """Guards the tests above: on row 0 the correction overshoots (G < 0) for every activation."""
    pos, neg, spos = with_binding_row(*scores(1))
    for activation in ACTIVATIONS:
        d = [r - pos[0].item() for r in neg[0].tolist()]
        a = sum(sigma(x, activation) ** 5 for x in d) / len(d)
        c = sum(sigma(r - pos[0].item(), activation) ** 5 for r in spos[0].tolist()) / spos.shape[1]
        assert a - 0.5 * c < 0, activation


@pytest.mark.parametrize("floor_mode", FLOOR_MODES)
@pytest.mark.parametrize("activation", ["tanh", "atan", "exp", "relu"])
def test_hcl_gradcheck_with_beta_since_its_normaliser_is_in_the_graph(activation, floor_mode):
    pos, neg, spos = with_binding_row(*scores(2, b=4, n=5, m=2))
    loss = build_loss("CW", tau=0.3, beta=0.8, tau_plus=0.5, activation=activation,
                      floor_mode=floor_mode, weighting="hcl")
    inputs = tuple(t.clone().requires_grad_() for t in (pos, neg, spos))
    assert torch.autograd.gradcheck(lambda p, n, s: loss(p, n, sampled_pos_score=s), inputs)


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("floor_mode", FLOOR_MODES)
def test_gradcheck_where_the_gradient_is_exact(weighting, floor_mode):
    """β = 0 (CW.exact_gradient_params) removes the detached normaliser of spec and inside."""
    pos, neg, spos = with_binding_row(*scores(3, b=4, n=5, m=2))
    loss = build_loss("CW", tau=0.3, tau_plus=0.3, floor_mode=floor_mode, weighting=weighting,
                      activation="tanh", **CW.exact_gradient_params)
    inputs = tuple(t.clone().requires_grad_() for t in (pos, neg, spos))
    assert torch.autograd.gradcheck(lambda p, n, s: loss(p, n, sampled_pos_score=s), inputs)


@pytest.mark.parametrize("floor_mode", FLOOR_MODES)
def test_inside_gradient_is_that_of_the_formula_with_the_normaliser_frozen(floor_mode):
    pos, neg, spos = scores(4, b=1, n=6, m=3)
    tau, beta, tau_plus = 0.2, 0.8, 0.1
    loss = build_loss("CW", tau=tau, beta=beta, tau_plus=tau_plus, floor_mode=floor_mode, weighting="inside")
    neg = neg.clone().requires_grad_()
    loss(pos, neg, sampled_pos_score=spos).backward()
    p = pos.item()
    z = sum(weight(r - p, beta, tau, "inside") for r in neg[0].tolist()) / neg.shape[1]
    eps = 1e-6
    for j in range(neg.shape[1]):
        up, down = neg.detach().clone(), neg.detach().clone()
        up[0, j] += eps
        down[0, j] -= eps
        args = (tau, beta, tau_plus, "relu", "inside", floor_mode)
        numeric = (naive(pos, up, spos, *args, z=z) - naive(pos, down, spos, *args, z=z)) / (2 * eps)
        assert neg.grad[0, j].item() == pytest.approx(numeric, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("floor_mode", FLOOR_MODES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_inside_is_spec_with_beta_over_tau(activation, floor_mode):
    """(e^{−βd} σ(d))^{1/τ} = e^{−(β/τ)d} σ(d)^{1/τ}: the same loss and gradient as spec at β/τ."""
    pos, neg, spos = scores(5)
    tau, beta = 0.2, 0.8
    inside = value_and_gradients(pos, neg, spos, tau=tau, beta=beta, tau_plus=0.1, activation=activation,
                                 floor_mode=floor_mode, weighting="inside")
    spec = value_and_gradients(pos, neg, spos, tau=tau, beta=beta / tau, tau_plus=0.1, activation=activation,
                               floor_mode=floor_mode, weighting="spec")
    for x, y in zip(inside, spec):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("floor_mode", FLOOR_MODES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_without_weight_and_correction_every_reading_is_psl(activation, weighting, floor_mode):
    pos, neg, spos = scores(6)
    cw = build_loss("CW", tau=0.1, beta=0.0, tau_plus=0.0, activation=activation,
                    floor_mode=floor_mode, weighting=weighting)
    torch.testing.assert_close(cw(pos, neg, sampled_pos_score=spos), PSL(tau=0.1, activation=activation)(pos, neg))
    if activation == "exp":
        torch.testing.assert_close(cw(pos, neg, sampled_pos_score=spos), SL(tau=0.1)(pos, neg))


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_floor_modes_agree_where_no_floor_binds(activation, weighting):
    pos, neg, spos = scores(7)
    relative, absolute = (
        value_and_gradients(pos, neg, spos, tau=0.2, tau_plus=0.05, activation=activation, floor_mode=floor_mode,
                            weighting=weighting)
        for floor_mode in FLOOR_MODES
    )
    for x, y in zip(relative, absolute):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_a_row_where_the_absolute_floor_binds_has_no_gradient(activation, weighting, device):
    pos, neg, spos = with_binding_row(*scores(8))
    spos[1:] -= 0.5  # the other rows' sampled positives score low: their floor does not bind
    pos, neg, spos = pos.to(device), neg.to(device), spos.to(device)
    p, n, s = (t.clone().requires_grad_() for t in (pos, neg, spos))
    loss = build_loss("CW", tau=0.2, tau_plus=0.5, activation=activation, floor_mode="absolute",
                      weighting=weighting)
    rows = loss.row_loss(p, n, sampled_pos_score=s)
    rows.sum().backward()
    assert torch.isfinite(rows).all()
    # The floored row is log N + log φ(−1), a constant.
    want = math.log(neg.shape[1]) + loss.log_phi_min(torch.float64)
    assert rows[0].item() == pytest.approx(want, rel=1e-12)
    assert p.grad[0] == 0 and (n.grad[0] == 0).all() and (s.grad[0] == 0).all()
    assert (n.grad[1:].abs().sum(dim=1) > 0).all()  # the other rows still train
    # The relative floor keeps training the same row as L_W.
    p2, n2, s2 = (t.clone().requires_grad_() for t in (pos, neg, spos))
    build_loss("CW", tau=0.2, tau_plus=0.5, activation=activation, weighting=weighting).row_loss(
        p2, n2, sampled_pos_score=s2)[0].backward()
    assert (n2.grad[0] != 0).any() and (s2.grad[0] == 0).all()


@pytest.mark.parametrize("activation,want", [
    ("exp", -1 / 0.2),  # DCL's and HCL's clamp N·e^{−1/t}
    ("tanh", math.log(math.tanh(-1.0) + 1.0) / 0.2),
    ("atan", math.log(1.0 - math.pi / 4) / 0.2),
    ("relu", math.log(TINY64) / 0.2),  # σ(−1) = 0, log σ floored at log(tiny)
])
def test_absolute_floor_is_phi_at_minus_one(activation, want):
    assert CW(tau=0.2, activation=activation).log_phi_min(torch.float64) == pytest.approx(want, rel=1e-12)


def hardest_share(weighting, beta):
    """Share of the gradient on the negatives that the hardest one (largest d) receives."""
    pos = torch.zeros(1, dtype=torch.float64)
    neg = torch.linspace(-0.6, 0.6, 7, dtype=torch.float64).unsqueeze(0).requires_grad_()
    build_loss("CW", tau=0.2, beta=beta, tau_plus=0.0, activation="tanh", weighting=weighting)(pos, neg).backward()
    g = neg.grad[0]
    return (g[-1] / g.abs().sum()).item()


def test_larger_beta_weights_hard_negatives_more_only_under_hcl():
    """The paper's Fig. 6 text (larger β: more weight on hard negatives) holds for hcl; spec and
    inside move weight to easy negatives as β grows (Eq. 9)."""
    betas = [0.0, 0.2, 0.4, 0.8]
    hcl = [hardest_share("hcl", b) for b in betas]
    assert hcl == sorted(hcl) and hcl[-1] > hcl[0]
    for weighting in ("spec", "inside"):
        shares = [hardest_share(weighting, b) for b in betas]
        assert shares == sorted(shares, reverse=True) and shares[-1] < shares[0]


def test_inside_has_the_band_pass_shape_of_fig_3_and_spec_does_not():
    """relu, τ⁺ = 0: a negative's gradient is p_j (1/(1+d_j) − β)/τ under inside, negative above
    d* = 1/β − 1 (the loss falls where false negatives sit); under spec it is
    p_j (1/(τ(1+d_j)) − β) > 0 on all of [−1, 1] for β = 0.8, τ = 0.1."""
    beta = 0.8
    pos = torch.zeros(1, dtype=torch.float64)
    d = torch.tensor([[-0.5, 0.0, 0.2, 0.3, 0.6, 0.9]], dtype=torch.float64)
    grads = {}
    for weighting in ("inside", "spec"):
        neg = d.clone().requires_grad_()
        build_loss("CW", tau=0.1, beta=beta, tau_plus=0.0, weighting=weighting)(pos, neg).backward()
        grads[weighting] = neg.grad[0]
    peak = 1 / beta - 1
    assert ((grads["inside"] > 0) == (d[0] < peak)).all()
    assert (grads["spec"] > 0).all()


def test_inside_meets_the_papers_dcg_bound_condition():
    """Paper, after Eq. 11: for d >= 0 and β <= ln σ(d)/d, the per-pair term is >= 1 = δ(d). That
    is the condition of the inside term (e^{−βd}σ(d))^{1/τ}; the spec term e^{−βd}σ(d)^{1/τ}
    needs β <= ln σ(d)/(τd) instead."""
    tau, d = 0.1, 0.5
    beta_edge = math.log(sigma(d, "relu")) / d  # ≈ 0.811
    inside = lambda b: weight(d, b, tau, "inside") * sigma(d, "relu") ** (1 / tau)  # noqa: E731
    spec = lambda b: weight(d, b, tau, "spec") * sigma(d, "relu") ** (1 / tau)  # noqa: E731
    assert inside(beta_edge * 0.99) >= 1 > inside(beta_edge * 1.01)
    assert spec(beta_edge * 1.01) > 1  # the paper's condition is not the spec term's


@pytest.mark.parametrize("floor_mode", FLOOR_MODES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_invariant_to_permuting_negatives_and_sampled_positives(weighting, floor_mode):
    pos, neg, spos = with_binding_row(*scores(9))
    loss = build_loss("CW", tau_plus=0.3, floor_mode=floor_mode, weighting=weighting)
    base = loss(pos, neg, sampled_pos_score=spos)
    permuted = loss(pos, neg[:, torch.randperm(9)], sampled_pos_score=spos[:, torch.randperm(3)])
    torch.testing.assert_close(base, permuted)


@pytest.mark.parametrize("floor_mode", FLOOR_MODES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_pop_prior_works_under_every_reading(weighting, floor_mode):
    pos, neg, spos = with_binding_row(*scores(10))
    neg_item = torch.randint(0, 10, neg.shape)
    counts = torch.arange(10, dtype=torch.float64)
    cw = build_loss("CW", tau_plus="pop", floor_mode=floor_mode, weighting=weighting)
    cw.setup(n_users=20, n_items=10, item_counts=counts)
    got = cw.row_loss(pos, neg, sampled_pos_score=spos, neg_item=neg_item)
    for b in range(pos.shape[0]):
        tp = float(counts[neg_item[b]].mean() / 20)
        want = naive_row(pos[b].item(), neg[b].tolist(), spos[b].tolist(), 0.1, 0.8, tp, "relu", weighting, floor_mode)
        assert got[b].item() == pytest.approx(want, rel=1e-10, abs=1e-10)


values = st.one_of(
    st.floats(min_value=-3.0, max_value=3.0, allow_nan=False, width=32),
    st.sampled_from([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0]),
)


@pytest.mark.parametrize("floor_mode", FLOOR_MODES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    n=st.integers(1, 6),
    m=st.integers(1, 3),
    tau=st.sampled_from([0.01, 0.05, 1.0]),
    beta=st.sampled_from([0.0, 0.8, 10.0]),
    tau_plus=st.sampled_from([0.1, 0.9]),
    activation=st.sampled_from(ACTIVATIONS),
)
def test_finite_loss_and_gradient_on_hostile_scores(weighting, floor_mode, data, n, m, tau, beta, tau_plus, activation):
    """Ties, ±1 and beyond (cos and dot scores), N = 1, τ = 0.01 with β = 10, τ⁺ = 0.9, float32."""
    b = 3
    pos = torch.tensor(data.draw(st.lists(values, min_size=b, max_size=b)), requires_grad=True)
    neg = torch.tensor(data.draw(st.lists(st.lists(values, min_size=n, max_size=n), min_size=b, max_size=b)),
                       requires_grad=True)
    spos = torch.tensor(data.draw(st.lists(st.lists(values, min_size=m, max_size=m), min_size=b, max_size=b)),
                        requires_grad=True)
    loss = CW(tau=tau, beta=beta, tau_plus=tau_plus, activation=activation, floor_mode=floor_mode,
              weighting=weighting)
    out = loss(pos, neg, sampled_pos_score=spos)
    out.backward()
    assert torch.isfinite(out)
    for t in (pos, neg, spos):
        assert torch.isfinite(t.grad).all()


@pytest.mark.parametrize("floor_mode", FLOOR_MODES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_same_values_on_every_device(weighting, floor_mode, device):
    pos, neg, spos = with_binding_row(*scores(11, dtype=torch.float32))
    loss = build_loss("CW", tau_plus=0.3, floor_mode=floor_mode, weighting=weighting)
    on_cpu = loss(pos, neg, sampled_pos_score=spos)
    moved = loss.to(device)(pos.to(device), neg.to(device), sampled_pos_score=spos.to(device))
    assert moved.device.type == device.type
    torch.testing.assert_close(moved.cpu(), on_cpu)


@pytest.mark.parametrize("kwargs,message", [
    ({"weighting": "HCL"}, "CW: weighting must be one of ['spec', 'hcl', 'inside'], got 'HCL'"),
    ({"weighting": None}, "CW: weighting must be one of ['spec', 'hcl', 'inside'], got None"),
    ({"floor_mode": "abs"}, "CW: floor_mode must be one of ['relative', 'absolute'], got 'abs'"),
])
def test_invalid_readings_are_named(kwargs, message):
    with pytest.raises(ValueError) as err:
        build_loss("CW", **kwargs)
    assert str(err.value) == message


def test_the_default_is_the_specifications_reading():
    loss = CW()
    assert (loss.weighting, loss.floor_mode) == ("spec", "relative")
    assert {"cw_weighting", "cw_floor_mode"} <= set(CW.config_keys())


def test_yaml_keys_reach_the_loss_through_config(workdir):
    default = CW.from_config(Config("MF", "ml-100k", config_dict={"loss": "CW"}))
    assert (default.weighting, default.floor_mode) == ("spec", "relative")
    config = Config("MF", "ml-100k", config_dict={"loss": "CW", "cw_weighting": "hcl", "cw_floor_mode": "absolute"})
    loss = CW.from_config(config)
    assert (loss.weighting, loss.floor_mode) == ("hcl", "absolute")
    (workdir / "inside.yaml").write_text("loss: CW\ncw_weighting: inside\n")
    assert CW.from_config(Config("MF", "ml-100k", [str(workdir / "inside.yaml")])).weighting == "inside"


def test_an_invalid_reading_in_the_config_names_the_key(workdir):
    with pytest.raises(ValueError) as err:
        Config("MF", "ml-100k", config_dict={"loss": "CW", "cw_weighting": "hard"})
    assert str(err.value) == (
        "invalid loss hyperparameter (cw_* config keys): CW: weighting must be one of "
        "['spec', 'hcl', 'inside'], got 'hard'"
    )


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("activation", ["tanh", "atan", "exp"])
def test_absolute_floor_binds_also_where_the_corrected_term_is_small_but_positive(activation, weighting):
    """0 < G < φ(−1): the sampled positives are placed so that A − τ⁺C = ½·φ(−1)·(1 − τ⁺)."""
    tau, tau_plus, n = 0.2, 0.5, 4
    pos = torch.zeros(2, dtype=torch.float64)
    neg = torch.full((2, n), -0.9, dtype=torch.float64)  # equal d: every weighting gives ŵ = 1
    a = sigma(-0.9, activation) ** (1 / tau)
    g_min = sigma(-1.0, activation) ** (1 / tau)
    c = (a - 0.5 * g_min * (1 - tau_plus)) / tau_plus
    x = INVERSE_SIGMA[activation](c**tau)
    spos = torch.tensor([[x, x], [x - 0.3, x - 0.3]], dtype=torch.float64)  # row 1: C smaller, no floor
    assert 0 < (a - tau_plus * c) / (1 - tau_plus) < g_min
    p, ng, s = (t.clone().requires_grad_() for t in (pos, neg, spos))
    loss = build_loss("CW", tau=tau, tau_plus=tau_plus, activation=activation, floor_mode="absolute",
                      weighting=weighting)
    rows = loss.row_loss(p, ng, sampled_pos_score=s)
    assert rows[0].item() == pytest.approx(math.log(n * g_min), rel=1e-9)
    assert rows[1].item() > math.log(n * g_min)
    rows.sum().backward()
    assert (ng.grad[0] == 0).all() and (s.grad[0] == 0).all() and (s.grad[1] != 0).all()
    for b in range(2):
        want = naive_row(0.0, neg[b].tolist(), spos[b].tolist(), tau, 0.8, tau_plus, activation, weighting, "absolute")
        assert rows[b].item() == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("floor_mode", FLOOR_MODES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_floor_binds_names_the_floored_rows(weighting, floor_mode):
    pos, neg, spos = with_binding_row(*scores(12))
    spos[1:] -= 0.5
    loss = build_loss("CW", tau=0.2, tau_plus=0.5, floor_mode=floor_mode, weighting=weighting)
    binds = loss.floor_binds(pos, neg, sampled_pos_score=spos)
    assert binds.tolist() == [True] + [False] * (pos.shape[0] - 1)
    # Where it binds, the sampled positives get no gradient (relative: L_W; absolute: nothing).
    _, _, _, spos_grad = value_and_gradients(pos, neg, spos, tau=0.2, tau_plus=0.5, floor_mode=floor_mode,
                                             weighting=weighting)
    assert ((spos_grad == 0).all(dim=1) == binds).all()
    no_correction = build_loss("CW", tau_plus=0.0, floor_mode=floor_mode, weighting=weighting)
    assert not no_correction.floor_binds(pos, neg, sampled_pos_score=spos).any()
