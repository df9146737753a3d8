"""No leakage: everything the sampled batch mode and the losses learn from comes from the training
split, and evaluation masks what RecBole's full-sort protocol says (valid: training items; test:
training and validation items), never the items being evaluated."""

import pytest
import torch

from recbole_losses.quick_start import build_run
from conftest import STATE


def _settings(root, **extra):
    return {"data_path": str(root), "epochs": 1, "neg_num": 16, "pos_num": 3, "train_batch_size": 64,
            "show_progress": False, "state": "ERROR", "topk": [5], "valid_metric": "NDCG@5",
            "checkpoint_dir": str(root / "saved"), **extra}


def _pairs(dataset):
    inter = dataset.inter_feat
    return set(zip(inter["user_id"].tolist(), inter["item_id"].tolist()))


def _splits(loaders):
    return [_pairs(loader._dataset) for loader in loaders]


@pytest.mark.parametrize("distribution", ["uniform", "popularity"])
def test_a_whole_epoch_of_negatives_and_sampled_positives(toy, distribution):
    """Negatives: never a training positive of the row's user (validation/test items may be
    drawn: they are unlabeled at training time, as in RecBole and the papers). Sampled
    positives: only training positives, never a validation or test item of the user."""
    _, loaders, _, _ = build_run("MF", "CW", "toy", config_dict=_settings(toy, neg_distribution=distribution))
    train, valid, test = _splits(loaders)
    assert train and valid and test and not (train & (valid | test))
    sampler = loaders[0].item_sampler
    assert set(zip((sampler.keys // sampler.n_items).tolist(), (sampler.keys % sampler.n_items).tolist())) == train
    rows = 0
    for batch in loaders[0]:
        users = batch["user_id"].tolist()
        rows += len(users)
        for u, negatives, positives in zip(users, batch["neg_item_id"].tolist(), batch["sampled_pos_item_id"].tolist()):
            assert not any((u, i) in train for i in negatives)
            assert all((u, i) in train for i in positives)
    assert rows == len(train)


def test_popularity_statistics_count_the_training_split_only(toy):
    _, loaders, model, _ = build_run("MF", "CW", "toy", config_dict=_settings(toy, cw_tau_plus="pop", neg_distribution="popularity"))
    n_items = loaders[0]._dataset.item_num
    train_items = loaders[0]._dataset.inter_feat["item_id"]
    all_items = torch.cat([loader._dataset.inter_feat["item_id"] for loader in loaders])
    train_counts = torch.bincount(train_items, minlength=n_items).double()
    assert not torch.equal(train_counts, torch.bincount(all_items, minlength=n_items).double())  # the test can fail
    assert torch.equal(loaders[0].item_sampler.item_counts, train_counts)  # popularity negatives
    n_users = loaders[0]._dataset.user_num
    expected_prior = (train_counts / n_users).clamp(max=1 - 1e-6)
    torch.testing.assert_close(model.loss.item_prior, expected_prior)  # CW's tau+ = pop


def test_slatk_positive_lists_are_training_items_only(toy):
    _, loaders, model, _ = build_run("MF", "SL@K", "toy", config_dict=_settings(toy, slatk_pos_quantile=1.0, **STATE["SL@K"]))
    train = _splits(loaders)[0]
    table, mask = model.loss.pos_table, model.loss.pos_mask
    listed = {(u, i) for u in range(table.shape[0]) for i in table[u][mask[u]].tolist()}
    assert listed == train


def test_evaluation_masks_follow_recbole_protocol(toy):
    """Validation masks each user's training items; test masks training and validation items;
    the items of the split being evaluated are never masked; the trainer scores masked entries
    -inf."""
    _, loaders, model, trainer = build_run("MF", "SL", "toy", config_dict=_settings(toy))
    train, valid, test = _splits(loaders)
    trainer.model.eval()
    trainer.tot_item_num = loaders[0]._dataset.item_num
    for loader, masked, evaluated in ((loaders[1], train, valid), (loaders[2], train | valid, test)):
        seen_users = set()
        for batch in loader:
            interaction, (rows, cols), positive_u, positive_i = batch
            users = interaction["user_id"]
            got = set(zip(users[rows].tolist(), cols.tolist()))
            batch_users = set(users.tolist())
            seen_users |= batch_users
            assert got == {(u, i) for u, i in masked if u in batch_users}
            assert not got & evaluated
            assert set(zip(users[positive_u].tolist(), positive_i.tolist())) == {(u, i) for u, i in evaluated if u in batch_users}
            _, scores, _, _ = trainer._full_sort_batch_eval(batch)
            assert torch.isinf(scores[rows, cols]).all() and torch.isfinite(scores[positive_u, positive_i]).all()
        assert seen_users == {u for u, _ in evaluated}
