"""Settings checked before any data loads: config files, misspelled keys, value types and ranges,
valid_metric, checkpoint_dir; and the data-dependent checks before training (topk vs items), and a
run without a validation result. Each case asserts the message (key or file, and what is valid)."""

import warnings
from pathlib import Path

import pytest
import yaml

from recbole_losses import Config
from recbole_losses.cli import main
from recbole_losses.config import properties_dir
from recbole_losses.config_checks import check_key_names, known_keys, recbole_keys, settings_keys

HEADER = "user_id:token\titem_id:token\n"
TOY = HEADER + "".join(f"u{u}\ti{(3 * u + k) % 12}\n" for u in range(10) for k in range(6))
FAST = ["--neg_num=4", "--epochs=1", "--show_progress=False", "--state=ERROR", "--topk=[5]", "--valid_metric=NDCG@5"]


@pytest.fixture
def toy(workdir):
    (workdir / "dataset" / "toy").mkdir(parents=True)
    (workdir / "dataset" / "toy" / "toy.inter").write_text(TOY)
    return workdir


def config(*cmd, files=None, **settings):
    return Config("MF", "ml-100k", files, {"loss": "SL", **settings}, cmd_args=list(cmd))


# ---------------------------------------------------------------------------------------------
# Keys and values (item 9)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cmd,settings,message",
    [
        (["--learnin_rate=5"], {}, r"unknown config key 'learnin_rate' \(the command line\); did you mean 'learning_rate'\?"),
        (["--epoch=1"], {}, r"unknown config key 'epoch' \(the command line\); did you mean 'epochs'\?"),
        ([], {"train_bach_size": 8}, r"unknown config key 'train_bach_size' \(config_dict\); did you mean 'train_batch_size'\?"),
        (["--learning_rate=fast"], {}, r"learning_rate must be a number > 0, got 'fast' \(str\)"),
        ([], {"epochs": 1.5}, r"epochs must be an integer >= 0, got 1.5 \(float\)"),
        (["--seed=abc"], {}, r"seed must be an integer, got 'abc' \(str\)"),
        (["--learning_rate=-0.1"], {}, r"learning_rate must be a number > 0, got -0.1"),
        (["--train_batch_size=0"], {}, r"train_batch_size must be an integer >= 1, got 0"),
        (["--topk=0"], {}, r"topk must be an integer >= 1 or a non-empty list of them, got 0"),
        (["--reproducibility=yes"], {}, r"reproducibility must be True or False, got 'yes'"),
        (["--learner=adamm"], {}, r"learner must be one of 'adam', 'adamw', 'sgd', 'adagrad', 'rmsprop', 'sparse_adam'"),
        (["--rm_dup_inter=all"], {}, r"rm_dup_inter must be one of \['first', 'last'\] or None, got 'all'"),
        (["--reg_weight=strong"], {}, r"reg_weight must be a number >= 0 or None, got 'strong'"),
        (["--metrics=['NDGC']"], {}, r"metrics: unknown metric 'NDGC' \(did you mean 'ndcg'\?\); valid metrics: AUC, .*NDCG"),
        (["--valid_metric=MRR@10"], {}, r"valid_metric 'MRR@10' is not computed by metrics \['Recall', 'NDCG'\] with topk "
                                        r"\[10, 20\]; valid choices: recall@10, recall@20, ndcg@10, ndcg@20"),
        (["--valid_metric=NDCG@5"], {}, r"valid_metric 'NDCG@5' is not computed .* valid choices: recall@10"),
    ],
)
def test_bad_keys_and_values_fail_before_data_loads(workdir, cmd, settings, message):
    with pytest.raises(ValueError, match=message):
        config(*cmd, **settings)


def test_values_of_the_right_type_pass(workdir):
    c = config("--learning_rate=1", "--stopping_step=None", "--topk=5", "--valid_metric=ndcg@5", "--metrics=NDCG",
               "--gpu_id=0", "--learner=Adam", "--rm_dup_inter=None")
    assert c["learning_rate"] == 1 and c["topk"] == [5] and c["rm_dup_inter"] is None
    assert config(metrics=["Recall", "ItemCoverage"], valid_metric="itemcoverage@20")["valid_metric"] == "itemcoverage@20"


def test_recbole_users_keys_are_known(workdir):
    """Dataset field settings, model keys of other RecBole models, distributed keys: no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config("--RATING_FIELD=rating", "--alias_of_item_id=['x']", "--val_interval={'rating': '[3,inf)'}",
               "--user_inter_num_interval=[5,inf)", "--n_layers=3", "--nproc=1", "--backend=gloo", "--rm_dup_inter=last")


def test_a_key_close_to_nothing_is_a_warning_naming_it(workdir):
    with pytest.warns(UserWarning, match=r"config key\(s\) 'my_own_setting' \(the command line\) are not settings of "
                                         r"RecBole, recbole-losses or any loss"):
        config("--my_own_setting=3")


def test_misspelled_key_in_a_file_names_the_file(workdir):
    (workdir / "a.yaml").write_text("epochs: 2\nlearnig_rate: 0.01\n")
    with pytest.raises(ValueError, match=r"unknown config key 'learnig_rate' \(config file .*a\.yaml\); did you mean 'learning_rate'"):
        config(files=[str(workdir / "a.yaml")])


def test_known_keys_come_from_recbole_and_from_us():
    assert {"learning_rate", "epochs", "RATING_FIELD", "alias_of_item_id", "n_layers", "rm_dup_inter"} <= recbole_keys()
    assert {"neg_num", "pos_num", "loss", "score", "preset", "backend", "eps", "layer_cl"} <= settings_keys()
    assert "cw_tau" in known_keys() and "cw_tau" not in settings_keys()  # a loss's key, from the registry
    assert not {"epoch", "learnin_rate"} & known_keys()


PROPERTIES = sorted(properties_dir().rglob("*.yaml"))


@pytest.mark.parametrize("path", PROPERTIES, ids=lambda p: p.relative_to(properties_dir()).as_posix())
def test_every_shipped_yaml_passes_the_key_check(path):
    """Loss, dataset and preset YAMLs hold only known keys, loss keys included (the known set is
    built from RecBole, our overall and model YAMLs, the loss classes and the source, never from
    these files); overall.yaml and model/*.yaml define ours."""
    keys = list(yaml.safe_load(path.read_text(encoding="utf-8")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_key_names({str(path): keys})
    assert [k for k in keys if k not in known_keys()] == []


# ---------------------------------------------------------------------------------------------
# Config files (item 9)
# ---------------------------------------------------------------------------------------------

FILES = [
    ("empty.yaml", "# only a comment\n", r"config file .*empty\.yaml is empty \(or only comments\); it must hold key: value lines"),
    ("list.yaml", "- epochs\n- 3\n", r"config file .*list\.yaml holds a list \(\['epochs', 3\]\), not key: value lines"),
    ("broken.yaml", "epochs: [1, 2\nseed: 3\n", r"config file .*broken\.yaml is not valid YAML at line 2, column 5"),
    ("scalar.yaml", "just text\n", r"config file .*scalar\.yaml holds a str"),
]


@pytest.mark.parametrize("name,text,message", FILES, ids=[f[0] for f in FILES])
def test_bad_config_files_are_named(workdir, name, text, message):
    (workdir / name).write_text(text)
    with pytest.raises(ValueError, match=message):
        config(files=[str(workdir / name)])


def test_config_path_that_is_a_folder_or_missing(workdir):
    (workdir / "conf").mkdir()
    with pytest.raises(ValueError, match=r"config file .*conf is a folder; give a YAML file"):
        config(files=[str(workdir / "conf")])
    with pytest.raises(FileNotFoundError, match=r"config file .*nope\.yaml does not exist"):
        config(files=[str(workdir / "nope.yaml")])


def test_cli_reports_file_and_key_errors_without_a_traceback(workdir, capsys):
    (workdir / "conf").mkdir()
    assert main(["--model=MF", "--loss=SL", "--config_files=conf"]) == 2
    assert "error: config file conf is a folder" in capsys.readouterr().err
    assert main(["--model=MF", "--loss=SL", "--epoch=1"]) == 2
    assert "error: unknown config key 'epoch' (the command line); did you mean 'epochs'?" in capsys.readouterr().err
    assert main(["--model=MF", "--loss=SL", "--seed=abc"]) == 2
    assert "error: seed must be an integer, got 'abc' (str)" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Failures that used to come after training time was spent (item 8)
# ---------------------------------------------------------------------------------------------


def test_checkpoint_dir_under_a_file_fails_at_start_naming_the_path(workdir):
    (workdir / "afile").write_text("x")
    with pytest.raises(ValueError, match=r"checkpoint_dir '.*afile/sub' cannot be created: .*afile is a file, not a folder"):
        config(checkpoint_dir=str(workdir / "afile" / "sub"))
    with pytest.raises(ValueError, match=r"checkpoint_dir '.*afile' cannot be created"):
        config(checkpoint_dir=str(workdir / "afile"))


@pytest.mark.skipif(__import__("os").geteuid() == 0, reason="root can write anywhere")
def test_read_only_checkpoint_dir_fails_at_start(workdir):
    ro = workdir / "ro"
    ro.mkdir(mode=0o555)
    with pytest.raises(ValueError, match=r"checkpoint_dir '.*ro/saved' is not writable: no write permission on .*ro"):
        config(checkpoint_dir=str(ro / "saved"))


def test_topk_beyond_the_item_count_fails_before_training(toy, capsys):
    assert main(["--model=MF", "--loss=SL", "--dataset=toy", *FAST, "--topk=[5,20]", "--valid_metric=NDCG@5"]) == 2
    err = capsys.readouterr().err
    assert "error: topk [5, 20] asks for top-20 lists but dataset 'toy' has only 12 items; use topk values <= 12" in err
    assert not Path("saved").exists() or not any(Path("saved").iterdir())  # no training happened


@pytest.mark.parametrize(
    "extra",
    [["--eval_step=0"], ["--epochs=0"],
     ["--eval_args={'split': {'RS': [0.9, 0.0, 0.1]}, 'order': 'RO', 'group_by': 'user', 'mode': 'full'}"]],
    ids=["eval_step=0", "epochs=0", "empty-validation-split"],
)
def test_run_without_a_validation_result_ends_cleanly_with_test_metrics(toy, capsys, extra):
    assert main(["--model=MF", "--loss=SL", "--dataset=toy", *FAST, *extra]) == 0
    out = capsys.readouterr().out
    assert "best valid (MF, loss=SL, toy): none (no validation ran)" in out
    assert "test       (MF, loss=SL, toy): {'recall@5': " in out


def test_a_single_config_path_is_accepted_as_well_as_a_list(workdir):
    (workdir / "a.yaml").write_text("epochs: 2\n")
    assert Config("MF", "ml-100k", str(workdir / "a.yaml"), {"loss": "SL"})["epochs"] == 2
