"""Checkpoints, resuming and determinism on CPU: a run stopped and resumed from its checkpoint ends
exactly where the uninterrupted run ends (parameters, loss state, metrics); checkpoints load with
torch's safe loader (torch >= 2.6 default) and rebuild the model for inference; foreign pickled
files are refused without running their code; the same seed gives the same metrics twice."""

import pytest
import torch

import recbole_losses
from recbole_losses.checkpoint import load_checkpoint
from recbole_losses.quick_start import build_run
from test_training_state import STATE, write_toy_dataset

STATEFUL = ["SL@K", "DrRL", "LLPAUC", "AdvInfoNCE"]


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
    assert not torch.equal(resumed_model.state_dict()["loss.margin"], model.state_dict()["loss.margin"])


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
