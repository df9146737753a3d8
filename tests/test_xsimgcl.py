"""XSimGCL: the noise, the clean evaluation path, the LightGCN limit, the contrastive term against a
naive loop, and end-to-end runs on ml-100k."""

import math
import types

import numpy as np
import pytest
import torch
from recbole.data import create_dataset
from recbole.data.interaction import Interaction
from recbole.model.general_recommender import LightGCN as RecBoleLightGCN

import recbole_losses
from recbole_losses import Config
from recbole_losses.data.dataloader import data_preparation
from recbole_losses.functional import infonce
from recbole_losses.models import BACKBONES, COMPOSED, resolve_model
from recbole_losses.models.xsimgcl import XSimGCL


@pytest.fixture(scope="module")
def dataset(module_workdir):
    """The ml-100k training split (RecBole's default 8:1:1 random split)."""
    config = Config("XSimGCL", "ml-100k", config_dict={"show_progress": False})
    train_data, _, _ = data_preparation(config, create_dataset(config))
    return train_data._dataset


def make(dataset, loss=None, **overrides):
    config_dict = {"show_progress": False, "embedding_size": 16, **overrides}
    if loss is not None:
        config_dict["loss"] = loss
    config = Config("XSimGCL", "ml-100k", config_dict=config_dict)
    torch.manual_seed(0)
    return config.model_class(config, dataset)


def dense_adjacency(dataset) -> np.ndarray:
    """RecBole's own D^-1/2 A D^-1/2 of the training split, dense float64."""
    holder = types.SimpleNamespace(
        interaction_matrix=dataset.inter_matrix(form="coo").astype(np.float32),
        n_users=dataset.user_num,
        n_items=dataset.item_num,
    )
    return RecBoleLightGCN.get_norm_adj_mat(holder).to_dense().double().numpy()


def batch(dataset, size=300, seed=0):
    """Training pairs drawn with replacement (so users and items repeat), random negatives."""
    gen = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, len(dataset.inter_feat), (size,), generator=gen)
    user, pos = dataset.inter_feat["user_id"][rows], dataset.inter_feat["item_id"][rows]
    neg = torch.randint(1, dataset.item_num, (size,), generator=gen)
    return Interaction({"user_id": user, "item_id": pos, "neg_item_id": neg})


def test_registered_as_backbone_and_stock_model():
    assert BACKBONES["XSimGCL"].recbole_class is XSimGCL
    assert resolve_model("XSimGCL", None) is XSimGCL
    assert resolve_model("xsimgcl", "CW") is COMPOSED["XSimGCL"]


def test_yaml_defaults(dataset):
    model = make(dataset, embedding_size=64)
    assert (model.n_layers, model.eps, model.layer_cl, model.cl_temperature, model.cl_weight) == (
        3, 0.1, 1, 0.1, 0.1,
    )
    assert model.latent_dim == 64 and model.reg_weight == 0.0


@pytest.mark.parametrize("eps", [0.1, 0.7])
def test_noise_has_norm_eps_in_the_rows_own_hyperoctant(dataset, eps):
    model = make(dataset, eps=eps).train()
    adjacency = dense_adjacency(dataset)
    with torch.no_grad():
        layers = [layer.double().numpy() for layer in model.propagate(perturbed=True)]
    assert len(layers) == model.n_layers + 1
    for k in range(1, len(layers)):
        clean = adjacency @ layers[k - 1]  # this layer without its own noise
        delta = layers[k] - clean
        # Nodes without training edges (the padding ids, items seen only in valid/test): zero
        # rows, sign 0, no noise. Every other entry is nonzero.
        isolated = ~adjacency.any(axis=1)
        assert isolated[0] and isolated[dataset.user_num] and np.all(clean[~isolated] != 0)
        np.testing.assert_allclose(np.linalg.norm(delta[~isolated], axis=1), eps, rtol=1e-4)
        assert np.all(delta[isolated] == 0)
        assert np.array_equal(np.sign(layers[k]), np.sign(clean))
        assert np.all(delta * np.sign(clean) >= -1e-7)  # pointing away from the origin
        # Fresh random directions, not one shared vector.
        directions = np.abs(delta[~isolated]) / eps
        assert directions.std(axis=0).min() > 0.05


def test_eval_is_clean_and_cached(dataset):
    model = make(dataset)
    interaction = batch(dataset)
    model.train()
    with torch.no_grad():
        noisy_a, noisy_b = model.forward(), model.forward()
        clean_user, clean_item = model.forward(perturbed=False)
    assert not torch.equal(noisy_a[0], noisy_b[0])  # training mode: noise, fresh each call
    model.eval()
    with torch.no_grad():
        eval_a, eval_b = model.forward(), model.forward()
        views = model.contrastive_views()
        scores = model.full_sort_predict(interaction).view(len(interaction), -1)
        cached = model.restore_user_e
        again = model.full_sort_predict(interaction)
        pair_scores = model.predict(interaction)
    for tensor in (eval_a[0], eval_b[0], views[0]):
        assert torch.equal(tensor, clean_user)
    assert torch.equal(eval_a[1], clean_item)
    torch.testing.assert_close(scores, clean_user[interaction["user_id"]] @ clean_item.T)
    assert model.restore_user_e is cached and torch.equal(again.view_as(scores), scores)
    torch.testing.assert_close(pair_scores, scores.gather(1, interaction["item_id"][:, None]).squeeze(1))
    model.train()
    model.calculate_loss(interaction)
    assert model.restore_user_e is None and model.restore_item_e is None


def test_eps0_lambda0_is_lightgcn_mean_of_layers_1_to_L(dataset):
    model = make(dataset, eps=0.0, **{"lambda": 0.0})
    adjacency = dense_adjacency(dataset)
    ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach().double().numpy()
    layers, current = [], ego
    for _ in range(model.n_layers):
        current = adjacency @ current
        layers.append(current)
    final = torch.from_numpy(np.mean(layers, axis=0))
    user_ref, item_ref = final[: dataset.user_num], final[dataset.user_num :]
    interaction = batch(dataset)
    user, pos, neg = interaction["user_id"], interaction["item_id"], interaction["neg_item_id"]

    model.train()
    user_all, item_all, (cl,) = model.training_embeddings(user, pos)
    torch.testing.assert_close(user_all.double(), user_ref, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(item_all.double(), item_ref, rtol=1e-5, atol=1e-7)
    assert cl.item() == 0.0
    rec, reg, cl = model.calculate_loss(interaction)
    margin = (user_ref[user] * (item_ref[pos] - item_ref[neg])).sum(dim=1)
    torch.testing.assert_close(rec.double(), -torch.log(1e-10 + torch.sigmoid(margin)).mean(), rtol=1e-5, atol=1e-7)
    assert reg.item() == 0.0 and cl.item() == 0.0

    model.eval()
    with torch.no_grad():
        scores = model.full_sort_predict(interaction).view(len(interaction), -1)
    torch.testing.assert_close(scores.double(), user_ref[user] @ item_ref.T, rtol=1e-5, atol=1e-7)

    # The composed model trains and ranks on the same embeddings, with no extra term left.
    composed = make(dataset, loss="SL", eps=0.0, **{"lambda": 0.0}).train()
    composed.net.load_state_dict(model.state_dict())
    interaction["sampled_pos_item_id"] = pos[:, None]
    interaction["neg_item_id"] = neg[:, None]
    loss, extra = composed.calculate_loss(interaction)
    assert extra.item() == 0.0
    composed_user, composed_item = BACKBONES["XSimGCL"].embeddings(composed.net)
    torch.testing.assert_close(composed_user.double(), user_ref, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(composed_item.double(), item_ref, rtol=1e-5, atol=1e-7)


def naive_infonce(anchor, positive, tau):
    """Mean over rows r of -log(exp(cos(a_r, p_r)/tau) / sum_s exp(cos(a_r, p_s)/tau)), float64."""
    anchor, positive = anchor.tolist(), positive.tolist()

    def cos(a, b):
        dot = sum(x * y for x, y in zip(a, b))
        return dot / math.sqrt(sum(x * x for x in a)) / math.sqrt(sum(y * y for y in b))

    total = 0.0
    for r, a in enumerate(anchor):
        logits = [cos(a, p) / tau for p in positive]
        top = max(logits)
        total += top + math.log(sum(math.exp(v - top) for v in logits)) - logits[r]
    return total / len(anchor)


@pytest.mark.parametrize("tau", [0.01, 0.1, 1.0])
def test_infonce_matches_naive_loop(tau, device):
    anchor = torch.randn(40, 8, dtype=torch.float64, device=device)
    positive = torch.randn(40, 8, dtype=torch.float64, device=device)
    positive[:5] = anchor[:5] * 3.0  # some aligned pairs: large logits at small tau
    expected = naive_infonce(anchor.cpu(), positive.cpu(), tau)
    assert math.isclose(infonce(anchor, positive, tau).item(), expected, rel_tol=1e-10)
    # float32 with logits up to 1/tau = 100 (exp overflows float32 at 88): still exact in log space.
    got32 = infonce(anchor.float(), positive.float(), tau)
    assert torch.isfinite(got32) and math.isclose(got32.item(), expected, rel_tol=1e-4)
    empty = torch.zeros(0, 8, device=device, requires_grad=True)
    zero = infonce(empty, empty, tau)
    zero.backward()
    assert zero.item() == 0.0


def test_contrastive_term_matches_naive_loop_over_unique_batch_ids(dataset):
    model = make(dataset, temperature=0.2, **{"lambda": 0.3}).train()
    interaction = batch(dataset, size=200, seed=3)
    user, pos = interaction["user_id"], interaction["item_id"]
    assert len(torch.unique(user)) < len(user) and len(torch.unique(pos)) < len(pos)
    torch.manual_seed(11)
    user_all, item_all, user_cl, item_cl = model.contrastive_views()
    got = model.contrastive_loss(user, pos, user_all, item_all, user_cl, item_cl)
    users, items = sorted(set(user.tolist())), sorted(set(pos.tolist()))
    expected = naive_infonce(user_all[users].double(), user_cl[users].double(), 0.2) + naive_infonce(
        item_all[items].double(), item_cl[items].double(), 0.2
    )
    assert math.isclose(got.item(), expected, rel_tol=1e-5)
    # training_embeddings returns the same term times lambda (same noise under the same seed)...
    torch.manual_seed(11)
    _, _, (weighted,) = model.training_embeddings(user, pos)
    assert math.isclose(weighted.item(), 0.3 * expected, rel_tol=1e-5)
    # ... and the view is layer l* = 1: one propagation of the (noise-free) tables, plus noise.
    model.eval()
    with torch.no_grad():
        layers = model.propagate(perturbed=False)
        _, _, user_cl, item_cl = model.contrastive_views()
    assert torch.equal(torch.cat([user_cl, item_cl]), layers[1])


def test_layer_cl_zero_is_the_embedding_table(dataset):
    model = make(dataset, layer_cl=0).train()
    _, _, user_cl, item_cl = model.contrastive_views()
    assert torch.equal(user_cl, model.user_embedding.weight)
    assert torch.equal(item_cl, model.item_embedding.weight)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"layer_cl": 4}, r"layer_cl must be an integer in \[0, n_layers = 3\], got 4"),
        ({"n_layers": 0}, r"n_layers must be an integer >= 1, got 0"),
        ({"temperature": 0.0}, r"temperature must be a number > 0, got 0.0"),
        ({"eps": -0.1}, r"eps must be a number >= 0, got -0.1"),
        ({"lambda": "high"}, r"lambda must be a number >= 0, got 'high'"),
    ],
)
def test_invalid_settings(dataset, overrides, message):
    with pytest.raises(ValueError, match=message):
        make(dataset, **overrides)


# End to end. Floor: the NDCG@10 of most-popular ranking on the same split, computed by RecBole's
# Pop model — a model that learnt anything personal from the training data must beat it.
E2E = {"show_progress": False, "neg_num": 64, "eval_step": 1, "stopping_step": 10}


@pytest.mark.parametrize(
    "loss, settings",
    [
        # Stock BPR + lambda * InfoNCE. On ml-100k the default lambda = 0.1 lets the contrastive
        # term dominate BPR for tens of epochs (docs/models.md); lambda = 0.01 and a higher
        # learning rate make two epochs enough to test that the BPR path learns.
        (None, {"epochs": 2, "learning_rate": 0.01, "lambda": 0.01}),
        ("CW", {"epochs": 1}),
        ("PSL", {"epochs": 1}),
    ],
)
def test_end_to_end_ml100k_beats_popularity(workdir, popularity_ndcg10, loss, settings):
    result = recbole_losses.run("XSimGCL", loss, "ml-100k", config_dict={**E2E, **settings})
    ndcg = result["test_result"]["ndcg@10"]
    assert 0 <= ndcg <= 1 and len(result["train_epoch_seconds"]) == settings["epochs"]
    assert ndcg > popularity_ndcg10 + 0.03, (ndcg, popularity_ndcg10)
