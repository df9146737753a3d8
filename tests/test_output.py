"""What a user reads: --version on every command, the model tree and the train loss line naming
what trains, the configuration dump naming the negatives drawn, results as plain numbers, no
third-party warning from our entry points and Python API, shipped search spaces without double
regularisation, checkpoints that follow the umask."""

import os
import re
import sys
import warnings
from pathlib import Path

import pytest

import recbole_losses
from recbole_losses import Config
from recbole_losses.checkpoint import save_checkpoint
from recbole_losses.cli import main, prepare_main, tune_main
from recbole_losses.losses import LOSSES
from recbole_losses.models import available_backbones
from recbole_losses.output import train_loss_line
from recbole_losses.quick_start import build_run
from recbole_losses.tuning.space import hyper_dir, read_params_file

REPO = Path(__file__).resolve().parents[1]
TOY = {"epochs": 1, "neg_num": 4, "show_progress": False, "state": "ERROR", "topk": [5], "valid_metric": "NDCG@5"}
VERSION = re.compile(r"^\S.* (\d+\.\d+\.\d+) \(RecBole 1\.2\.1, torch \S+, Python \S+\)$")


@pytest.mark.parametrize("command", [main, prepare_main, tune_main,
                                     lambda argv: __import__("recbole_losses.__main__", fromlist=["main"]).main(argv),
                                     lambda argv: __import__("recbole_losses.__main__", fromlist=["main"]).main(["tune", *argv])])
def test_every_command_answers_version(command, capsys):
    with pytest.raises(SystemExit) as done:
        command(["--version"])
    assert done.value.code == 0
    match = VERSION.match(capsys.readouterr().out.strip())
    assert match and match.group(1) == recbole_losses.__version__


@pytest.mark.parametrize("command,argv,message", [
    (tune_main, ["--n_trials=0"], "argument --n_trials: must be an integer >= 1, got 0"),
    (prepare_main, ["--dataset=x", "--source=y", "--timeout=-1"], "argument --timeout: must be a number > 0, got -1.0"),
])
def test_a_bad_argument_is_one_line_with_exit_status_2(command, argv, message, capsys):
    with pytest.raises(SystemExit) as done:
        command(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err and err.endswith("--help)")


def _model(model, loss, toy, **extra):
    _, _, recommender, trainer = build_run(model, loss, "toy", config_dict={"data_path": str(toy), **TOY, **extra})
    return recommender, trainer


@pytest.mark.parametrize("model", available_backbones())
def test_the_model_tree_shows_the_loss_that_trains_and_nothing_unused(toy, model):
    recommender, _ = _model(model, "PSL", toy, reg_weight=0.0)
    tree = repr(recommender)
    assert "(loss): PSL(" in tree
    for unused in ("BPRLoss", "EmbLoss", "mf_loss", "reg_loss"):
        assert unused not in tree, tree
    recommender, _ = _model(model, "PSL", toy, reg_weight=1e-4)
    assert "(reg_loss): EmbLoss()" in repr(recommender) and "BPRLoss" not in repr(recommender)


@pytest.mark.parametrize("model,reg_weight,names", [
    ("MF", 0.0, None), ("LightGCN", 1e-5, ("PSL", "reg")), ("XSimGCL", 0.0, ("PSL", "contrastive")),
    ("XSimGCL", 1e-4, ("PSL", "reg", "contrastive")),
])
def test_one_train_loss_line_names_the_parts(toy, model, reg_weight, names):
    recommender, trainer = _model(model, "PSL", toy, reg_weight=reg_weight)
    losses = (2.1, 0.09, 0.01)[: len(names)] if names else 2.19
    line = re.sub(r"\x1b\[[0-9;]*m", "", trainer._generate_train_loss_output(3, 0.0, 1.5, losses))
    if names is None:
        assert line == "epoch 3 training [time: 1.50s, train loss: 2.1900]"
    else:
        parts = " + ".join(f"{n} {v:.4f}" for n, v in zip(names, losses))
        assert line == f"epoch 3 training [time: 1.50s, train loss: {sum(losses):.4f} = {parts}]"
        assert "train_loss1" not in line


def test_parts_without_names_are_still_one_line():
    line = re.sub(r"\x1b\[[0-9;]*m", "", train_loss_line(0, 1.0, (1.0, 0.5)))
    assert line == "epoch 0 training [time: 1.00s, train loss: 1.5000 = 1.0000 + 0.5000]"


def test_the_configuration_dump_shows_the_negatives_drawn(workdir):
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(Config("LightGCN", "ml-100k", None, {"loss": "PSL", "neg_num": 64})))
    (line,) = [l for l in text.splitlines() if l.startswith("train_neg_sample_args")]
    assert line.startswith("train_neg_sample_args = {'distribution': 'uniform', 'sample_num': 64} per training row, "
                           "and 4 sampled positives")
    popular = str(Config("MF", "ml-100k", None, {"loss": "PSL", "neg_distribution": "popularity", "neg_alpha": 0.5}))
    assert "{'distribution': 'popularity', 'sample_num': 1000, 'alpha': 0.5}" in popular
    assert "'distribution': 'none'" not in text


def test_results_are_plain_numbers_in_the_return_value_the_log_and_the_summary(toy, capsys):
    result = recbole_losses.run("MF", "PSL", "toy", config_dict={"data_path": str(toy), **TOY, "state": "INFO"})
    for key in ("best_valid_result", "test_result"):
        assert type(result[key]) is dict and all(type(v) is float for v in result[key].values())
    assert type(result["best_valid_score"]) is float
    (log,) = Path("log").rglob("*.log")
    text = log.read_text()
    assert re.search(r"best valid : recall@5 : [\d.]+    ndcg@5 : [\d.]+\n", text), text[-500:]
    assert "OrderedDict" not in text and "np.float64" not in text
    assert main(["--model=MF", "--loss=PSL", "--dataset=toy", f"--data_path={toy}", "--epochs=1", "--neg_num=4",
                 "--show_progress=False", "--state=ERROR", "--topk=[5]", "--valid_metric=NDCG@5"]) == 0
    out = capsys.readouterr().out
    assert "test       (MF, loss=PSL, toy): {'recall@5': " in out and "np.float64" not in out


class shown_warnings(warnings.catch_warnings):
    """Records every warning Python shows a user by default (each one, every time): not the
    DeprecationWarning family, ImportWarning or ResourceWarning, which Python hides outside
    ``__main__``."""

    def __init__(self):
        super().__init__(record=True)

    def __enter__(self):
        caught = super().__enter__()
        warnings.simplefilter("always")
        for hidden in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.filterwarnings("ignore", category=hidden)
        return caught


def _third_party(caught):
    return [f"{w.category.__name__} {w.filename}:{w.lineno}: {w.message}" for w in caught
            if "recbole_losses" not in w.filename and "/tests/" not in w.filename]


@pytest.mark.parametrize("model", ["MF", "LightGCN", "NGCF"])
def test_the_python_api_shows_no_third_party_warning(toy, model):
    with shown_warnings() as caught:
        recbole_losses.run(model, "PSL", "toy", config_dict={"data_path": str(toy), **TOY})
        recbole_losses.run(model, None, "toy", config_dict={"data_path": str(toy), **TOY})
    assert _third_party(caught) == []


def test_the_tuner_shows_no_third_party_warning(toy, capsys):
    space = toy / "space.hyper"
    space.write_text("learning_rate choice [0.01,0.001]\n")
    with shown_warnings() as caught:
        assert tune_main(["--model=MF", "--loss=PSL", "--dataset=toy", "--n_trials=2", f"--params_file={space}",
                          "--output_dir=out", "--no-plots", f"--data_path={toy}", "--epochs=1", "--neg_num=4",
                          "--topk=[5]", "--valid_metric=NDCG@5"]) == 0
    assert _third_party(caught) == []


@pytest.mark.parametrize("space", sorted(p.stem for p in hyper_dir().glob("*.hyper") if p.stem != "stock"))
@pytest.mark.parametrize("model", available_backbones())
def test_no_shipped_space_regularises_twice(workdir, space, model):
    """RecBole warns when weight_decay and reg_weight are both set (double regularisation): every
    shipped loss space that searches weight_decay fixes reg_weight at 0, on every backbone (RecBole's
    LightGCN and NGCF default to reg_weight 1e-5)."""
    params = read_params_file(hyper_dir() / f"{space}.hyper")
    loss = space if space in LOSSES else None
    base = Config(model, "ml-100k", None, {"loss": loss})
    decays = params["weight_decay"].candidates() if "weight_decay" in params else [base["weight_decay"]]
    regs = params["reg_weight"].candidates() if "reg_weight" in params else [base["reg_weight"]]
    assert not any((d or 0) * (r or 0) > 0 for d in decays for r in regs), (decays, regs)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_checkpoints_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        save_checkpoint({"x": 1}, tmp_path / "a.pth")
        (tmp_path / "a.log").write_text("log")
    finally:
        os.umask(old)
    assert (tmp_path / "a.pth").stat().st_mode & 0o777 == 0o666 & ~umask == (tmp_path / "a.log").stat().st_mode & 0o777


def test_a_nan_stop_is_our_message_alone_without_torch_warnings():
    """The non-finite-loss stop reads the loss without torch's 'converting a tensor that requires
    grad' warning before its own message."""
    import torch

    from recbole_losses.trainer import RecBoleFixes

    loss = torch.tensor(float("nan"), requires_grad=True) * 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"^training loss is nan: non-finite scores or parameters"):
            RecBoleFixes._check_nan(None, loss)
