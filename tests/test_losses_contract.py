"""The contract every registered loss must keep, run over recbole_losses.LOSSES."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recbole_losses import LOSSES, build_loss
from recbole_losses.config import properties_dir
import yaml

NAMES = sorted(LOSSES)


def make_scores(b=4, n=7, m=3, dtype=torch.float32, device="cpu"):
    pos = (torch.rand(b, dtype=dtype, device=device) - 0.5)
    neg = (torch.rand(b, n, dtype=dtype, device=device) - 0.5)
    spos = (torch.rand(b, m, dtype=dtype, device=device) - 0.5)
    return pos, neg, spos


def call(loss, pos, neg, spos, **kw):
    return loss(pos, neg, sampled_pos_score=spos, **kw)


@pytest.mark.parametrize("name", NAMES)
def test_finite_scalar_on_input_device_and_dtype(name, device):
    loss = build_loss(name).to(device)
    for dtype in (torch.float32, torch.float64):
        out = call(loss, *make_scores(dtype=dtype, device=device))
        assert out.shape == () and out.dtype == dtype and out.device.type == device.type
        assert torch.isfinite(out)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_float64(name):
    loss = build_loss(name, **LOSSES[name].exact_gradient_params)
    pos, neg, spos = (t.requires_grad_() for t in make_scores(b=3, n=5, m=2, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda p, n, s: call(loss, p, n, s), (pos, neg, spos))


@pytest.mark.parametrize("name", NAMES)
def test_invariant_to_permuting_negatives_and_sampled_positives(name):
    loss = build_loss(name)
    pos, neg, spos = make_scores(b=5, n=9, m=4, dtype=torch.float64)
    base = call(loss, pos, neg, spos)
    permuted = call(loss, pos, neg[:, torch.randperm(9)], spos[:, torch.randperm(4)])
    torch.testing.assert_close(base, permuted)


@pytest.mark.parametrize("name", NAMES)
def test_mean_of_row_losses(name):
    loss = build_loss(name)
    pos, neg, spos = make_scores(dtype=torch.float64)
    rows = loss.row_loss(pos, neg, sampled_pos_score=spos)
    assert rows.shape == (4,)
    torch.testing.assert_close(call(loss, pos, neg, spos), rows.mean())


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_is_a_connected_zero(name):
    loss = build_loss(name)
    pos, neg, spos = (t.requires_grad_() for t in make_scores(b=0))
    out = call(loss, pos, neg, spos)
    out.backward()
    assert out.item() == 0.0 and pos.grad is not None


@pytest.mark.parametrize("name", NAMES)
def test_bad_shapes_are_named(name):
    loss = build_loss(name)
    pos, neg, spos = make_scores()
    with pytest.raises(ValueError, match=r"neg_score must be \[B, N\] with B = 4 and N >= 1, got shape \(3, 7\)"):
        loss(pos, neg[:3], sampled_pos_score=spos)
    with pytest.raises(ValueError, match=r"pos_score must be \[B\], got shape \(4, 1\)"):
        loss(pos[:, None], neg, sampled_pos_score=spos)


@pytest.mark.parametrize("name", NAMES)
def test_yaml_declares_exactly_the_hyperparameters_with_their_defaults(name):
    cls = LOSSES[name]
    path = properties_dir() / "loss" / f"{name}.yaml"
    declared = yaml.safe_load(path.read_text()) or {}
    prefixed = {k: v for k, v in declared.items() if k.startswith(cls.prefix)}
    assert sorted(prefixed) == sorted(cls.config_keys())
    for param, default in cls.param_defaults().items():
        assert prefixed[cls.prefix + param] == default
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            assert "# (" in line, f"{path.name}: key without a '# (type) description' comment: {line}"


@pytest.mark.parametrize("name", [n for n in NAMES if "tau" in LOSSES[n].param_names()])
def test_float32_small_temperature_does_not_overflow(name):
    pos = torch.full((4,), -0.5)
    neg = torch.full((4, 1000), 0.5)  # d = 1 everywhere: exp(1/0.01) overflows float32 naively
    out = build_loss(name, tau=0.01)(pos, neg, sampled_pos_score=neg[:, :4])
    assert torch.isfinite(out), name


hostile = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False, width=32)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), n=st.integers(1, 6), m=st.integers(1, 3), tau=st.sampled_from([0.01, 0.05, 1.0]))
def test_finite_loss_and_gradient_on_hostile_scores(name, data, n, m, tau):
    """Ties, ±1 extremes (half-cosine range and beyond), N = 1, τ = 0.01, float32."""
    b = 3
    values = st.one_of(hostile, st.sampled_from([-1.0, 0.0, 1.0, -0.5, 0.5]))
    pos = torch.tensor(data.draw(st.lists(values, min_size=b, max_size=b)), requires_grad=True)
    neg = torch.tensor(data.draw(st.lists(st.lists(values, min_size=n, max_size=n), min_size=b, max_size=b)), requires_grad=True)
    spos = torch.tensor(data.draw(st.lists(st.lists(values, min_size=m, max_size=m), min_size=b, max_size=b)), requires_grad=True)
    cls = LOSSES[name]
    kwargs = {"tau": tau} if "tau" in cls.param_names() else {}
    loss = cls(**kwargs)
    out = call(loss, pos, neg, spos)
    out.backward()
    assert torch.isfinite(out)
    for t in (pos, neg, spos):
        assert t.grad is None or torch.isfinite(t.grad).all()
