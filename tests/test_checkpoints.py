"""Checkpoints, resuming and determinism on CPU: a run stopped and resumed from its checkpoint ends
exactly where the uninterrupted run ends (parameters, loss state, metrics); checkpoints load with
torch's safe loader (torch >= 2.6 default) and rebuild the model for inference; foreign pickled
files are refused without running their code; the same seed gives the same metrics twice. Then the
cases of docs/reliability.md's checkpoint table: stored strings never evaluated, unique names,
atomic writes, clear errors for truncated files, resuming into the run's own folder and only from a
checkpoint of the same model, loss, dataset and data (from Python, the command line and YAML), and
every backbone x score saved, loaded and resumed."""

import ast
import os

import pytest
import torch

import recbole_losses
from recbole_losses.checkpoint import load_checkpoint
from recbole_losses.quick_start import build_run
from recbole_losses.data.toy import write_toy_dataset
from conftest import STATE, STATEFUL


def _config(root, loss, run, **extra):
    return {
        "data_path": str(root), "epochs": 4, "neg_num": 8, "pos_num": 2, "train_batch_size": 64,
        "eval_step": 1, "show_progress": False, "learning_rate": 0.01, "state": "WARNING",
        "checkpoint_dir": str(root / run), "topk": [5], "valid_metric": "NDCG@5",
        "use_gpu": False,  # bitwise determinism is promised on CPU (docs/reliability.md)
        **STATE.get(loss, {}), **extra,
    }


@pytest.fixture
def toy(workdir):
    return write_toy_dataset(workdir)


@pytest.mark.parametrize("loss", STATEFUL)
def test_resumed_run_ends_like_the_uninterrupted_one(toy, loss):
    _, (train, valid, test), model, trainer = build_run("MF", loss, "toy", config_dict=_config(toy, loss, "full"))
    trainer.fit(train, valid, saved=True)
    full_state = {k: v.clone() for k, v in model.state_dict().items()}
    full_test = trainer.evaluate(test, load_best_model=True)

    # Stopped after 2 of the 4 epochs (the checkpoint is the best of those), then resumed.
    _, (train, valid, _), _, stopped = build_run("MF", loss, "toy", config_dict=_config(toy, loss, "stopped", epochs=2))
    stopped.fit(train, valid, saved=True)
    _, (train, valid, test), model, resumed = build_run("MF", loss, "toy", config_dict=_config(toy, loss, "resumed"))
    resumed.resume_checkpoint(stopped.saved_model_file)
    resumed.fit(train, valid, saved=True)
    state = model.state_dict()
    assert state.keys() == full_state.keys()
    for key, value in full_state.items():
        assert torch.equal(state[key], value), key  # loss state included (loss.*)
    assert resumed.evaluate(test, load_best_model=True) == full_test


def test_resume_without_the_random_state_would_diverge(toy):
    """The random states in the checkpoint are what makes resuming exact (so the test above can
    fail): dropping them changes the resumed trajectory."""
    loss = "DrRL"
    _, (train, valid, _), model, trainer = build_run("MF", loss, "toy", config_dict=_config(toy, loss, "full"))
    trainer.fit(train, valid, saved=True)
    _, (train, valid, _), _, stopped = build_run("MF", loss, "toy", config_dict=_config(toy, loss, "stopped", epochs=2))
    stopped.fit(train, valid, saved=True)
    _, (train, valid, _), resumed_model, resumed = build_run("MF", loss, "toy", config_dict=_config(toy, loss, "resumed"))
    resumed.resume_checkpoint(stopped.saved_model_file)
    resumed._resume_rng = None
    resumed.fit(train, valid, saved=False)
    # any parameter or state: the loss's margins alone can saturate at their bound either way
    full, other = model.state_dict(), resumed_model.state_dict()
    assert any(not torch.equal(full[name], other[name]) for name in full)


def test_checkpoint_loads_safely_and_rebuilds_the_model_for_inference(toy):
    _, (train, valid, test), _, trainer = build_run("MF", "DrRL", "toy", config_dict=_config(toy, "DrRL", "saved"))
    trainer.fit(train, valid, saved=True)
    expected = trainer.evaluate(test, load_best_model=True)

    checkpoint = torch.load(trainer.saved_model_file)  # torch >= 2.6 default: weights_only=True
    assert checkpoint["config"]["loss"] == "DrRL" and "loss.margin" in checkpoint["state_dict"]
    config, model, dataset, _, _, test_data = recbole_losses.load_data_and_model(trainer.saved_model_file)
    assert not model.training and config["loss"] == "DrRL" and dataset.user_num == test_data._dataset.user_num
    for key, value in checkpoint["state_dict"].items():
        assert torch.equal(model.state_dict()[key], value)
    _, _, _, evaluator = build_run("MF", "DrRL", "toy", config_dict=_config(toy, "DrRL", "other"))
    evaluator.model = model
    assert evaluator.evaluate(test_data, load_best_model=False) == expected


_EXECUTED = []


class _Payload:
    def __reduce__(self):
        return (_EXECUTED.append, ("code ran",))


def test_foreign_pickled_file_is_refused_without_running_code(workdir):
    torch.save({"state_dict": {}, "payload": _Payload()}, "foreign.pth")
    with pytest.raises(ValueError, match="trusted=True"):
        load_checkpoint("foreign.pth")
    with pytest.raises(ValueError, match="not unpickled unless trusted"):
        recbole_losses.load_data_and_model("foreign.pth")
    assert _EXECUTED == []


@pytest.mark.parametrize("loss", ["AdvInfoNCE"])
def test_same_seed_same_metrics_twice(toy, loss):
    results = []
    for run in ("first", "second"):
        result = recbole_losses.run("MF", loss, "toy", config_dict=_config(toy, loss, run, epochs=2))
        results.append((result["best_valid_result"], result["test_result"]))
    assert results[0] == results[1]
    other = recbole_losses.run("MF", loss, "toy", config_dict=_config(toy, loss, "third", epochs=2, seed=7))
    assert (other["best_valid_result"], other["test_result"]) != results[0]  # the seed matters


# ---------------------------------------------------------------------------------------------
# Checkpoints a user can trust: nothing read from a file is evaluated, names never collide,
# writes are atomic, resuming is checked and writes to the run's own folder, every model x score
# round-trips, and a checkpoint is never applied to data that changed.
# ---------------------------------------------------------------------------------------------


def _trained(root, run="saved", model="MF", loss="SL", dataset="toy", **extra):
    settings = {"epochs": 1, **extra}
    _, (train, valid, test), recommender, trainer = build_run(model, loss, dataset, config_dict=_config(root, loss, run, **settings))
    trainer.fit(train, valid, saved=True)
    return trainer, test


def test_strings_read_from_a_checkpoint_are_never_evaluated(toy):
    """RecBole's Config eval()s every string of a config_dict; a checkpoint's stored settings
    are passed on as data, so a crafted one runs nothing."""
    trainer, _ = _trained(toy)
    sentinel = toy / "SENTINEL"
    payload = f"__import__('pathlib').Path({str(sentinel)!r}).touch()"
    for key in ("note", "learning_rate", "data_path"):
        checkpoint = torch.load(trainer.saved_model_file)
        checkpoint["config"]["external"][key] = payload
        torch.save(checkpoint, toy / "crafted.pth")
        try:
            recbole_losses.load_data_and_model(str(toy / "crafted.pth"))
        except Exception:  # a string where a number or a folder belongs is an error, not code
            pass
        assert not sentinel.exists(), f"the string stored under {key!r} was executed"


def test_a_checkpoint_naming_a_model_outside_the_general_recommenders_is_refused(toy):
    trainer, _ = _trained(toy)
    checkpoint = torch.load(trainer.saved_model_file)
    checkpoint["config"]["model"] = "KD_DAGFM"  # a RecBole model that eval()s its 'teacher' setting
    torch.save(checkpoint, toy / "crafted.pth")
    with pytest.raises(ValueError, match=r"crafted.pth names model 'KD_DAGFM', not one of the general recommenders"):
        recbole_losses.load_data_and_model(str(toy / "crafted.pth"))


def test_two_runs_started_in_the_same_second_keep_their_own_checkpoints(toy, monkeypatch):
    import recbole.trainer.trainer as recbole_trainer

    for module in (recbole_trainer, recbole_losses.trainer):
        monkeypatch.setattr(module, "get_local_time", lambda: "Nov-29-2026_12-00-00", raising=False)
    first, _ = _trained(toy, run="shared", loss="SL")
    second, _ = _trained(toy, run="shared", loss="SL", seed=7)
    assert first.saved_model_file != second.saved_model_file
    for trainer in (first, second):
        saved = load_checkpoint(trainer.saved_model_file)
        for key, value in trainer.model.state_dict().items():
            assert torch.equal(saved["state_dict"][key], value), key


def test_an_interrupted_write_leaves_the_previous_checkpoint_whole(toy, monkeypatch):
    trainer, _ = _trained(toy)
    path = trainer.saved_model_file
    before = open(path, "rb").read()

    def interrupted_save(obj, f, *args, **kwargs):
        if isinstance(f, (str, bytes, os.PathLike)):
            with open(f, "wb") as out:
                out.write(b"PK\x03\x04 half a checkpoint")
        else:
            f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        trainer._save_checkpoint(5)
    monkeypatch.undo()
    assert open(path, "rb").read() == before
    # no temporary file left: the best checkpoint and the run's resume point only
    assert sorted(os.listdir(os.path.dirname(path))) == sorted(
        os.path.basename(p) for p in (path, trainer.resume_point_file))


def test_ctrl_c_during_a_write_is_raised_once_the_checkpoint_is_whole(toy, monkeypatch):
    """A SIGINT landing inside torch.save: torch's zip writer turned the KeyboardInterrupt into a
    RuntimeError ("unexpected pos"), so a tuner read Ctrl-C as a failed trial. The write now
    finishes, the file is whole, then the KeyboardInterrupt is raised."""
    import signal

    trainer, _ = _trained(toy)
    real_save = torch.save
    # Python's own handler, as in a terminal (a job started with `&` inherits SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def save_under_ctrl_c(obj, f, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # what a terminal's Ctrl-C delivers, mid-write
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_under_ctrl_c)
    try:
        with pytest.raises(KeyboardInterrupt):
            trainer._save_checkpoint(5)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.undo()
    assert load_checkpoint(trainer.saved_model_file)["epoch"] == 5


def test_a_truncated_checkpoint_is_a_clear_error_naming_the_file(toy):
    trainer, test = _trained(toy)
    data = open(trainer.saved_model_file, "rb").read()
    with open(trainer.saved_model_file, "wb") as f:
        f.write(data[: len(data) // 2])
    name = os.path.basename(trainer.saved_model_file)
    with pytest.raises(ValueError, match=f"{name} is not a complete torch checkpoint .truncated"):
        recbole_losses.load_data_and_model(trainer.saved_model_file)
    with pytest.raises(ValueError, match=f"{name} is not a complete torch checkpoint"):
        trainer.evaluate(test, load_best_model=True)
    with pytest.raises(FileNotFoundError, match="checkpoint nowhere.pth not found"):
        load_checkpoint("nowhere.pth")


def test_resuming_a_truncated_checkpoint_from_the_cli_is_a_one_line_error(toy, capsys):
    from recbole_losses import cli

    trainer, _ = _trained(toy)
    data = open(trainer.saved_model_file, "rb").read()
    with open(trainer.saved_model_file, "wb") as f:
        f.write(data[:100])
    argv = ["--model=MF", "--loss=SL", "--dataset=toy", f"--data_path={toy}", "--epochs=1", "--neg_num=8",
            "--pos_num=2", "--topk=[5]", "--valid_metric=NDCG@5", "--use_gpu=False", "--state=WARNING",
            f"--checkpoint_dir={toy / 'resumed'}", f"--resume_checkpoint={trainer.saved_model_file}"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after RecBole's own warnings
    assert err == (f"error: checkpoint {trainer.saved_model_file} is not a complete torch checkpoint (truncated, "
                   "e.g. by an interrupted copy, or not written by torch.save; 100 bytes)")


def test_resume_writes_into_the_runs_own_checkpoint_dir(toy):
    stopped, _ = _trained(toy, run="stopped", loss="DrRL", epochs=2)
    original = open(stopped.saved_model_file, "rb").read()
    _, (train, valid, test), _, resumed = build_run("MF", "DrRL", "toy", config_dict=_config(toy, "DrRL", "resumed"))
    resumed.resume_checkpoint(stopped.saved_model_file)
    assert os.path.dirname(resumed.saved_model_file) == str(toy / "resumed")
    assert os.path.isfile(resumed.saved_model_file)  # starts as a copy: the best model so far
    resumed.fit(train, valid, saved=True)
    resumed.evaluate(test, load_best_model=True)
    assert open(stopped.saved_model_file, "rb").read() == original


@pytest.mark.parametrize("model, loss, dataset, named", [
    ("MF", "SL", "toy", "MF with loss SL on dataset toy"),
    ("LightGCN", "DrRL", "toy", "LightGCN with loss DrRL on dataset toy"),
    ("MF", "DrRL", "toy2", "MF with loss DrRL on dataset toy2"),
])
def test_resume_refuses_a_checkpoint_of_another_model_loss_or_dataset(toy, model, loss, dataset, named):
    stopped, _ = _trained(toy, run="stopped", loss="DrRL")
    (toy / "toy2").mkdir()
    (toy / "toy2" / "toy2.inter").write_text((toy / "toy" / "toy.inter").read_text())
    _, _, _, other = build_run(model, loss, dataset, config_dict=_config(toy, loss, "other", n_layers=1))
    with pytest.raises(ValueError, match=(
        f"written by a run of model MF with loss DrRL on dataset toy, but this run is model {named}"
    )):
        other.resume_checkpoint(stopped.saved_model_file)


def test_resume_from_the_command_line_and_from_yaml(toy, capsys):
    from recbole_losses import cli

    stopped, test = _trained(toy, run="stopped", loss="DrRL", epochs=2, eval_step=0)  # saves every epoch
    assert load_checkpoint(stopped.saved_model_file)["epoch"] == 1
    settings = _config(toy, "DrRL", "resumed", epochs=3, eval_step=0)

    yaml_file = toy / "resume.yaml"
    yaml_file.write_text(f"resume_checkpoint: {stopped.saved_model_file}\n")
    from_yaml = recbole_losses.run("MF", "DrRL", "toy", config_file_list=[str(yaml_file)], config_dict=settings)
    from_cmd = recbole_losses.run("MF", "DrRL", "toy", config_dict=settings,
                                  cmd_args=[f"--resume_checkpoint={stopped.saved_model_file}"])
    assert len(from_yaml["train_epoch_seconds"]) == len(from_cmd["train_epoch_seconds"]) == 1  # epoch 2 of 0..2
    assert from_yaml["test_result"] == from_cmd["test_result"]

    # The CLI, with nothing left to train: the test metrics are the checkpoint's model's, not a
    # fresh run's (a different learning rate would give other weights).
    stopped, test = _trained(toy, run="validated", loss="DrRL", epochs=2)
    stopped._save_checkpoint(1)  # the last epoch's weights, with the best validation result
    expected = {k: float(v) for k, v in stopped.evaluate(test, load_best_model=True).items()}
    argv = ["--model=MF", "--loss=DrRL", "--dataset=toy", f"--resume_checkpoint={stopped.saved_model_file}",
            *(f"--{k}={v}" for k, v in _config(toy, "DrRL", "cli", epochs=2).items() if k not in ("topk",)),
            "--topk=[5]", "--learning_rate=0.5"]
    assert cli.main(argv) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("test"))
    assert ast.literal_eval(line.split(": ", 1)[1]) == pytest.approx(expected)


MODELS = ["MF", "LightGCN", "NGCF", "XSimGCL"]
SCORES = ["dot", "cos", "half_cos"]
TINY = {"embedding_size": 8, "n_layers": 1, "hidden_size_list": [8], "layer_cl": 1}


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("model", MODELS)
def test_every_model_and_score_saves_loads_and_resumes(toy, model, score):
    trainer, test = _trained(toy, run="saved", model=model, score=score, **TINY)
    expected = trainer.evaluate(test, load_best_model=True)
    checkpoint = load_checkpoint(trainer.saved_model_file)
    assert not any(k.startswith("restore_") for k in checkpoint["state_dict"])

    config, loaded, _, _, _, test_data = recbole_losses.load_data_and_model(trainer.saved_model_file)
    assert config["model"] == model and config["score"] == score
    for key, value in checkpoint["state_dict"].items():
        assert torch.equal(loaded.state_dict()[key], value), key
    trainer.model = loaded
    assert trainer.evaluate(test_data, load_best_model=False) == expected

    _, (train, valid, _), _, resumed = build_run(
        model, "SL", "toy", config_dict=_config(toy, "SL", "resumed", epochs=2, score=score, **TINY))
    resumed.resume_checkpoint(trainer.saved_model_file)
    resumed.fit(train, valid, saved=True)
    assert resumed.start_epoch == checkpoint["epoch"] + 1 and len(resumed.train_epoch_seconds) == 1


def test_a_checkpoint_is_refused_on_data_that_changed(toy):
    """Reordering the rows of the same .inter file changes RecBole's token -> id maps (ids follow
    first appearance) and the split: the saved weights would score other users and items."""
    trainer, _ = _trained(toy, loss="DrRL")
    checkpoint = load_checkpoint(trainer.saved_model_file)
    assert checkpoint["data"]["user_tokens"][:3] == ["[PAD]", "u0", "u1"]
    inter = toy / "toy" / "toy.inter"
    header, *rows = inter.read_text().splitlines()
    inter.write_text("\n".join([header, *reversed(rows)]) + "\n")
    message = r"does not match the data now loaded from .*: the user/item token -> id maps differ"
    with pytest.raises(ValueError, match=message):
        recbole_losses.load_data_and_model(trainer.saved_model_file)
    _, (train, valid, _), _, resumed = build_run("MF", "DrRL", "toy", config_dict=_config(toy, "DrRL", "resumed"))
    resumed.resume_checkpoint(trainer.saved_model_file)
    with pytest.raises(ValueError, match=message):
        resumed.fit(train, valid, saved=True)


def test_a_checkpoint_without_a_data_fingerprint_loads_with_a_warning(toy):
    trainer, _ = _trained(toy)
    checkpoint = torch.load(trainer.saved_model_file)
    del checkpoint["data"]
    torch.save(checkpoint, toy / "older.pth")
    with pytest.warns(UserWarning, match="older.pth holds no fingerprint of its training data"):
        recbole_losses.load_data_and_model(str(toy / "older.pth"), {"learning_rate": "0.5"})


def test_load_overrides_are_read_like_run_settings_and_stored_settings_stay_typed(toy):
    trainer, _ = _trained(toy, run="saved", embedding_size=8)
    checkpoint = torch.load(trainer.saved_model_file)
    checkpoint["config"]["external"]["user_note_text"] = "[1, 2]"
    torch.save(checkpoint, toy / "noted.pth")
    config, *_ = recbole_losses.load_data_and_model(str(toy / "noted.pth"), {"topk": "[5]", "use_gpu": "False"})
    assert config["user_note_text"] == "[1, 2]" and config["embedding_size"] == 8
    assert config["topk"] == [5] and config["use_gpu"] is False
