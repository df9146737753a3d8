"""The trainers' Adam and AdamW run torch's fused kernel (the same update up to float rounding):
built from RecBole's optimiser with every param group and setting kept, equal to the unfused
update over several steps, other optimisers untouched, and used by a real run, whose checkpoints
resume into it."""

import pytest
import torch

from recbole_losses.quick_start import build_run
from recbole_losses.trainer import fused_optimizer


def _params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(50, 8, generator=g)), torch.nn.Parameter(torch.randn(8, generator=g))]


@pytest.mark.parametrize("kind", [torch.optim.Adam, torch.optim.AdamW])
def test_fused_rebuild_keeps_groups_and_matches_the_unfused_update(kind):
    plain_params, fused_params = _params(), _params()
    groups = lambda ps: [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.05, "maximize": True}]  # noqa: E731
    plain = kind(groups(plain_params), lr=0.01, weight_decay=0.001)
    fused = fused_optimizer(kind(groups(fused_params), lr=0.01, weight_decay=0.001))
    assert type(fused) is kind and fused.defaults["fused"] and all(g["fused"] for g in fused.param_groups)
    for key in ("lr", "weight_decay", "maximize", "betas", "eps", "amsgrad"):
        assert [g[key] for g in fused.param_groups] == [g[key] for g in plain.param_groups], key
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=g) for p in plain_params]
        for params, optimizer in ((plain_params, plain), (fused_params, fused)):
            for p, grad in zip(params, grads):
                p.grad = grad.clone()
            optimizer.step()
    for a, b in zip(plain_params, fused_params):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_other_optimizers_and_non_float_parameters_are_left_alone():
    sgd = torch.optim.SGD(_params(), lr=0.1)
    assert fused_optimizer(sgd) is sgd
    stepped = torch.optim.Adam(_params(), lr=0.1)
    for p in stepped.param_groups[0]["params"]:
        p.grad = torch.ones_like(p)
    stepped.step()
    assert fused_optimizer(stepped) is stepped  # holds state already


def test_a_run_trains_with_the_fused_adam_and_resumes_into_it(toy):
    settings = {"data_path": str(toy), "epochs": 2, "neg_num": 8, "train_batch_size": 64, "eval_step": 1,
                "show_progress": False, "state": "WARNING", "topk": [5], "valid_metric": "NDCG@5",
                "checkpoint_dir": str(toy / "saved")}
    _, (train, valid, _), _, trainer = build_run("MF", "SL", "toy", config_dict=settings)
    assert isinstance(trainer.optimizer, torch.optim.Adam) and trainer.optimizer.defaults["fused"]
    trainer.fit(train, valid, saved=True)
    _, _, _, resumed = build_run("MF", "SL", "toy", config_dict={**settings, "epochs": 3})
    resumed.resume_checkpoint(trainer.resume_point_file)
    assert resumed.optimizer.defaults["fused"] and resumed.optimizer.state
