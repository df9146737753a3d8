"""Duplicate (user, item) rows: RecBole's ``rm_dup_inter``, ``first`` by default, applied to single
files and to pre-split benchmark files, with the count logged; ``None`` keeps them with a warning."""

import logging

import torch

from recbole_losses.quick_start import build_run

HEADER = "user_id:token\titem_id:token\n"
BENCH = {"benchmark_filename": ["train", "valid", "test"]}


def rows(users=10, per_user=6, items=12, copies=1):
    return "".join(f"u{u}\ti{(3 * u + k) % items}\n" for u in range(users) for k in range(per_user) for _ in range(copies))


def write(root, name, files):
    folder = root / "dataset" / name
    folder.mkdir(parents=True, exist_ok=True)
    for filename, text in files.items():
        (folder / filename).write_text(text)


def settings(root, **extra):
    return {"epochs": 1, "neg_num": 4, "pos_num": 2, "train_batch_size": 16, "show_progress": False,
            "state": "WARNING", "topk": [5], "valid_metric": "NDCG@5", "checkpoint_dir": str(root / "saved"), **extra}


def split_pairs(loaders):
    out = []
    for loader in loaders:
        data = loader._dataset
        users = data.id2token("user_id", data.inter_feat["user_id"].numpy())
        items = data.id2token("item_id", data.inter_feat["item_id"].numpy())
        out.append(list(zip(users.tolist(), items.tolist())))
    return out


def test_duplicates_in_one_file_are_dropped_before_the_split(workdir, caplog):
    """Each of the 60 pairs three times: before, the same pair landed in training and in test."""
    write(workdir, "dups", {"dups.inter": HEADER + rows(copies=3)})
    with caplog.at_level(logging.WARNING):
        _, loaders, _, _ = build_run("MF", "SL", "dups", config_dict=settings(workdir))
    train, valid, test = split_pairs(loaders)
    assert len(train) + len(valid) + len(test) == 60
    assert len(set(train)) == len(train) and not set(train) & (set(valid) | set(test)) and not set(valid) & set(test)
    assert "rm_dup_inter=first: dropped 120 duplicate (user, item) rows of dups" in caplog.text


def test_rm_dup_inter_none_keeps_them_and_warns_with_the_count(workdir, caplog):
    write(workdir, "dups", {"dups.inter": HEADER + rows(copies=3)})
    with caplog.at_level(logging.WARNING):
        _, loaders, _, _ = build_run("MF", "SL", "dups", config_dict=settings(workdir, rm_dup_inter=None))
    assert sum(len(pairs) for pairs in split_pairs(loaders)) == 180
    assert "dups holds 120 duplicate (user, item) rows, kept because rm_dup_inter is None" in caplog.text


def test_duplicates_across_pre_split_files_keep_the_training_row(workdir, caplog):
    """RecBole loads benchmark files without any filtering: a pair in train and test stayed in both."""
    files = {"pre.train.inter": HEADER + rows() + "u0\ti0\n",  # u0-i0 is already a training pair: a repeat
             "pre.valid.inter": HEADER + "u1\ti3\nu1\ti11\n",  # u1-i3 is a training pair
             "pre.test.inter": HEADER + "u0\ti0\nu2\ti1\nu2\ti1\n"}  # u0-i0 again; u2-i1 twice
    write(workdir, "pre", files)
    with caplog.at_level(logging.WARNING):
        _, loaders, _, _ = build_run("MF", "SL", "pre", config_dict=settings(workdir, **BENCH))
    train, valid, test = split_pairs(loaders)
    assert (len(train), len(valid), len(test)) == (60, 1, 1)
    assert not set(train) & (set(valid) | set(test)) and set(test) == {("u2", "i1")}
    assert "dropped 4 duplicate (user, item) rows of pre (1 from train, 1 from valid, 2 from test)" in caplog.text
    _, loaders, _, _ = build_run("MF", "SL", "pre", config_dict=settings(workdir, **BENCH, rm_dup_inter="last"))
    train, valid, test = split_pairs(loaders)
    assert ("u0", "i0") in test and ("u0", "i0") not in train and ("u1", "i3") in valid


def test_a_dataset_without_duplicates_keeps_recbole_s_split(workdir):
    """RecBole sorts the rows by timestamp before removing duplicates; with none to remove the
    rows keep their order, so the seeded random split is the one of ``rm_dup_inter: None``."""
    text = "user_id:token\titem_id:token\ttimestamp:float\n" + "".join(
        f"u{u}\ti{(3 * u + k) % 12}\t{(7 * u + 5 * k) % 13}\n" for u in range(10) for k in range(6))
    write(workdir, "timed", {"timed.inter": text})
    first = split_pairs(build_run("MF", "SL", "timed", config_dict=settings(workdir))[1])
    kept = split_pairs(build_run("MF", "SL", "timed", config_dict=settings(workdir, rm_dup_inter=None))[1])
    assert first == kept


def test_training_sampler_sees_each_pair_once(workdir):
    write(workdir, "dups", {"dups.inter": HEADER + rows(copies=2)})
    _, (train, _, _), _, _ = build_run("MF", "SL", "dups", config_dict=settings(workdir))
    data = train._dataset
    keys = data.inter_feat["user_id"] * data.item_num + data.inter_feat["item_id"]
    assert torch.unique(keys).numel() == keys.numel()
