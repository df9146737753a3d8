"""The sampled batch mode: negatives avoid training positives, sampled positives are training
positives, shapes, uniformity, reproducibility, and the RecBole dataloader on ml-100k."""

import pytest
import torch

from recbole_losses.data.sampler import TrainingItemSampler

U, I = 40, 25


def toy_pairs(seed=0, n=300):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, U, (n,), generator=g), torch.randint(1, I, (n,), generator=g)


def train_sets(users, items):
    sets = {}
    for u, i in zip(users.tolist(), items.tolist()):
        sets.setdefault(u, set()).add(i)
    return sets


MEMBERSHIP = {  # which membership structure the NumPy path uses
    "table": {"compiled": False},
    "bitmap": {"table_bytes": 0, "compiled": False},
    "searchsorted": {"table_bytes": 0, "bitmap_bytes": 0, "compiled": False},
}
SAMPLERS = {**MEMBERSHIP, "compiled": {}}  # the compiled sampler (NumPy where no compiler works)


@pytest.fixture(params=list(SAMPLERS))
def sampler(request):
    users, items = toy_pairs()
    return TrainingItemSampler(users, items, U, I, **SAMPLERS[request.param])


def test_negatives_never_training_positives_and_shape(sampler):
    users, items = toy_pairs()
    sets = train_sets(users, items)
    rows = torch.unique(users)
    neg = sampler.negatives(rows, 500)
    assert neg.shape == (rows.numel(), 500) and neg.dtype == torch.long
    assert int(neg.min()) >= 1 and int(neg.max()) < I  # never the padding id 0
    for r, u in enumerate(rows.tolist()):
        assert not (set(neg[r].tolist()) & sets[u])


def test_sampled_positives_are_training_positives(sampler):
    users, items = toy_pairs()
    sets = train_sets(users, items)
    rows = torch.unique(users)
    pos = sampler.positives(rows, 7)
    assert pos.shape == (rows.numel(), 7)
    for r, u in enumerate(rows.tolist()):
        assert set(pos[r].tolist()) <= sets[u]


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("max_rounds", [20, 0])
def test_negatives_uniform_over_the_complement(max_rounds, compiled):
    """Rejection rounds and the exact complement fallback both give uniform draws (chi-square)."""
    users, items = toy_pairs(1)
    s = TrainingItemSampler(users, items, U, I, max_rounds=max_rounds, compiled=compiled)
    u = users[:1]
    free = sorted(set(range(1, I)) - train_sets(users, items)[int(u)])
    draws = s.negatives(u, 40000, generator=torch.Generator().manual_seed(3))[0]
    counts = torch.bincount(draws, minlength=I)[free].double()
    expected = 40000 / len(free)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert counts.sum() == 40000
    assert chi2 < len(free) + 6 * (2 * len(free)) ** 0.5  # ~6 sigma of chi2(df)


def test_popularity_negatives_follow_training_counts_and_avoid_positives():
    users = torch.tensor([1, 1, 2, 3, 3, 3, 4])
    items = torch.tensor([1, 2, 1, 1, 2, 3, 2])
    s = TrainingItemSampler(users, items, 6, 6, distribution="popularity")
    draws = s.negatives(torch.tensor([5]), 30000, generator=torch.Generator().manual_seed(0))[0]
    freq = torch.bincount(draws, minlength=6).double() / 30000
    # user 5 has no training items; counts of items 1, 2, 3 are 3, 3, 1 -> probabilities 3/7, 3/7, 1/7
    torch.testing.assert_close(freq[1:4], torch.tensor([3 / 7, 3 / 7, 1 / 7], dtype=torch.float64), atol=0.015, rtol=0)
    assert freq[0] == 0 and freq[4] == 0 and freq[5] == 0
    assert not s.is_training_positive(torch.tensor([1]), s.negatives(torch.tensor([1]), 1000)).any()


def test_reproducible_under_a_seed(sampler):
    rows = torch.arange(1, 10)
    a = sampler.negatives(rows, 50, generator=torch.Generator().manual_seed(7))
    b = sampler.negatives(rows, 50, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(11)
    c = sampler.positives(rows[:3] * 0 + int(toy_pairs()[0][0]), 5)
    torch.manual_seed(11)
    d = sampler.positives(rows[:3] * 0 + int(toy_pairs()[0][0]), 5)
    assert torch.equal(a, b) and torch.equal(c, d)


def test_user_with_every_item_is_a_clear_error():
    users = torch.tensor([1] * (I - 1) + [2])
    items = torch.tensor(list(range(1, I)) + [3])
    s = TrainingItemSampler(users, items, U, I)
    with pytest.raises(ValueError, match=r"users \[1\] interacted with every item in training"):
        s.negatives(torch.tensor([2, 1]), 3)


def test_user_with_almost_every_item_gets_the_one_free_item():
    users = torch.tensor([1] * (I - 2))
    items = torch.tensor([i for i in range(1, I) if i != 5])
    s = TrainingItemSampler(users, items, U, I)
    assert torch.all(s.negatives(torch.tensor([1]), 200) == 5)


def test_user_without_training_items_cannot_get_positives():
    s = TrainingItemSampler(torch.tensor([1]), torch.tensor([2]), U, I)
    with pytest.raises(ValueError, match=r"users \[3\] have no training items"):
        s.positives(torch.tensor([3]), 2)


def test_table_bitmap_and_searchsorted_membership_agree_with_the_pairs():
    users, items = toy_pairs(2, 500)
    pairs = set(zip(users.tolist(), items.tolist()))
    samplers = {kind: TrainingItemSampler(users, items, U, I, **kw) for kind, kw in MEMBERSHIP.items()}
    assert all(s.table is None and s.bitmap is None for s in samplers.values())  # built at the first lookup
    for s in samplers.values():
        s.is_training_positive(users[:1], items[:1])
    assert samplers["table"].table is not None
    assert samplers["bitmap"].table is None and samplers["bitmap"].bitmap is not None
    assert samplers["searchsorted"].table is None and samplers["searchsorted"].bitmap is None
    qu = torch.randint(0, U, (300,))
    qi = torch.randint(0, I, (300, 9))
    expected = torch.tensor([[(u, i) in pairs for i in row] for u, row in zip(qu.tolist(), qi.tolist())])
    for kind, s in samplers.items():
        assert torch.equal(s.is_training_positive(qu, qi), expected), kind


def test_dataloader_on_ml100k_gives_b_by_n_from_the_training_split(workdir):
    from recbole.data import create_dataset

    from recbole_losses import Config
    from recbole_losses.data.dataloader import SampledTrainDataLoader, data_preparation

    config = Config("MF", "ml-100k", config_dict={"loss": "CW", "neg_num": 50, "pos_num": 3, "train_batch_size": 256})
    train, valid, test = data_preparation(config, create_dataset(config))
    assert isinstance(train, SampledTrainDataLoader)
    batch = next(iter(train))
    assert batch["user_id"].shape == (256,)  # train_batch_size counts positive rows
    assert batch["neg_item_id"].shape == (256, 50) and batch["sampled_pos_item_id"].shape == (256, 3)
    inter = train._dataset.inter_feat
    train_pairs = set(zip(inter["user_id"].tolist(), inter["item_id"].tolist()))
    users = batch["user_id"].tolist()
    for r, u in enumerate(users):
        assert all((u, i) not in train_pairs for i in batch["neg_item_id"][r].tolist())
        assert all((u, i) in train_pairs for i in batch["sampled_pos_item_id"][r].tolist())
    assert sum(len(b["user_id"]) for b in train) == len(inter)  # one row per training interaction


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("whole_batches", [False, True])
def test_the_loaders_own_epoch_order_gives_the_stock_iterators_batches(workdir, shuffle, whole_batches):
    """Two epochs through the loader's own index batches equal two through torch's sampler and
    batch sampler (the same rows, negatives and positives, the last batch short or not) and leave
    the loader's generator in the same state; worker processes keep torch's iterator."""
    from recbole.data import create_dataset
    from recbole.data.dataloader import TrainDataLoader
    from recbole.utils import init_seed

    from recbole_losses import Config
    from recbole_losses.data.dataloader import data_preparation

    settings = {"loss": "SL", "neg_num": 7, "pos_num": 2, "train_batch_size": 4096, "shuffle": shuffle}
    config = Config("MF", "ml-100k", config_dict=settings)
    if whole_batches:  # the batch size divides the training rows: the epoch ends without a short batch
        rows = len(data_preparation(config, create_dataset(config))[0].sampler)
        config = Config("MF", "ml-100k", config_dict={**settings, "train_batch_size": next(
            b for b in range(rows // 8, rows + 1) if rows % b == 0)})
    epochs, states = {}, {}
    for own in (True, False):
        init_seed(config["seed"], True)  # the same split, then the same draws
        train, _, _ = data_preparation(config, create_dataset(config))
        iterate = train.__iter__ if own else lambda t=train: TrainDataLoader.__iter__(t)  # RecBole's: torch's sampler
        epochs[own] = [[(b["user_id"], b["item_id"], b["neg_item_id"], b["sampled_pos_item_id"]) for b in iterate()]
                       for _ in range(2)]
        states[own] = train.generator.get_state()
    assert len(epochs[True][0]) == len(epochs[False][0]) > 1
    for mine, stock in zip(epochs[True], epochs[False]):
        for a, b in zip(mine, stock):
            assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert torch.equal(states[True], states[False])
    short = epochs[True][0][-1][0].shape[0] < epochs[True][0][0][0].shape[0]
    assert short is not whole_batches
    assert shuffle is not torch.equal(epochs[True][0][0][0], epochs[True][1][0][0])  # a new order each epoch
    assert train._epoch_order() is not None
    config["worker"] = 1
    worker_train, _, _ = data_preparation(config, create_dataset(config))
    assert worker_train._epoch_order() is None
