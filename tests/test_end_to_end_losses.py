"""MF with every registered loss on ml-100k through ``recbole_losses.run``: short runs
(small N, large batches, a raised learning rate) that must rank better than the most-popular
ranking on the same split.

Why that floor: a popularity ranking is what a model that has learned only item frequencies
produces, and it is strong on ml-100k (test NDCG@10 ≈ 0.13 against ≈ 0.01 for a random ranking);
beating it means the loss, its score function and its training-time state pushed the embeddings
towards each user's own items. It is computed here with RecBole's ``Pop`` on the identical split
(same seed, same RecBole split and full-sort evaluation with history masked).
"""

import pytest

import recbole_losses

COMMON = {
    "epochs": 1,
    "neg_num": 32,
    "train_batch_size": 2048,
    "learning_rate": 0.01,
    "eval_step": 1,
    "show_progress": False,
}
# Settings a loss needs beyond COMMON to learn in a short run; a loss not listed runs on COMMON.
PER_LOSS = {
    "BSL": {"bsl_tau1": 0.2, "bsl_tau2": 0.1},
    "CCL": {},
    "DrRL": {},
    "SL@K": {"slatk_t_beta": 1},  # refresh the quantiles in the (only) epoch
    "SogSL@K": {"sogslatk_t_beta": 1},
    # IR-Benchmark trains LLPAUC with lr 0.1 (SL@K paper Tables 11-14); on sigmoid(cosine) scores
    # it moves more slowly than the softmax family and needs a few epochs.
    "LLPAUC": {"learning_rate": 0.1, "epochs": 3},
    "AdvInfoNCE": {"epochs": 2, "advinfonce_adv_interval": 2},  # epoch 1 trains only the adversary
    # Ranks rescaled to the catalogue (N = 32 of 1682 items) make the lambda weights small (LambdaLoss's
    # ~1e-3): the gradients sit near Adam's epsilon and one epoch at lr 0.01 barely moves the model.
    "LambdaRank": {"epochs": 3},
    "LambdaLoss": {"learning_rate": 0.1},
    "LambdaLoss@K": {"learning_rate": 0.1},
}


def test_settings_name_registered_losses():
    assert set(PER_LOSS) <= set(recbole_losses.available_losses())


@pytest.mark.parametrize("loss", recbole_losses.available_losses())
def test_mf_beats_popularity_on_ml100k(workdir, popularity_ndcg10, loss):
    config = {**COMMON, "checkpoint_dir": str(workdir / "saved"), **PER_LOSS.get(loss, {})}
    result = recbole_losses.run("MF", loss, "ml-100k", config_dict=config)
    ndcg10 = result["test_result"]["ndcg@10"]
    assert len(result["train_epoch_seconds"]) == config["epochs"]
    assert ndcg10 > popularity_ndcg10, f"{loss}: NDCG@10 {ndcg10:.4f} <= popularity {popularity_ndcg10:.4f}"
