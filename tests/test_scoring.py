"""recbole_losses.scoring: the fused sampled scoring (the package's C kernels on CPU, else torch's
SDDMM forward and embedding-bag backward) gives the values and gradients of a naive loop and of the
dense paths — float64 gradcheck, random shapes with repeated candidates and ties, every score
function, every loss on every backbone — and falls back to the dense paths, with one log line, where
its kernels cannot run."""

import logging

import pytest
import torch
from recbole.data import create_dataset

from recbole_losses import Config
from recbole_losses import scoring
from recbole_losses.data.dataloader import data_preparation
from recbole_losses.losses import available_losses
from recbole_losses.models import available_backbones
from recbole_losses.scoring import (
    FUSED_MIN_RATIO,
    MATMUL_MAX_RATIO,
    SCORE_FUNCTIONS,
    SampledScores,
    candidate_scores,
    dense_candidate_scores,
    normalize_rows,
    transform_embeddings,
)
from conftest import STATE



def naive_scores(user, table, ids):
    return torch.stack([torch.stack([user[b] @ table[ids[b, j]] for j in range(ids.shape[1])])
                        for b in range(ids.shape[0])])


def test_candidate_scores_matmul_and_gather_paths_agree():
    g = torch.Generator().manual_seed(0)
    user = torch.randn(6, 8, generator=g, dtype=torch.float64)
    small = torch.randn(12, 8, generator=g, dtype=torch.float64)  # 12 <= 48 * 5: matmul path
    large = torch.randn(300, 8, generator=g, dtype=torch.float64)  # 300 > 48 * 5: gather path
    assert 12 <= MATMUL_MAX_RATIO * 5 < 300
    for table in (small, large):
        ids = torch.randint(0, table.shape[0], (6, 5), generator=g)
        expected = naive_scores(user, table, ids)
        torch.testing.assert_close(dense_candidate_scores(user, table, ids), expected)
        torch.testing.assert_close(candidate_scores(user, table, ids), expected)


@pytest.mark.parametrize("dim", [3, 70])  # C kernels: a tail only; a full block of 64 and a tail
def test_fused_scores_pass_gradcheck_in_float64_with_repeated_candidates(kernels, dim):
    g = torch.Generator().manual_seed(1)
    user = torch.randn(4, dim, generator=g, dtype=torch.float64, requires_grad=True)
    table = torch.randn(9, dim, generator=g, dtype=torch.float64, requires_grad=True)
    ids = torch.tensor([[2, 2, 2, 0, 8], [8, 1, 2, 1, 8], [5, 5, 5, 5, 5], [0, 3, 4, 6, 7]])
    assert torch.autograd.gradcheck(SampledScores.apply, (user, table, ids))


def test_fused_scoring_runs_on_every_device(device):
    assert scoring.fused_scoring_available(torch.device(device), torch.float32)
    assert scoring.fused_scoring_available(torch.device(device), torch.float64)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("score", SCORE_FUNCTIONS)
def test_fused_scores_equal_the_dense_paths_in_values_and_gradients(seed, score, device, kernels):
    g = torch.Generator().manual_seed(seed)
    b, k, n, d = (int(torch.randint(lo, hi, (), generator=g)) for lo, hi in ((1, 40), (1, 30), (2, 200), (1, 33)))
    ids = torch.randint(0, n, (b, k), generator=g)
    ids[:, -1] = ids[:, 0]  # repeated candidates in a row
    user = torch.randn(b, d, generator=g, dtype=torch.float64)
    table = torch.randn(n, d, generator=g, dtype=torch.float64)
    table[n - 1] = table[0]  # ties: two items with the same embedding
    weights = torch.randn(b, k, generator=g, dtype=torch.float64)
    ids, user, table, weights = (x.to(device) for x in (ids, user, table, weights))
    results = []
    for scorer in (SampledScores.apply, dense_candidate_scores):
        u, t = user.clone().requires_grad_(), table.clone().requires_grad_()
        scores = scorer(*transform_embeddings(u, t, score), ids)
        (scores * weights).sum().backward()
        results.append((scores.detach(), u.grad, t.grad))
    for fused, dense in zip(*results):
        torch.testing.assert_close(fused, dense)


def test_fused_scores_in_float32_match_a_float64_reference(kernels):
    g = torch.Generator().manual_seed(2)
    user, table = torch.randn(64, 16, generator=g), torch.randn(500, 16, generator=g)
    ids = torch.randint(0, 500, (64, 40), generator=g)
    torch.testing.assert_close(SampledScores.apply(user, table, ids),
                               naive_scores(user.double(), table.double(), ids).float(), rtol=1e-5, atol=1e-5)


def test_candidate_scores_dispatch_on_the_catalogue_size(monkeypatch):
    calls = []
    monkeypatch.setattr(scoring, "_fused_support", {("cpu", torch.float32): True})
    monkeypatch.setattr(scoring.SampledScores, "apply", lambda *a: calls.append("fused") or dense_candidate_scores(*a))
    user = torch.randn(3, 4)
    k = 5
    candidate_scores(user, torch.randn(FUSED_MIN_RATIO * k + 1, 4), torch.zeros(3, k, dtype=torch.long))
    assert calls == ["fused"]
    candidate_scores(user, torch.randn(FUSED_MIN_RATIO * k, 4), torch.zeros(3, k, dtype=torch.long))
    assert calls == ["fused"]  # a small catalogue: one [B, I] product


def test_unavailable_fused_kernels_fall_back_with_one_log_line(monkeypatch, caplog):
    monkeypatch.setattr(scoring.native, "library", lambda: None)  # the sparse kernels, here broken

    def broken(*args, **kwargs):
        raise RuntimeError("sampled_addmm: not supported here\nsecond line")

    monkeypatch.setattr(torch.sparse, "sampled_addmm", broken)
    monkeypatch.setattr(scoring, "_fused_support", {})
    user, table = torch.randn(5, 4), torch.randn(100, 4)
    ids = torch.randint(0, 100, (5, 3))
    with caplog.at_level(logging.INFO, logger="recbole_losses.scoring"):
        first = candidate_scores(user, table, ids)
        second = candidate_scores(user, table, ids)
    lines = [r.getMessage() for r in caplog.records if r.name == "recbole_losses.scoring"]
    assert len(lines) == 1 and "fused candidate scoring is unavailable on cpu / torch.float32" in lines[0]
    assert "RuntimeError: sampled_addmm: not supported here" in lines[0] and "second line" not in lines[0]
    torch.testing.assert_close(first, naive_scores(user, table, ids))
    torch.testing.assert_close(second, first)


@pytest.fixture(scope="module")
def ml100k_train(module_workdir):
    config = Config("MF", "ml-100k", config_dict={"loss": "SL", "neg_num": 16, "pos_num": 4, "train_batch_size": 128})
    train, _, _ = data_preparation(config, create_dataset(config))
    return train


@pytest.mark.parametrize("model", available_backbones())
@pytest.mark.parametrize("loss", available_losses())
def test_every_loss_on_every_backbone_trains_the_same_through_both_paths(ml100k_train, model, loss, monkeypatch):
    """The same batch through the fused and the dense scoring: the same loss and parameter gradients."""
    config = Config(model, "ml-100k", config_dict={"loss": loss, "neg_num": 16, "pos_num": 4, **STATE.get(loss, {})})
    torch.manual_seed(0)
    net = config.model_class(config, ml100k_train._dataset)
    batch = next(iter(ml100k_train))
    outcomes = []
    for min_ratio in (0, 10**9):  # every table through the fused path, then through the dense one
        monkeypatch.setattr(scoring, "FUSED_MIN_RATIO", min_ratio)
        net.zero_grad(set_to_none=True)
        torch.manual_seed(1)  # XSimGCL's noise, any sampling inside a loss
        out = net.calculate_loss(batch)
        total = sum(out) if isinstance(out, tuple) else out
        total.backward()
        outcomes.append((total.detach(), {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}))
    (fused_loss, fused_grads), (dense_loss, dense_grads) = outcomes
    torch.testing.assert_close(fused_loss, dense_loss, rtol=1e-5, atol=1e-6)
    assert fused_grads.keys() == dense_grads.keys() and fused_grads
    for name in fused_grads:
        torch.testing.assert_close(fused_grads[name], dense_grads[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("dim", [5, 70])  # C kernels: a tail only; vectors and a tail
def test_normalize_rows_equals_f_normalize_and_passes_gradcheck(kernels, dim, dtype):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(7, dim, generator=g, dtype=dtype)
    x[2] = 0.0  # a zero row: clamped by eps, as F.normalize does
    x[4] *= 1e-14 if dtype == torch.float64 else 1e-13  # below eps (float32: its square stays a normal number)
    weights = torch.randn(7, dim, generator=g, dtype=dtype)
    ours, ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    torch.testing.assert_close(normalize_rows(ours), torch.nn.functional.normalize(ref, dim=-1))
    (normalize_rows(ours) * weights).sum().backward()
    (torch.nn.functional.normalize(ref, dim=-1) * weights).sum().backward()
    torch.testing.assert_close(ours.grad, ref.grad)
    smooth = torch.randn(6, dim, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(normalize_rows, (smooth,))
