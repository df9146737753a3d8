"""Preparation of a split released with its validation set (train_data / valid_data / test.txt):
the Talos paper's Beauty and any split of that layout."""

import gzip
import json
import os

import numpy as np
import pytest

from recbole_losses import run
from recbole_losses.prepare import main as prepare_main
from recbole_losses.prepare import prepare

SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
BEAUTY = os.path.join(SHARED, "datasets", "talos-amazon-beauty")


def read_inter(path):
    return np.loadtxt(path, dtype=np.int64, skiprows=1, ndmin=2)


def rows(a):
    return sorted(map(tuple, np.asarray(a).reshape(-1, 2).tolist()))


def write_released(folder, train, valid, test, gz=False, whole=None):
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in (("train_data.txt", train), ("valid_data.txt", valid), ("test.txt", test),
                        *((("train.txt", whole),) if whole is not None else ())):
        text = "".join(f"{u} {i}\n" for u, i in table).encode()
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(text))
        else:
            (folder / name).write_bytes(text)
    return folder


TRAIN = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 3), (2, 0), (2, 2), (2, 4)]
VALID = [(0, 3), (1, 0), (2, 1)]
TEST = [(0, 4), (1, 2), (2, 3)]


@pytest.mark.parametrize("gz", [False, True])
def test_the_released_validation_set_is_kept_as_it_is(tmp_path, gz):
    src = write_released(tmp_path / "src", TRAIN, VALID, TEST, gz=gz, whole=TRAIN + VALID)
    manifest = prepare("mysplit", src, data_path=str(tmp_path / "out"), seed=1)
    folder = tmp_path / "out" / "mysplit"
    assert rows(read_inter(folder / "mysplit.train.inter")) == sorted(TRAIN)
    assert rows(read_inter(folder / "mysplit.valid.inter")) == sorted(VALID)
    assert rows(read_inter(folder / "mysplit.test.inter")) == sorted(TEST)
    assert manifest["settings"]["valid"] == "released" and "seed" not in manifest["settings"]
    assert (manifest["users"], manifest["items"], manifest["train"], manifest["valid"]) == (3, 5, 11, 3)
    # The seed does not change a released split: preparing again with another seed is the same split.
    prepare("mysplit", src, data_path=str(tmp_path / "out"), seed=2)


def test_a_train_file_that_is_not_train_data_plus_valid_data_is_refused(tmp_path):
    src = write_released(tmp_path / "src", TRAIN, VALID, TEST, whole=TRAIN)
    with pytest.raises(ValueError, match="is not train_data.txt \\+ valid_data.txt"):
        prepare("mysplit", src, data_path=str(tmp_path / "out"))
    assert not (tmp_path / "out" / "mysplit").exists()


def test_a_validation_pair_also_in_train_data_is_refused(tmp_path):
    src = write_released(tmp_path / "src", TRAIN, VALID + [(0, 0)], TEST)
    with pytest.raises(ValueError, match="rows of valid_data.txt in .* are repeated there or also in train_data.txt"):
        prepare("mysplit", src, data_path=str(tmp_path / "out"))


def test_a_test_pair_in_training_is_refused(tmp_path):
    src = write_released(tmp_path / "src", TRAIN, VALID, TEST + [(1, 3)])
    with pytest.raises(ValueError, match="occur in both train.tsv and test.tsv"):
        prepare("mysplit", src, data_path=str(tmp_path / "out"))


def test_a_benchmark_given_the_other_layout_names_its_source(tmp_path):
    src = write_released(tmp_path / "src", TRAIN, VALID, TEST)
    with pytest.raises(ValueError, match="health is prepared from proc.zip .*IR-Benchmark-Dataset"):
        prepare("health", src, data_path=str(tmp_path / "out"))


def test_the_wrong_counts_for_talos_beauty_are_refused(tmp_path):
    src = write_released(tmp_path / "src", TRAIN, VALID, TEST)
    with pytest.raises(ValueError, match="does not hold the talos-beauty split"):
        prepare("talos-beauty", src, data_path=str(tmp_path / "out"))


def test_a_folder_of_neither_layout_names_both(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train_data.txt").write_text("0 0\n")
    with pytest.raises(FileNotFoundError, match="train_data.txt, valid_data.txt, test.txt"):
        prepare("mysplit", tmp_path / "src", data_path=str(tmp_path / "out"))


def test_prepare_command_line_says_the_validation_set_is_released(tmp_path, capsys):
    src = write_released(tmp_path / "src", TRAIN, VALID, TEST)
    assert prepare_main(["--dataset=mysplit", f"--source={src}", f"--data_path={tmp_path / 'out'}"]) == 0
    assert "(the released validation set)" in capsys.readouterr().out


@pytest.mark.skipif(not os.path.isdir(BEAUTY), reason="the Talos Beauty split is not available")
def test_talos_beauty_matches_the_release_and_trains(tmp_path):
    manifest = prepare("Talos-Beauty", BEAUTY, data_path=str(tmp_path))
    # The release's summary: 15,603 users, item ids 0..8,692, 106,082 train (87,688 + 18,394
    # validation) and 33,472 test interactions.
    assert (manifest["users"], manifest["items"], manifest["train"], manifest["test"]) == (15603, 8693, 106082, 33472)
    assert (manifest["train_after_valid"], manifest["valid"]) == (87688, 18394)
    with gzip.open(os.path.join(BEAUTY, "valid_data.txt.gz"), "rt") as f:
        released_valid = [tuple(map(int, line.split())) for line in f if line.strip()]
    assert rows(read_inter(tmp_path / "talos-beauty" / "talos-beauty.valid.inter")) == sorted(released_valid)
    assert json.loads((tmp_path / "talos-beauty" / "talos-beauty.prepared.json").read_text())["dataset"] == "talos-beauty"
    result = run("MF", "Talos", "talos-beauty", config_dict={
        "data_path": str(tmp_path), "epochs": 1, "neg_num": 8, "train_batch_size": 4096,
        "checkpoint_dir": str(tmp_path / "saved"), "show_progress": False})
    assert set(result["test_result"]) == {"precision@20", "recall@20", "ndcg@20"}
    assert result["best_valid_result"] is not None
