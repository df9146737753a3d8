"""Config layering and every error the runner promises before training, asserted by text."""

import pytest

from recbole_losses import Config
from recbole_losses.cli import main
from recbole_losses.models import COMPOSED


def test_internal_layers_plugin_overall_model_loss(workdir):
    c = Config("MF", "ml-100k", config_dict={"loss": "BPR"})
    assert c["learning_rate"] == 0.001  # RecBole's overall.yaml
    assert c["train_batch_size"] == 1024  # our overall.yaml over RecBole's 2048
    assert c["valid_metric"] == "NDCG@20" and c["topk"] == [10, 20]
    assert c["reg_weight"] == 0.0  # properties/model/MF.yaml
    assert c["neg_num"] == 1  # properties/loss/BPR.yaml over overall's 1000
    assert c["model"] == "MF" and c.model_class is COMPOSED["MF"]


def test_dataset_yaml_sits_above_the_loss_yaml(workdir):
    c = Config("LightGCN", "ml-100k", config_dict={"loss": "CW"})
    assert c["epochs"] == 30  # properties/dataset/ml-100k.yaml
    assert c["n_layers"] == 2 and c["reg_weight"] == 1e-05  # RecBole's LightGCN.yaml still applies
    assert c["cw_tau"] == 0.1 and c["neg_num"] == 1000


def test_external_precedence_files_dict_cmdline(workdir):
    (workdir / "a.yaml").write_text("cw_tau: 0.3\ncw_beta: 0.5\nneg_num: 10\nepochs: 3\n")
    (workdir / "b.yaml").write_text("cw_beta: 0.6\n")
    files = [str(workdir / "a.yaml"), str(workdir / "b.yaml")]
    c = Config("MF", "ml-100k", files, {"loss": "CW", "cw_tau": 0.4, "neg_num": 20}, cmd_args=["--cw_tau=0.5"])
    assert c["cw_tau"] == 0.5  # command line > dict > files
    assert c["neg_num"] == 20  # dict > file
    assert c["cw_beta"] == 0.6  # later file wins
    assert c["epochs"] == 3  # user file > our dataset yaml


def test_loss_from_yaml_and_any_case(workdir):
    (workdir / "cw.yaml").write_text("loss: cw\n")
    c = Config("LightGCN", "ml-100k", [str(workdir / "cw.yaml")])
    assert c["loss"] == "CW" and c.model_class is COMPOSED["LightGCN"]


def test_no_loss_is_the_stock_recbole_model(workdir):
    from recbole.model.general_recommender import BPR, LightGCN

    assert Config("LightGCN", "ml-100k").model_class is LightGCN
    assert Config("MF", "ml-100k").model_class is BPR
    stock = Config("LightGCN", "ml-100k")
    assert stock["train_neg_sample_args"]["distribution"] == "uniform"
    assert Config("LightGCN", "ml-100k", config_dict={"loss": "SL"})["train_neg_sample_args"]["distribution"] == "none"


def test_python_api_ignores_sys_argv(workdir, monkeypatch):
    monkeypatch.setattr("sys.argv", ["pytest", "--cw_tau=9", "--junitxml=x.xml"])
    c = Config("MF", "ml-100k", config_dict={"loss": "CW"})
    assert c["cw_tau"] == 0.1 and "junitxml" not in c


@pytest.mark.parametrize(
    "model,config_dict,cmd,message",
    [
        ("Foo", {}, [], r"unknown model 'Foo'; valid choices: backbones usable with a loss: LightGCN, LightGCN\+\+, MF, NGCF.*; RecBole general models: .*BPR"),
        ("EASE", {"loss": "CW"}, [], r"EASE cannot be trained with a loss: it is not trained by gradient .*; run it without --loss"),
        ("MF", {"loss": "XW"}, [], r"unknown loss 'XW'; valid choices: .*BPR, .*CW"),
        ("MF", {"loss": "CW", "cw_tua": 0.1}, [], r"unknown config key 'cw_tua' for loss CW; valid CW keys: cw_tau, cw_beta, cw_tau_plus, cw_activation, cw_floor"),
        ("MF", {"loss": "CW"}, ["--psl_temp=0.1"], r"unknown config key 'psl_temp' for loss PSL; valid PSL keys: psl_tau, psl_activation"),
        ("MF", {"loss": "CW", "cw_tau": 0}, [], r"invalid loss hyperparameter \(cw_\* config keys\): CW: tau must be a number > 0, got 0.0"),
        ("MF", {"loss": "CW", "cw_tau_plus": 1.0}, [], r"CW: tau_plus must be a number in \[0, 1\) or 'pop', got 1.0"),
        ("MF", {"loss": "PSL"}, ["--psl_activation=softsign"], r"PSL: activation must be one of \['relu', 'tanh', 'atan', 'exp'\], got 'softsign'"),
        ("MF", {"loss": "CW", "neg_num": 0}, [], r"neg_num must be an integer >= 1, got 0"),
        ("MF", {"loss": "CW", "pos_num": 0}, [], r"pos_num must be an integer >= 1, got 0"),
        ("MF", {"loss": "CW", "score": "l2"}, [], r"score must be one of \['dot', 'cos', 'half_cos'\] or None, got 'l2'"),
        ("MF", {"loss": "CW", "neg_distribution": "zipf"}, [], r"neg_distribution must be one of \['uniform', 'popularity'\], got 'zipf'"),
        ("MF", {"loss": "CW"}, ["cw_tau=1"], r"command-line argument 'cw_tau=1' is not of the form --key=value"),
    ],
)
def test_errors_before_training(workdir, model, config_dict, cmd, message):
    with pytest.raises(ValueError, match=message):
        Config(model, "ml-100k", config_dict=config_dict, cmd_args=cmd)


def test_other_losses_keys_are_allowed_when_spelled_right(workdir):
    c = Config("MF", "ml-100k", config_dict={"loss": "CW", "psl_tau": 0.2})
    assert c["psl_tau"] == 0.2


def test_unknown_dataset_lists_what_exists(workdir):
    from recbole_losses import run

    (workdir / "dataset" / "mydata").mkdir(parents=True)
    (workdir / "dataset" / "mydata" / "mydata.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    with pytest.raises(FileNotFoundError, match=r"dataset 'nope' not found: no folder dataset/nope.*available datasets: ml-100k, mydata"):
        run("MF", "CW", "nope")


def test_cli_reports_errors_without_a_traceback(workdir, capsys):
    assert main(["--model=Foo", "--loss=CW", "--dataset=ml-100k"]) == 2
    assert "error: unknown model 'Foo'" in capsys.readouterr().err
    assert main(["--model=MF", "--loss=CW", "--dataset=ml-100k", "--cw_beta=-1"]) == 2
    assert "CW: beta must be a number >= 0, got -1.0" in capsys.readouterr().err
