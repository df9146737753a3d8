"""GuidedRec against a naive loop written from docs/losses.md (the value, the surrogate's estimate
and its squared-error gradient), the split of the gradients (the model's scores get BCE and the
guidance, the surrogate only its fit), the true DCG on ties, that the surrogate learns the DCG,
its optimiser group, its state through a checkpoint, and its messages."""

import math

import pytest
import torch

from recbole_losses import build_loss
from recbole_losses.losses import GuidedRec


def data(seed=0, b=5, n=6, m=2):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(*s, generator=g, dtype=torch.float64) * 2 - 1 for s in ((b,), (b, n), (b, m)))


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def softplus(x):
    return math.log1p(math.exp(x))


def naive_estimate(params, pos, negs):
    """D̂ for one row by loops over the hidden units; ``params``: (W1, b1, W2, b2, w3, b3) as
    nested float lists, or float64 tensors (then differentiable)."""
    w1, b1, w2, b2, w3, b3 = params
    h = len(b1)
    s_pos = sigmoid(pos)
    pooled = [0.0] * h
    for s in negs:
        s_neg = sigmoid(s)
        for k in range(h):
            pooled[k] = pooled[k] + torch.tanh(torch.as_tensor(w1[k][0] * s_pos + w1[k][1] * s_neg + b1[k],
                                                                dtype=torch.float64)) / len(negs)
    z = [torch.tanh(sum(w2[k][q] * pooled[q] for q in range(h)) + b2[k]) for k in range(h)]
    return torch.sigmoid(sum(w3[0][k] * z[k] for k in range(h)) + b3[0])


def naive_true_dcg(pos, negs):
    rank = 1 + sum(1 for s in negs if s >= pos)  # ties against the positive
    return 1 / math.log2(1 + rank)


def params_of(loss, as_tensors=False):
    layers = [loss.surrogate[k] for k in ("pair", "mix", "out")]
    out = []
    for layer in layers:
        for t in (layer.weight, layer.bias):
            out.append(t.detach().double().clone().requires_grad_() if as_tensors else t.detach().double().tolist())
    return out


@pytest.mark.parametrize("weight", [0.0, 1.0, 2.5])
def test_value_matches_naive_loop(weight):
    pos, neg, spos = data(1)
    loss = GuidedRec(guidance_weight=weight, hidden=4)
    params = params_of(loss)
    want = 0.0
    for r in range(len(pos)):
        p, negs = pos[r].item(), neg[r].tolist()
        bce = len(negs) * softplus(-p) + sum(softplus(s) for s in negs)
        want += (bce - weight * naive_estimate(params, p, negs).item()) / len(pos)
    out = loss(pos, neg, sampled_pos_score=spos)  # sampled positives are not used
    assert out.item() == pytest.approx(want, rel=1e-6)  # the surrogate's parameters are float32
    assert loss(pos, neg).item() == out.item()


def test_model_facing_gradient_is_exact_in_float64():
    loss = GuidedRec(hidden=5)
    pos, neg, _ = data(2, b=3, n=4)
    assert torch.autograd.gradcheck(lambda p, n: loss(p, n), (pos.requires_grad_(), neg.requires_grad_()))


def test_without_guidance_the_scores_get_exactly_the_bce_gradient():
    """The surrogate's fit sends no gradient to the scores."""
    pos, neg, _ = data(3)
    p, n = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    GuidedRec(guidance_weight=0.0)(p, n).backward()
    b, k = neg.shape
    torch.testing.assert_close(p.grad, -k * torch.sigmoid(-pos) / b, rtol=1e-12, atol=0)
    torch.testing.assert_close(n.grad, torch.sigmoid(neg) / b, rtol=1e-12, atol=0)


def test_surrogate_gets_only_the_gradient_of_its_squared_error():
    """∇θ of mean_rows (D̂_θ − D)², from the naive loop, whatever the guidance weight."""
    pos, neg, _ = data(4, b=4, n=5)
    grads = []
    for weight in (0.0, 3.0):
        torch.manual_seed(0)
        loss = GuidedRec(guidance_weight=weight, hidden=3).double()
        loss(pos.clone().requires_grad_(), neg.clone().requires_grad_()).backward()
        grads.append([p.grad.clone() for p in loss.surrogate.parameters()])
    params = params_of(loss, as_tensors=True)
    fit = sum((naive_estimate(params, pos[r].item(), neg[r].tolist()) - naive_true_dcg(pos[r].item(), neg[r].tolist())) ** 2
              for r in range(len(pos))) / len(pos)
    want = torch.autograd.grad(fit, params)
    for got in grads:
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w.reshape(g.shape), rtol=1e-10, atol=1e-14)


def test_true_dcg_ranks_the_positive_below_tied_negatives():
    pos = torch.tensor([0.5, 0.95, -1.0])
    neg = torch.tensor([[0.5, 0.9, 0.1], [0.1, 0.2, 0.3], [0.0, 0.0, 0.0]])
    want = [naive_true_dcg(p, n) for p, n in zip(pos.tolist(), neg.tolist())]
    assert want == pytest.approx([0.5, 1.0, 1 / math.log2(5)])
    assert GuidedRec.true_dcg(pos, neg).tolist() == pytest.approx(want)


def test_the_surrogate_learns_the_dcg():
    """A few hundred steps of the surrogate's own group bring its squared error well below the
    variance of the true DCG (what a constant estimate gets)."""
    torch.manual_seed(0)
    loss = GuidedRec(guidance_weight=0.0, hidden=16)
    optimizer = torch.optim.Adam(loss.optimizer_groups(lr=0.01, weight_decay=0.0))
    held_pos, held_neg = torch.rand(1000) * 2 - 1, torch.rand(1000, 9) * 2 - 1
    truth = GuidedRec.true_dcg(held_pos, held_neg)

    def error():
        with torch.no_grad():
            return (loss.estimated_dcg(held_pos, held_neg, train_surrogate=True) - truth).square().mean().item()

    before = error()
    for _ in range(300):
        optimizer.zero_grad()
        loss(torch.rand(128) * 2 - 1, torch.rand(128, 9) * 2 - 1).backward()
        optimizer.step()
    assert error() < 0.4 * truth.var().item() < 0.4 * before


def test_optimizer_group_holds_exactly_the_surrogate():
    loss = GuidedRec()
    (group,) = loss.optimizer_groups(lr=0.01, weight_decay=1e-4)
    assert {id(p) for p in group["params"]} == {id(p) for p in loss.parameters()}
    assert group["lr"] == 0.01 and group["weight_decay"] == 1e-4 and not group.get("maximize", False)
    assert GuidedRec(surrogate_lr=0.5).optimizer_groups(lr=0.01, weight_decay=0.0)[0]["lr"] == 0.5
    assert set(loss.state_dict()) == {f"surrogate.{k}.{t}" for k in ("pair", "mix", "out") for t in ("weight", "bias")}


def test_built_by_name_from_config_keys():
    loss = GuidedRec.from_config({"guidedrec_guidance_weight": 0.5, "guidedrec_hidden": 8, "guidedrec_surrogate_lr": None})
    assert (loss.guidance_weight, loss.hidden, loss.surrogate_lr) == (0.5, 8, None)
    assert loss.surrogate["mix"].weight.shape == (8, 8)
    assert isinstance(build_loss("guidedrec"), GuidedRec)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"guidance_weight": -1.0}, "GuidedRec: guidance_weight must be a number >= 0, got -1.0"),
        ({"guidance_weight": float("nan")}, "GuidedRec: guidance_weight must be a finite number >= 0, got nan"),
        ({"hidden": 0}, "GuidedRec: hidden must be an integer >= 1, got 0"),
        ({"hidden": 2.5}, "GuidedRec: hidden must be an integer >= 1, got 2.5"),
        ({"surrogate_lr": 0.0}, "GuidedRec: surrogate_lr must be a number > 0 or None, got 0.0"),
    ],
)
def test_bad_hyperparameters_are_named(kwargs, message):
    with pytest.raises(ValueError) as err:
        GuidedRec(**kwargs)
    assert str(err.value) == message
    with pytest.raises(ValueError) as err:
        GuidedRec.from_config({f"guidedrec_{k}": v for k, v in kwargs.items()})
    assert str(err.value) == f"invalid loss hyperparameter (guidedrec_* config keys): {message}"


def test_surrogate_trains_and_is_restored_from_the_checkpoint(toy):
    """Through the trainer: the surrogate moves (its own group, the run's optimiser), the
    best-validation checkpoint holds it, and a resumed run continues from it."""
    from recbole_losses.checkpoint import load_checkpoint
    from recbole_losses.quick_start import build_run

    config = {"data_path": str(toy), "epochs": 2, "neg_num": 8, "pos_num": 2, "train_batch_size": 64, "eval_step": 1,
              "show_progress": False, "learning_rate": 0.01, "state": "WARNING", "topk": [5],
              "valid_metric": "NDCG@5", "use_gpu": False, "guidedrec_surrogate_lr": 0.05}
    _, (train, valid, _), model, trainer = build_run("MF", "GuidedRec", "toy", config_dict=config)
    start = {k: v.clone() for k, v in model.loss.state_dict().items()}
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [0.01, 0.05]
    trainer.fit(train, valid, saved=True)
    moved = model.loss.state_dict()
    assert all(not torch.equal(moved[k], v) for k, v in start.items())
    saved = load_checkpoint(trainer.saved_model_file, map_location="cpu")["state_dict"]
    assert {k for k in saved if k.startswith("loss.")} == {f"loss.{k}" for k in start}

    _, _, resumed_model, resumed = build_run("MF", "GuidedRec", "toy", config_dict={**config, "epochs": 3})
    resumed.resume_checkpoint(trainer.saved_model_file)
    for k, v in resumed_model.state_dict().items():
        assert torch.equal(v, saved[k]), k
    assert resumed.optimizer.state_dict()["param_groups"][1]["lr"] == 0.05
