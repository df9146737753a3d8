"""Nothing a file or a command line holds is evaluated: a code-bearing string goes through every
route a setting takes (command line, config_dict, config files, best.yaml, presets, checkpoints,
params files), for RecBole's keys and unknown ones alike, and the file it would create never
appears; YAML's Python tags are refused. Literal values still read as RecBole reads them."""

import contextlib
import warnings

import pytest
import yaml
from recbole.config import Config as RecBoleConfig

from recbole_losses import Config
from recbole_losses.checkpoint import save_checkpoint
from recbole_losses.cli import main
from recbole_losses.config import ConfigLoader, typed_value
from recbole_losses.quick_start import StoredConfig, load_data_and_model
from recbole_losses.tuning.space import check_ranges, parse_params

KEYS = ("wandb_project", "dataset_save_path", "my_own_key")  # RecBole's (unchecked by us) and an unknown one


@pytest.fixture
def code(workdir):
    """A string that creates ``MARKER`` if anything evaluates it, and the marker's path."""
    marker = workdir / "MARKER"
    yield f"__import__('os').system('touch {marker}')", marker
    assert not marker.exists(), "a setting's text was evaluated"


@contextlib.contextmanager
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unknown key's warning
        yield


BENIGN = ["[1, 2]", "[64,64,64]", "{'rating': '[3,inf)'}", "1e-3", "1e400", "-0.5", "3", "0x10", "1_000", "True",
          "true", "FALSE", "None", "none", "nan", "inf", "'quoted'", "(1, 2)", "{1, 2}", "1j", "a/b", "./saved",
          "[5,inf)", "NDCG@10", "ml-100k", "", " 5", "[]", "{}", "Recall,NDCG", "os.path", "print"]


@pytest.mark.parametrize("text", BENIGN)
def test_literals_read_as_recbole_reads_them(text):
    expected = RecBoleConfig._convert_config_dict(None, {"k": text})["k"]
    got = typed_value(text)
    assert got == expected and type(got) is type(expected), (text, got, expected)


def test_yaml_reads_as_recbole_reads_it():
    text = ("lr: 1e-3\nbig: 1E5\nf: 0.5\ni: 3\nb: true\nn: ~\ns: relu\nl: [1, 2.5, x]\nd: {a: 1}\n"
            "inf: .inf\nneg: -2e-4\ndate_like: 2024-01-01\n")
    recbole = yaml.load(text, Loader=RecBoleConfig._build_yaml_loader(None))
    ours = yaml.load(text, Loader=ConfigLoader)
    assert ours == recbole and {k: type(v) for k, v in ours.items()} == {k: type(v) for k, v in recbole.items()}
    assert ours["lr"] == 0.001 and isinstance(ours["big"], float)


def test_the_command_line_evaluates_nothing(code):
    text, _ = code
    with quiet():
        config = Config("MF", "ml-100k", None, {"loss": "PSL"}, cmd_args=[f"--{key}={text}" for key in KEYS])
        assert main(["--model=MF", "--loss=PSL", f"--wandb_project={text}", f"--my_own_key={text}", "--epochs=-1"]) == 2
    assert all(config[key] == text for key in KEYS)


def test_config_dict_evaluates_nothing(code):
    text, _ = code
    with quiet():
        config = Config("MF", "ml-100k", None, {"loss": "PSL", **{key: text for key in KEYS}})
    assert all(config[key] == text for key in KEYS)


@pytest.mark.parametrize("name", ["run.yaml", "best.yaml"])
def test_config_files_and_best_yaml_evaluate_nothing(code, workdir, name):
    text, _ = code
    path = workdir / name
    path.write_text("# Best trial\nmodel: MF\nloss: PSL\ndataset: ml-100k\nlearning_rate: 1e-3\n"
                    + "".join(f"{key}: {yaml.safe_dump(text, default_style=None).splitlines()[0]}\n" for key in KEYS))
    with quiet():
        config = Config(None, "ml-100k", [str(path)], None)
        assert main([f"--config_files={path}", "--epochs=-1"]) == 2
    assert all(config[key] == text for key in KEYS) and config["learning_rate"] == 0.001


@pytest.mark.parametrize("tag", ["!!python/name:os.system", "!!python/object/apply:os.system ['touch MARKER']"])
def test_python_tags_in_a_config_file_are_refused(code, workdir, tag):
    path = workdir / "run.yaml"
    path.write_text(f"wandb_project: {tag}\n")
    with pytest.raises(ValueError, match=r"config file .*run\.yaml is not valid YAML at line 1.*could not determine a "
                                         r"constructor for the tag"):
        Config("MF", "ml-100k", [str(path)], {"loss": "PSL"})


def test_presets_evaluate_nothing(code, workdir, monkeypatch):
    text, _ = code
    (workdir / "preset.yaml").write_text("".join(f"{key}: \"{text}\"\n" for key in KEYS[:2]))
    monkeypatch.setattr("recbole_losses.config.preset_file", lambda *names: workdir / "preset.yaml")
    config = Config("MF", "ml-100k", None, {"loss": "PSL", "preset": "paper"})
    assert config["wandb_project"] == text
    (workdir / "preset.yaml").write_text("wandb_project: !!python/name:os.system\n")
    with pytest.raises(Exception, match="could not determine a constructor"):
        Config("MF", "ml-100k", None, {"loss": "PSL", "preset": "paper"})


def test_checkpoints_evaluate_nothing(code, workdir):
    """The stored settings are data; overrides given with them are read as config_dict is."""
    text, _ = code
    stored = {"loss": "PSL", **{key: text for key in KEYS}}
    with quiet():
        config = StoredConfig("MF", "ml-100k", stored, {"dataset_save_path": text, "my_other_key": text})
    assert config["wandb_project"] == text and config["my_other_key"] == text
    path = workdir / "run.pth"
    save_checkpoint({"config": {"model": "MF", "loss": "PSL", "dataset": "ml-100k", "external": stored}}, path)
    with quiet(), pytest.raises(ValueError, match="epochs must be an integer >= 0"):
        load_data_and_model(path, {"wandb_project": text, "epochs": "-1"})


def test_params_files_evaluate_nothing(code):
    """The tuner's choices are data, and reach the run's Config as data."""
    text, _ = code
    params = parse_params(f"wandb_project choice [\"{text}\", b]\ndataset_save_path choice [{text!r}]\n")
    base = Config("MF", "ml-100k", None, {"loss": "PSL"})
    check_ranges(params, base)
    for param in params.values():
        for value in param.candidates():
            assert Config("MF", "ml-100k", None, {"loss": "PSL", param.name: value})[param.name] == value
