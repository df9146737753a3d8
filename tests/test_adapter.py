"""The backbone adapter (recbole_losses.models.adapter), SimGCL and LightGCN++ with any loss.

- Every RecBole general recommender is tried with a loss (one training step on the toy dataset);
  docs/models.md's table is generated from what happens, and the test fails when the file is out
  of date. Regenerate it with ``python tests/test_adapter.py``.
- Every model a loss can train beyond MF/LightGCN/NGCF/XSimGCL × a stateless (PSL) and a stateful
  (SL@K) loss end to end (train, evaluate, checkpoint, resume, load): on ml-100k, the pair-scored
  models on the toy dataset.
- The auxiliary objectives are present and weighted: set to weight 0, the gradient changes.
- Refused models give their one-line reason.
"""

import os
import re
import sys
from pathlib import Path

import pytest
import torch

# Run as a script (to regenerate the table), the checkout's package and conftest come first.
sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import recbole_losses  # noqa: E402
from recbole_losses.checkpoint import load_checkpoint  # noqa: E402
from recbole_losses.models import BACKBONES, resolve_model  # noqa: E402
from recbole_losses.models import adapter as adapter_module  # noqa: E402
from recbole_losses.models.composed import check_pair_memory  # noqa: E402
from recbole_losses.quick_start import build_run  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs" / "models.md"
BEGIN, END = "<!-- models-table:begin -->", "<!-- models-table:end -->"
# Small settings per model so one step and one evaluation stay fast (keys the model reads).
SMALL = {
    "NCL": {"num_clusters": 8, "warm_up_step": 0, "n_layers": 2},
    "DGCF": {"n_factors": 2, "n_iterations": 1},
    "SGL": {"n_layers": 1},
    "SpectralCF": {"n_layers": 1},
    "SimGCL": {"n_layers": 1},
    "LightGCN++": {"n_layers": 2},
    "NeuMF": {"mlp_hidden_size": [16, 8]},
    "ConvNCF": {"cnn_channels": [1, 8, 8], "cnn_kernels": [4, 4], "cnn_strides": [4, 4]},
    "NNCF": {"neigh_num": 8, "neigh_embedding_size": 8, "num_conv_kernel": 8, "conv_kernel_size": 3,
             "pool_kernel_size": 2, "mlp_hidden_size": [8], "neigh_info_method": "random"},
    "DMF": {"user_hidden_size_list": [16, 8], "item_hidden_size_list": [16, 8], "user_embedding_size": 16,
            "item_embedding_size": 16},
    "NAIS": {"weight_size": 8},
    "FISM": {},
}
# End to end on ml-100k: the representation models and our new backbones; the pair-scored ones
# (their full-sort evaluation scores every (user, item) pair through their network: ~0.5-2 min
# each on ml-100k) end to end on the toy dataset.
ML100K_MODELS = sorted(adapter_module.ADAPTED) + ["SimGCL", "LightGCN++"]
TOY_MODELS = sorted(adapter_module.PAIR_SCORED)


def _small(model, **extra):
    settings = {"embedding_size": 16, **SMALL.get(model, {}), **extra}
    return {k: v for k, v in settings.items() if k in _model_keys(model) or k in extra}


def _model_keys(model):
    """The config keys model ``model`` knows (RecBole's or our YAML), so SMALL never sets a key the
    model's config would refuse."""
    from recbole_losses.config import properties_dir
    import recbole

    keys = set()
    for path in (Path(recbole.__file__).parent / "properties" / "model" / f"{model}.yaml",
                 properties_dir() / "model" / f"{model}.yaml"):
        if path.is_file():
            keys |= {line.split(":")[0].strip() for line in path.read_text().splitlines() if re.match(r"^\w", line)}
    return keys


def _toy_config(root, model, **extra):
    return {"data_path": str(root), "epochs": 1, "neg_num": 8, "pos_num": 2, "train_batch_size": 64, "eval_step": 1,
            "show_progress": False, "state": "WARNING", "checkpoint_dir": str(root / "saved"), "topk": [5],
            "valid_metric": "NDCG@5", "use_gpu": False, **_small(model), **extra}


# ------------------------------------------------------------------------------------------
# The table of every RecBole general recommender, from trying each.


def _general_models():
    return recbole_losses.available_models()["without a loss (RecBole general models)"]


def _how(name):
    """(works with a loss, how, kept of its own objective) for RecBole model ``name``, found by
    resolving it with a loss and training one step on the toy dataset."""
    from recbole_losses.data.toy import write_toy_dataset
    import tempfile

    try:
        cls = resolve_model(name, "PSL")
    except ValueError as err:
        return "no", str(err).split(": ", 1)[1].rsplit("; run it without", 1)[0], "—"
    backbone = cls.backbone
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            root = write_toy_dataset(Path(tmp))
            _, (train, _, _), model, trainer = build_run(name, "PSL", "toy", config_dict=_toy_config(Path(tmp), name))
            model.train()
            batch = next(iter(train))
            terms = model.calculate_loss(batch)
            total = sum(terms) if isinstance(terms, tuple) else terms
            total.backward()
            assert torch.isfinite(total)
        finally:
            os.chdir(cwd)
    if name == "BPR":
        how = "ours: `MF` (RecBole's BPR model as the backbone)"
    elif name in BACKBONES:
        how = f"ours: `{name}` (RecBole's with a vectorised adjacency)"
    elif backbone.pair_scores is not None:
        how = "adapter: its own pair scorer on the B·K candidates (if the step fits in memory)"
    else:
        how = "adapter: its user/item representations, fused candidate scoring"
    kept = backbone.kept or "—"
    if name == "BPR" or name in BACKBONES:
        kept = "reg_weight · EmbLoss on the batch's ego embeddings" if name != "BPR" else "reg_weight · EmbLoss (0 by default)"
    return "yes", how, kept


def models_table() -> str:
    rows = ["| RecBole model | with a loss | how | kept of its own objective (beside the loss) |",
            "| --- | --- | --- | --- |"]
    for name in _general_models():
        works, how, kept = _how(name)
        rows.append(f"| {name} | {works} | {how} | {kept} |")
    return "\n".join(rows)


def _documented_table() -> str:
    text = DOCS.read_text(encoding="utf-8")
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip()


def write_models_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOCS.write_text(text[:start] + "\n" + models_table() + "\n" + text[end:], encoding="utf-8")


def test_models_table_in_docs_is_generated_from_trying_every_model(workdir):
    assert _documented_table() == models_table(), (
        "docs/models.md's table of RecBole models is out of date: run `python tests/test_adapter.py`")


# ------------------------------------------------------------------------------------------
# End to end on ml-100k: every model × a stateless and a stateful loss.

ML100K = {"epochs": 1, "neg_num": 8, "pos_num": 1, "train_batch_size": 4096, "learning_rate": 0.01, "eval_step": 1,
          "show_progress": False, "state": "WARNING", "use_gpu": False, "slatk_t_beta": 1}


@pytest.mark.parametrize("loss", ["PSL", "SL@K"])
@pytest.mark.parametrize("model, dataset", [(m, "ml-100k") for m in ML100K_MODELS] + [(m, "toy") for m in TOY_MODELS])
def test_end_to_end_train_evaluate_checkpoint_resume_load(workdir, model, dataset, loss):
    config = {**ML100K, **_small(model), "checkpoint_dir": str(workdir / "saved")}
    if dataset == "toy":
        from recbole_losses.data.toy import write_toy_dataset

        config = {**config, "data_path": str(write_toy_dataset(workdir)), "topk": [5], "valid_metric": "NDCG@5",
                  "train_batch_size": 64, "slatk_k": 5}
    if loss == "PSL":
        config = {k: v for k, v in config.items() if not k.startswith("slatk_")}
    _, (train, valid, test), recommender, trainer = build_run(model, loss, dataset, config_dict=config)
    assert type(recommender) is resolve_model(model, loss)
    trainer.fit(train, valid, saved=True)
    result = trainer.evaluate(test, load_best_model=True)
    assert 0 < result["ndcg@5" if dataset == "toy" else "ndcg@10"] <= 1
    saved = trainer.saved_model_file
    state = load_checkpoint(saved)["state_dict"]
    assert not any(k.startswith("restore_") for k in state)
    if loss == "SL@K":
        assert any(k.startswith("loss.") for k in state)  # the loss's training-time state is saved

    # load: same parameters, same metrics
    _, loaded, _, _, _, test_data = recbole_losses.load_data_and_model(saved)
    for key, value in state.items():
        assert torch.equal(loaded.state_dict()[key], value), key
    trainer.model = loaded
    assert trainer.evaluate(test_data, load_best_model=False) == result

    # resume: one more epoch from the checkpoint
    _, (train, valid, _), _, resumed = build_run(model, loss, dataset, config_dict={**config, "epochs": 2,
                                                 "checkpoint_dir": str(workdir / "resumed")})
    resumed.resume_checkpoint(saved)
    resumed.fit(train, valid, saved=True)
    assert resumed.start_epoch == 1 and len(resumed.train_epoch_seconds) == 1


# ------------------------------------------------------------------------------------------
# Auxiliary objectives: present, weighted by the model's own key.

AUX = [  # model, weight key, term name
    ("NCL", "ssl_reg", "ssl"),
    ("NCL", "proto_reg", "proto"),
    ("SGL", "ssl_weight", "ssl"),
    ("DGCF", "cor_weight", "cor"),
    ("SimGCL", "lambda", "contrastive"),
]


def _gradient(toy, model, **extra):
    torch.manual_seed(0)
    _, (train, _, _), recommender, _ = build_run(model, "PSL", "toy", config_dict=_toy_config(toy, model, **extra))
    recommender.train()  # starts an epoch: SGL draws its views, NCL runs its E-step
    batch = next(iter(train))
    torch.manual_seed(1)
    terms = recommender.calculate_loss(batch)
    sum(terms).backward()
    names = recommender.loss_term_names
    return dict(zip(names, (t.detach() for t in terms))), torch.cat(
        [p.grad.flatten() for p in recommender.parameters() if p.grad is not None])


@pytest.mark.parametrize("model, key, term", AUX)
def test_auxiliary_term_is_kept_with_its_weight_and_off_at_zero(toy, model, key, term):
    with_term, grad = _gradient(toy, model)
    without_term, grad_off = _gradient(toy, model, **{key: 0.0})
    assert with_term[term] != 0 and without_term[term] == 0
    assert with_term["PSL"] == without_term["PSL"]  # same draws: only the auxiliary term differs
    assert not torch.allclose(grad, grad_off)


# ------------------------------------------------------------------------------------------
# Refusals and names.


@pytest.mark.parametrize("model, words", [
    ("EASE", "not trained by gradient"), ("ItemKNN", "not trained by gradient"), ("Pop", "not trained by gradient"),
    ("SLIMElastic", "not trained by gradient"), ("MultiVAE", "autoencoder"), ("GCMC", "rating levels"),
])
def test_refused_models_give_their_one_line_reason(model, words):
    with pytest.raises(ValueError, match=words) as err:
        resolve_model(model, "CW")
    assert "\n" not in str(err.value) and str(err.value).startswith(f"{model} cannot be trained with a loss")


def test_pair_scored_model_refused_when_a_step_does_not_fit(toy):
    _, _, recommender, _ = build_run("ConvNCF", "PSL", "toy", config_dict=_toy_config(toy, "ConvNCF"))
    config = {"train_batch_size": 1024, "neg_num": 1000, "pos_num": 4, "device": "cpu"}
    with pytest.raises(ValueError, match=r"ConvNCF cannot be trained with a loss at these settings: .* KB per pair"):
        check_pair_memory(recommender.net, recommender.backbone, config, 10**6, available=2**30)


def test_stock_ncl_trains_without_faiss_on_a_gpu(toy):
    # RecBole's NCL runs its E-step with faiss on a GPU; without one, compat gives it a torch k-means.
    if recbole_losses.compat.faiss_gpu_available():
        pytest.skip("faiss with a GPU is installed: RecBole's own k-means runs")
    _, (train, valid, _), recommender, trainer = build_run("NCL", None, "toy", config_dict=_toy_config(toy, "NCL"))
    assert type(recommender).__name__ == "NCL" and type(recommender).__module__.startswith("recbole.")
    trainer.fit(train, valid, saved=False)
    assert recommender.user_centroids.shape == (8, 16) and recommender.user_2cluster.shape == (recommender.n_users,)
    assert recommender.item_2cluster.max() < 8


def test_names_ours_first_then_the_adapter_and_stock_without_a_loss():
    from recbole.model.general_recommender import NCL as RecBoleNCL

    assert resolve_model("LightGCN", "PSL").__module__ == "recbole_losses.models.composed"
    assert resolve_model("ncl", "PSL") is adapter_module.NCL
    assert resolve_model("NCL", None) is RecBoleNCL
    assert resolve_model("lightgcnpp", None).__name__ == "LightGCN++"
    with pytest.raises(ValueError, match="unknown model 'NoSuch'"):
        resolve_model("NoSuch", "PSL")


def test_log_says_which_model_runs(toy, caplog):
    import logging

    with caplog.at_level(logging.INFO):
        build_run("SGL", "PSL", "toy", config_dict={**_toy_config(toy, "SGL"), "state": "INFO"})
    assert any("model SGL: recbole.model.general_recommender.sgl.SGL trained with loss PSL" in r.getMessage()
               for r in caplog.records)


# ------------------------------------------------------------------------------------------
# SimGCL and LightGCN++ against naive computations.


def test_lightgcnpp_matches_a_dense_computation(toy):
    _, _, recommender, _ = build_run("LightGCN++", "PSL", "toy", config_dict=_toy_config(toy, "LightGCN++"))
    net = recommender.net
    r = torch.zeros(net.n_users, net.n_items, dtype=torch.float64)
    coo = net.interaction_matrix
    r[torch.as_tensor(coo.row, dtype=torch.long), torch.as_tensor(coo.col, dtype=torch.long)] = 1.0
    a = torch.zeros(net.n_users + net.n_items, net.n_users + net.n_items, dtype=torch.float64)
    a[: net.n_users, net.n_users:], a[net.n_users:, : net.n_users] = r, r.T
    degree = a.sum(1)
    safe = torch.where(degree > 0, degree, torch.ones_like(degree))
    p = a * safe.unsqueeze(1) ** -net.alpha * safe.unsqueeze(0) ** -net.beta
    ego = net.get_ego_embeddings().detach().double()
    layer, layers = ego, []
    for _ in range(net.n_layers):
        layer = p @ torch.nn.functional.normalize(layer, dim=1)
        layers.append(layer)
    expected = net.gamma * ego + (1 - net.gamma) * torch.stack(layers).mean(0)
    user_all, item_all = net.forward()
    torch.testing.assert_close(torch.cat([user_all, item_all]).double(), expected, rtol=1e-5, atol=1e-6)
    # the gradient of the non-symmetric propagation (Pᵀ in the backward pass)
    ego_leaf = net.get_ego_embeddings().detach().requires_grad_()
    weights = torch.randn_like(ego_leaf)
    net.user_embedding.weight.data, net.item_embedding.weight.data = ego_leaf.data.split([net.n_users, net.n_items])
    out = torch.cat(net.forward())
    (out * weights).sum().backward()
    grad = torch.cat([net.user_embedding.weight.grad, net.item_embedding.weight.grad])
    ego64 = ego_leaf.detach().double().requires_grad_()
    layer, layers = ego64, []
    for _ in range(net.n_layers):
        layer = p @ torch.nn.functional.normalize(layer, dim=1)
        layers.append(layer)
    ((net.gamma * ego64 + (1 - net.gamma) * torch.stack(layers).mean(0)) * weights.double()).sum().backward()
    torch.testing.assert_close(grad.double(), ego64.grad, rtol=1e-4, atol=1e-6)


def test_simgcl_ranks_on_clean_embeddings_and_contrasts_two_noisy_views(toy):
    _, _, recommender, _ = build_run("SimGCL", "PSL", "toy", config_dict=_toy_config(toy, "SimGCL", eps=0.1))
    net = recommender.net.train()
    clean_user, clean_item = net.forward(perturbed=False)
    ego = net.get_ego_embeddings()
    layer, layers = ego, []
    for _ in range(net.n_layers):
        layer = torch.sparse.mm(net.norm_adj_matrix.to_sparse_coo(), layer)
        layers.append(layer)
    torch.testing.assert_close(torch.cat([clean_user, clean_item]), torch.stack(layers).mean(0))
    user = torch.tensor([1, 2, 2, 3])
    item = torch.tensor([1, 1, 4, 5])
    user_rows, item_all, (cl,) = recommender.backbone.training_embeddings(net, user, item)
    torch.testing.assert_close(user_rows, clean_user[user])  # the loss ranks the clean embeddings
    one, two = net.forward(), net.forward()  # two perturbed views differ
    assert not torch.allclose(one[0], two[0])
    assert cl > 0


if __name__ == "__main__":
    write_models_table()
    print(f"wrote the table of RecBole models into {DOCS}")
