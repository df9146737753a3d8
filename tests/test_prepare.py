"""Benchmark preparation: published split -> RecBole train/valid/test files, and the errors before it."""

import json
import os

import numpy as np
import pytest

from recbole_losses import run
from recbole_losses.cli import main as cli_main
from recbole_losses.config import Config
from recbole_losses.data.datasets import check_dataset
from recbole_losses.prepare import main as prepare_main
from recbole_losses.prepare import prepare, read_split, validation_mask

SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
HEALTH_ZIP = os.path.join(SHARED, "datasets", "amazon2014-health", "proc.zip")
needs_health = pytest.mark.skipif(not os.path.isfile(HEALTH_ZIP), reason="Health proc.zip not available")


def read_inter(path):
    with open(path, encoding="utf-8") as f:
        assert f.readline() == "user_id:token\titem_id:token\n"
    return np.loadtxt(path, dtype=np.int64, skiprows=1, ndmin=2)


def write_split(folder, train, test, n_users, n_items):
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows, header in (("train.tsv", train, "user_procid\titem_procid"),
                               ("test.tsv", test, "user_procid\titem_procid"),
                               ("user_list.tsv", [(f"U{u}", u) for u in range(n_users)], "user_orgid\tuser_procid"),
                               ("item_list.tsv", [(f"I{i}", i) for i in range(n_items)], "item_orgid\titem_procid")):
        lines = [header] + [f"{a}\t{b}" for a, b in rows]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def pairs(a):
    return {tuple(r) for r in a.tolist()}


@pytest.fixture(scope="module")
def health(tmp_path_factory):
    if not os.path.isfile(HEALTH_ZIP):
        pytest.skip("Health proc.zip not available")
    root = tmp_path_factory.mktemp("data")
    manifest = prepare("health", HEALTH_ZIP, data_path=str(root), seed=2024)
    return root, manifest


@needs_health
def test_health_counts_match_the_release(health):
    root, manifest = health
    folder = root / "health"
    train, valid, test = (read_inter(folder / f"health.{s}.inter") for s in ("train", "valid", "test"))
    released = read_split(HEALTH_ZIP)
    # Dataset README: 1,974 users, 1,200 items, 48,189 interactions = 37,784 train + 10,405 test.
    assert (manifest["users"], manifest["items"], manifest["interactions"]) == (1974, 1200, 48189)
    assert len(train) + len(valid) == 37784 and len(test) == 10405
    assert pairs(train) | pairs(valid) == pairs(released["train.tsv"])
    assert not pairs(train) & pairs(valid) and not (pairs(train) | pairs(valid)) & pairs(test)
    assert pairs(test) == pairs(released["test.tsv"])
    n = np.bincount(released["train.tsv"][:, 0], minlength=1974)
    expected_valid = np.minimum(np.maximum(n // 10, 1), n - 1)
    assert np.array_equal(np.bincount(valid[:, 0], minlength=1974), expected_valid)
    assert len(valid) == expected_valid.sum() == manifest["valid"]
    assert set(np.unique(np.concatenate([train[:, 0], valid[:, 0], test[:, 0]]))) == set(range(1974))


@needs_health
def test_validation_draw_is_seeded(health, tmp_path):
    root, _ = health
    first = read_inter(root / "health" / "health.valid.inter")
    prepare("health", HEALTH_ZIP, data_path=str(tmp_path / "a"), seed=2024)
    prepare("health", HEALTH_ZIP, data_path=str(tmp_path / "b"), seed=7)
    assert pairs(read_inter(tmp_path / "a" / "health" / "health.valid.inter")) == pairs(first)
    assert pairs(read_inter(tmp_path / "b" / "health" / "health.valid.inter")) != pairs(first)


@needs_health
def test_recbole_loads_the_prepared_health_and_trains(health, workdir):
    root, _ = health
    config = Config("MF", "health", config_dict={"loss": "PSL", "data_path": str(root)})
    assert config["benchmark_filename"] == ["train", "valid", "test"]
    assert (config["epochs"], config["eval_step"], config["valid_metric"]) == (200, 5, "NDCG@20")
    from recbole.data import create_dataset

    dataset = create_dataset(config)
    assert (dataset.user_num, dataset.item_num, len(dataset.inter_feat)) == (1975, 1201, 48189)  # + padding id 0
    result = run("MF", "PSL", "health", config_dict={
        "data_path": str(root), "epochs": 1, "eval_step": 1, "neg_num": 16, "show_progress": False,
        "state": "WARNING", "learning_rate": 0.01})
    assert 0.0 < result["test_result"]["ndcg@20"] < 1.0


def test_validation_mask_rule():
    users = np.repeat(np.arange(4), [1, 2, 10, 25])
    mask = validation_mask(users, seed=0)
    # max(floor(0.1 n), 1), but never every item of a user: n=1 -> 0, n=2 -> 1, n=10 -> 1, n=25 -> 2
    assert np.bincount(users[mask], minlength=4).tolist() == [0, 1, 1, 2]
    assert not np.array_equal(mask, validation_mask(users, seed=1))


def test_tiny_split_from_a_folder_and_the_cli(tmp_path, capsys):
    train = [(u, i) for u in range(3) for i in range(u, u + 12)]
    test = [(u, 20 + u) for u in range(3)]
    src = write_split(tmp_path / "src", train, test, n_users=3, n_items=24)
    assert prepare_main([f"--dataset=tiny", f"--source={src}", f"--data_path={tmp_path / 'out'}"]) == 0
    out = tmp_path / "out" / "tiny"
    assert len(read_inter(out / "tiny.valid.inter")) == 3 and len(read_inter(out / "tiny.train.inter")) == 33
    assert "valid 3" in capsys.readouterr().out


def test_errors_name_the_problem(tmp_path):
    src = write_split(tmp_path / "src", [(0, 0), (0, 1)], [(0, 1)], n_users=1, n_items=2)
    with pytest.raises(ValueError, match="both train.tsv and test.tsv"):
        prepare("tiny", src, data_path=str(tmp_path / "out"))
    ok = write_split(tmp_path / "ok", [(0, 0), (0, 1)], [(0, 2)], n_users=1, n_items=3)
    with pytest.raises(ValueError, match="does not hold the health split"):
        prepare("health", ok, data_path=str(tmp_path / "out"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        prepare("health", tmp_path / "nowhere.zip", data_path=str(tmp_path / "out"))
    # A URL that cannot be reached fails at once with a clear error (port 9: connection refused).
    with pytest.raises(ConnectionError, match="cannot download http://127.0.0.1:9/proc.zip"):
        prepare("health", "http://127.0.0.1:9/proc.zip", data_path=str(tmp_path / "out"), timeout=5)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["gowalla", "health", "electronic", "amazon-book", "talos-beauty"])
def test_unprepared_benchmark_says_what_to_run(name, tmp_path):
    config = Config("MF", name, config_dict={"loss": "CW", "data_path": str(tmp_path)})
    with pytest.raises(FileNotFoundError) as err:
        check_dataset(config)
    message = str(err.value)
    assert f"python -m recbole_losses.prepare --dataset={name} --source=/path/to/" in message
    assert f"--data_path={tmp_path}" in message
    if name == "amazon-book":
        assert "not shipped" in message and "local copy" in message


def test_headline_command_without_preparation_fails_with_the_command(workdir, capsys):
    code = cli_main(["--model=LightGCN", "--loss=CW", "--dataset=gowalla"])
    err = capsys.readouterr().err
    assert code == 2
    assert "python -m recbole_losses.prepare --dataset=gowalla --source=/path/to/gowalla/proc.zip" in err
    assert "--data_path" not in err  # the default data_path (dataset/) needs no option


def test_stopping_step_none_switches_early_stopping_off():
    assert Config("MF", "health", config_dict={"loss": "PSL"})["stopping_step"] == 10
    c = Config("MF", "health", config_dict={"loss": "PSL"}, cmd_args=["--stopping_step=None"])
    assert c["stopping_step"] > c["epochs"] // c["eval_step"]


# ---------------------------------------------------------------------------------------------
# Writing only inside --data_path, repeated pairs, and never replacing another split silently
# ---------------------------------------------------------------------------------------------

TINY_TRAIN = [(u, i) for u in range(3) for i in range(u, u + 12)]
TINY_TEST = [(u, 20 + u) for u in range(3)]


@pytest.mark.parametrize("name", ["../escaped", "a/b", "..", ".", "", "a\\b", "/abs"])
def test_dataset_name_never_writes_outside_data_path(tmp_path, capsys, name):
    src = write_split(tmp_path / "src", TINY_TRAIN, TINY_TEST, n_users=3, n_items=24)
    (tmp_path / "out").mkdir()
    assert prepare_main([f"--dataset={name}", f"--source={src}", f"--data_path={tmp_path / 'out'}"]) == 2
    assert "must be a plain folder name (no '/', '\\' or '..')" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"] and not any((tmp_path / "out").iterdir())


def test_repeated_pairs_are_kept_once_and_never_split_across_train_and_valid(tmp_path, capsys):
    """Each training pair twice: before, one copy could be drawn into valid and the other stay in train."""
    src = write_split(tmp_path / "src", TINY_TRAIN * 2, TINY_TEST * 2, n_users=3, n_items=24)
    assert prepare_main(["--dataset=tiny", f"--source={src}", f"--data_path={tmp_path / 'out'}"]) == 0
    assert "dropped repeated (user, item) rows: 36 in train.tsv, 3 in test.tsv" in capsys.readouterr().out
    out = tmp_path / "out" / "tiny"
    train, valid, test = (pairs(read_inter(out / f"tiny.{s}.inter")) for s in ("train", "valid", "test"))
    assert len(read_inter(out / "tiny.train.inter")) + len(read_inter(out / "tiny.valid.inter")) == 36
    assert not train & valid and train | valid == set(TINY_TRAIN) and test == set(TINY_TEST)
    manifest = json.loads((out / "tiny.prepared.json").read_text())
    assert manifest["repeated_pairs_dropped"] == {"train.tsv": 36, "test.tsv": 3} and manifest["train"] == 36


def test_another_seed_does_not_replace_a_split_without_overwrite(tmp_path, capsys):
    src = write_split(tmp_path / "src", TINY_TRAIN, TINY_TEST, n_users=3, n_items=24)
    args = ["--dataset=tiny", f"--source={src}", f"--data_path={tmp_path / 'out'}"]
    assert prepare_main(args) == 0
    valid = tmp_path / "out" / "tiny" / "tiny.valid.inter"
    first = valid.read_text()
    assert prepare_main(args) == 0  # same settings: rewritten identically
    assert valid.read_text() == first
    capsys.readouterr()
    assert prepare_main(args + ["--seed=7"]) == 2
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'out' / 'tiny'} already holds a split of 'tiny' made with other settings (seed 2024 there, 7 now)" in err
    assert "add --overwrite to replace it" in err
    assert valid.read_text() == first
    assert prepare_main(args + ["--seed=7", "--overwrite"]) == 0
    assert valid.read_text() != first
    assert json.loads((tmp_path / "out" / "tiny" / "tiny.prepared.json").read_text())["seed"] == 7


def test_other_source_or_foreign_files_are_not_replaced_without_overwrite(tmp_path):
    src = write_split(tmp_path / "src", TINY_TRAIN, TINY_TEST, n_users=3, n_items=24)
    other = write_split(tmp_path / "other", TINY_TRAIN[:-1], TINY_TEST, n_users=3, n_items=24)
    prepare("tiny", src, data_path=str(tmp_path / "out"))
    with pytest.raises(ValueError, match=r"made with other settings \(source_sha256 '[0-9a-f]+' there, '[0-9a-f]+' now\)"):
        prepare("tiny", other, data_path=str(tmp_path / "out"))
    foreign = tmp_path / "out2" / "tiny"
    foreign.mkdir(parents=True)
    (foreign / "tiny.train.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    with pytest.raises(ValueError, match=r"other settings \(no tiny.prepared.json with its settings beside them\)"):
        prepare("tiny", src, data_path=str(tmp_path / "out2"))
    prepare("tiny", src, data_path=str(tmp_path / "out2"), overwrite=True)
    assert len(read_inter(foreign / "tiny.train.inter")) == 33


def test_a_data_path_that_is_a_file_is_one_line(tmp_path, capsys):
    src = write_split(tmp_path / "src", [(0, 0), (0, 1)], [(0, 2)], n_users=1, n_items=3)
    (tmp_path / "afile").write_text("x")
    assert prepare_main(["--dataset=tiny", f"--source={src}", f"--data_path={tmp_path / 'afile'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --data_path '{tmp_path / 'afile'}' cannot be created: {tmp_path / 'afile'} is a file, not a folder"


def test_a_split_prepared_under_its_own_name_runs_by_that_name(tmp_path, workdir, capsys):
    train = [(u, i) for u in range(6) for i in range(u, u + 12)]
    test = [(u, 20 + u) for u in range(6)]
    src = write_split(tmp_path / "src", train, test, n_users=6, n_items=26)
    data = tmp_path / "data"
    assert prepare_main(["--dataset=mine", f"--source={src}", f"--data_path={data}"]) == 0
    out = capsys.readouterr().out
    assert f"train on it: recbole-losses --model=MF --loss=PSL --dataset=mine --data_path={data}" in out
    config = Config("MF", "mine", None, {"loss": "PSL", "data_path": str(data)})
    assert config["benchmark_filename"] == ["train", "valid", "test"]
    result = run("MF", "PSL", "mine", config_dict={"data_path": str(data), "epochs": 1, "neg_num": 4, "topk": [5],
                                                   "valid_metric": "NDCG@5", "show_progress": False, "state": "ERROR"})
    assert set(result["test_result"]) == {"recall@5", "ndcg@5"}
    # a folder of the user's own atomic files is not read as a prepared split
    (data / "own").mkdir()
    (data / "own" / "own.inter").write_text("user_id:token\titem_id:token\n1\t1\n")
    assert Config("MF", "own", None, {"loss": "PSL", "data_path": str(data)})["benchmark_filename"] is None
