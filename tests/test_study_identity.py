"""A study is an identity: what it trains (model, loss, dataset), its fixed settings, its protocol
and its space are stored with it and a rerun that differs is refused; its name is a plain name;
its output folder and checkpoints are its own; its storage holds nothing but Optuna's tables."""

import sqlite3

import optuna
import pytest

from recbole_losses.tuning import SpaceError, TuneSettings, run_study
from recbole_losses.tuning.command import main

TINY = ["--epochs=1", "--eval_step=1", "--train_batch_size=8192"]
SPACE = "learning_rate choice [0.01,0.005]\n"


def quiet(*_):
    pass


def settings(workdir, space=SPACE, **kw) -> TuneSettings:
    params = workdir / "space.hyper"
    if not params.exists():
        params.write_text(space)
    kw.setdefault("overrides", TINY)
    kw.setdefault("output_dir", str(workdir / "out"))
    kw.setdefault("study_name", "s")
    return TuneSettings(**{"model": "MF", "loss": "BPR", "dataset": "ml-100k", "n_trials": 1,
                           "params_file": str(params), "plots": False, "sampler": "random", **kw})


@pytest.mark.parametrize("name", ["../../somewhere", "a/b", "/tmp/abs", "a\\b", ".."])
def test_a_study_name_with_path_parts_is_refused(workdir, capsys, name):
    (workdir / "space.hyper").write_text(SPACE)
    code = main(["--loss=BPR", "--n_trials=1", "--params_file=space.hyper", f"--study_name={name}", *TINY])
    assert code == 2
    assert f"error: study name {name!r} must be a plain name" in capsys.readouterr().err
    assert not (workdir.parent / "somewhere").exists() and not (workdir / "tuning").exists()


@pytest.fixture
def first_study(workdir):
    return run_study(settings(workdir), log=quiet)


@pytest.mark.parametrize("change,message", [
    ({"loss": "SL"}, "loss 'BPR' -> 'SL'"),
    ({"model": "LightGCN"}, "model 'MF' -> 'LightGCN'"),
    ({"overrides": [*TINY, "--neg_num=16"]}, "fixed setting neg_num: '(unset)' -> 16"),
    ({"overrides": ["--epochs=2", "--eval_step=1", "--train_batch_size=8192"]}, "fixed setting epochs: 1 -> 2"),
    ({"overrides": ["--epochs=1", "--eval_step=1", "--train_batch_size=4096"]},
     "fixed setting train_batch_size: 8192 -> 4096"),
])
def test_a_rerun_with_other_settings_is_refused_naming_the_difference(workdir, first_study, change, message):
    with pytest.raises(ValueError) as err:
        run_study(settings(workdir, **change), log=quiet)
    assert message in str(err.value) and "was made with other settings than this run" in str(err.value)
    assert len(first_study.study.get_trials()) == 1  # no trial was added


def test_a_rerun_on_another_dataset_or_space_is_refused(workdir, toy, first_study):
    with pytest.raises(ValueError, match=r"dataset 'ml-100k' -> 'toy'"):
        run_study(settings(workdir, dataset="toy", overrides=[*TINY, f"--data_path={toy}"]), log=quiet)
    (workdir / "other.hyper").write_text("learning_rate choice [0.01,0.001]\n")
    with pytest.raises(ValueError, match=r"searched learning_rate: 'choice \[0.01,0.005\]' -> 'choice \[0.01,0.001\]'"):
        run_study(settings(workdir, params_file=str(workdir / "other.hyper")), log=quiet)
    # the same settings again: accepted (nothing missing, nothing run)
    again = run_study(settings(workdir), log=quiet)
    assert len(again.study.get_trials()) == 1


def test_a_searched_key_also_set_in_a_config_file_is_refused(workdir):
    fixed = workdir / "fixed.yaml"
    fixed.write_text("learning_rate: 0.1\n")
    with pytest.raises(SpaceError, match=f"learning_rate is searched and also fixed by config file {fixed}"):
        run_study(settings(workdir, config_files=[str(fixed)]), log=quiet)


def test_another_study_in_the_same_output_folder_is_refused_unless_overwrite(workdir, first_study):
    out = workdir / "out"
    best = (out / "best.yaml").read_text()
    with pytest.raises(ValueError, match=r"output folder .*out holds the outputs of study 's'"):
        run_study(settings(workdir, study_name="t"), log=quiet)
    assert (out / "best.yaml").read_text() == best
    second = run_study(settings(workdir, study_name="t", overwrite=True), log=quiet)
    assert second.study.study_name == "t" and "study t" in (out / "best.yaml").read_text()
    # the two studies' checkpoints are apart
    (first_dir,) = {t.user_attrs["checkpoint_dir"] for t in first_study.study.get_trials()}
    (second_dir,) = {t.user_attrs["checkpoint_dir"] for t in second.study.get_trials()}
    assert first_dir != second_dir


@pytest.mark.parametrize("name", ["best.yaml", "trials.csv", "summary.json"])
def test_the_users_own_files_of_our_names_are_not_replaced(workdir, name):
    out = workdir / "out"
    out.mkdir()
    (out / name).write_text("mine\n")
    with pytest.raises(ValueError, match=f"output folder .*out holds {name}, which no study of this tuner wrote"):
        run_study(settings(workdir), log=quiet)
    assert (out / name).read_text() == "mine\n"
    assert not (out / "study.db").exists()


def test_a_database_holding_other_tables_is_refused_before_optuna_writes(workdir):
    db = workdir / "app.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    with pytest.raises(ValueError, match=r"holds tables that are not Optuna's \(customers\)"):
        run_study(settings(workdir, storage=f"sqlite:///{db}"), log=quiet)
    with sqlite3.connect(db) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"customers"}


def test_a_file_that_is_not_a_database_is_refused(workdir):
    not_db = workdir / "notes.txt"
    not_db.write_text("my notes\n" * 100)
    with pytest.raises(ValueError, match="cannot be read as a database"):
        run_study(settings(workdir, storage=f"sqlite:///{not_db}"), log=quiet)
    assert not_db.read_text() == "my notes\n" * 100


def test_the_identity_is_stored_with_the_study(first_study):
    identity = first_study.study.user_attrs["identity"]
    assert identity["model"] == "MF" and identity["loss"] == "BPR" and identity["dataset"] == "ml-100k"
    assert identity["fixed"] == {"epochs": 1, "eval_step": 1, "train_batch_size": 8192}
    assert identity["protocol"]["valid_metric"] == "NDCG@20" and identity["protocol"]["epochs"] == 1
    assert identity["space"] == {"learning_rate": "choice [0.01,0.005]"}
    assert isinstance(first_study.study, optuna.Study)
