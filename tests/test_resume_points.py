"""Runs stopped at any epoch resume from their last epoch and end exactly like the uninterrupted
run: the resume point (``<checkpoint>.resume.pt``) written at the start of every epoch, the same
command rerun with ``resume_checkpoint=last``, a real SIGKILL at a random epoch, a finished run
resumed (nothing retrained, its best model tested), and the best validation of the whole run
reported after a resume whose epochs do not improve."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from recbole_losses import run
from recbole_losses.checkpoint import load_checkpoint
from recbole_losses.quick_start import build_run
from conftest import STATE

STATEFUL_AND_PLAIN = ["SL", "CW", "SL@K", "LLPAUC", "AdvInfoNCE"]


def _config(root, loss, **extra):
    return {
        "data_path": str(root), "epochs": 6, "neg_num": 8, "pos_num": 2, "train_batch_size": 64,
        "eval_step": 1, "stopping_step": 2, "show_progress": False, "learning_rate": 0.05, "state": "WARNING",
        "checkpoint_dir": str(root / "saved"), "topk": [5], "valid_metric": "NDCG@5", "use_gpu": False,
        **STATE.get(loss, {}), **extra,
    }


class Stop(Exception):
    pass


def _stop_at(trainer, epoch):
    """Make ``trainer`` stop in the middle of epoch ``epoch`` (after its resume point is written)."""
    inner = type(trainer)._train_epoch.__get__(trainer)
    original_loss = trainer.model.calculate_loss

    def train_epoch(train_data, epoch_idx, loss_func=None, show_progress=False):
        if epoch_idx == epoch:
            def failing(interaction):
                original_loss(interaction)
                raise Stop(f"stopped in epoch {epoch}")
            trainer.model.calculate_loss = failing
        return inner(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)

    trainer._train_epoch = train_epoch


@pytest.mark.parametrize("loss", STATEFUL_AND_PLAIN)
def test_a_run_stopped_in_any_epoch_resumes_from_its_resume_point_exactly(toy, loss):
    full = run("MF", loss, "toy", config_dict=_config(toy, loss, checkpoint_dir=str(toy / "full")))
    epoch = random.Random(loss).randrange(1, 5)
    _, (train, valid, _), _, stopped = build_run("MF", loss, "toy", config_dict=_config(toy, loss))
    _stop_at(stopped, epoch)
    with pytest.raises(Stop):
        stopped.fit(train, valid, saved=True)
    point = load_checkpoint(stopped.resume_point_file)
    assert point["epoch"] == epoch - 1 and point["finished"] is False
    resumed = run("MF", loss, "toy", config_dict=_config(toy, loss, resume_checkpoint="last"))
    for key in ("best_valid_score", "best_valid_result", "test_result"):
        assert resumed[key] == full[key], key
    assert len(resumed["train_epoch_seconds"]) + epoch == len(full["train_epoch_seconds"])  # same early stop


def test_resume_last_without_a_resume_point_starts_afresh_and_matches_a_plain_run(toy):
    plain = run("MF", "SL", "toy", config_dict=_config(toy, "SL", checkpoint_dir=str(toy / "plain")))
    fresh = run("MF", "SL", "toy", config_dict=_config(toy, "SL", resume_checkpoint="last"))
    assert fresh["test_result"] == plain["test_result"]


def test_resume_last_ignores_resume_points_of_other_settings(toy):
    _, (train, valid, _), _, stopped = build_run("MF", "SL", "toy", config_dict=_config(toy, "SL", learning_rate=0.01))
    _stop_at(stopped, 2)
    with pytest.raises(Stop):
        stopped.fit(train, valid, saved=True)
    plain = run("MF", "SL", "toy", config_dict=_config(toy, "SL", checkpoint_dir=str(toy / "plain")))
    resumed = run("MF", "SL", "toy", config_dict=_config(toy, "SL", resume_checkpoint="last"))
    assert len(resumed["train_epoch_seconds"]) == len(plain["train_epoch_seconds"])  # started afresh
    assert resumed["test_result"] == plain["test_result"]


def test_a_finished_run_resumed_trains_nothing_and_tests_its_best_model(toy):
    full = run("MF", "SL", "toy", config_dict=_config(toy, "SL"))
    again = run("MF", "SL", "toy", config_dict=_config(toy, "SL", resume_checkpoint="last"))
    assert again["train_epoch_seconds"] == []
    for key in ("best_valid_score", "best_valid_result", "test_result"):
        assert again[key] == full[key], key


def test_best_checkpoint_records_the_validation_result_that_made_it_best(toy):
    _, (train, valid, _), _, trainer = build_run("MF", "SL", "toy", config_dict=_config(toy, "SL"))
    score, result = trainer.fit(train, valid, saved=True)
    best = load_checkpoint(trainer.saved_model_file)
    assert best["best_valid_score"] == score and best["best_valid_result"] == pytest.approx(dict(result))


def test_resume_whose_later_epochs_do_not_improve_reports_the_runs_best(toy):
    """Resumed from the best checkpoint of an earlier stop, with the learning rate set to 0 so that
    no later epoch improves: the run's best validation is the one before the stop (it used to be
    'none', the checkpoint holding the result of the improvement before)."""
    _, (train, valid, _), _, stopped = build_run("MF", "SL", "toy", config_dict=_config(toy, "SL", epochs=3))
    score, result = stopped.fit(train, valid, saved=True)
    _, (train, valid, _), _, resumed = build_run("MF", "SL", "toy", config_dict=_config(
        toy, "SL", epochs=5, checkpoint_dir=str(toy / "resumed")))
    resumed.resume_checkpoint(stopped.saved_model_file)
    for group in resumed.optimizer.param_groups:
        group["lr"] = 0.0
    assert resumed.fit(train, valid, saved=True) == (score, pytest.approx(dict(result)))


def test_a_run_killed_at_a_random_epoch_resumes_to_the_same_end(toy):
    """A real SIGKILL of the command line in a random epoch, then the same command with
    --resume_checkpoint=last: the same printed best validation and test metrics, bit for bit."""
    settings = _config(toy, "CW", epochs=8, stopping_step=8)
    args = [sys.executable, "-m", "recbole_losses", "--model=MF", "--loss=CW", "--dataset=toy"]
    args += [f"--{k}={v}" for k, v in settings.items() if k != "state"] + ["--state=INFO"]

    def results(output):
        return [line for line in output.splitlines() if line.startswith(("best valid", "test ("))]

    full = subprocess.run(args + [f"--checkpoint_dir={toy / 'full'}"], capture_output=True, text=True, cwd=toy, timeout=600)
    assert full.returncode == 0, full.stderr[-2000:]
    epoch = random.randrange(2, 7)
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=toy)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        points = [f for f in os.listdir(toy / "saved")] if (toy / "saved").is_dir() else []
        last = [os.path.join(toy / "saved", f) for f in points if f.endswith(".resume.pt")]
        if last and torch.load(last[0], weights_only=True, mmap=True)["epoch"] >= epoch - 1:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed = subprocess.run(args + ["--resume_checkpoint=last"], capture_output=True, text=True, cwd=toy, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resume training from epoch" in resumed.stdout + resumed.stderr
    assert results(resumed.stdout) == results(full.stdout) != []


def test_a_resumed_run_counts_the_seconds_of_its_earlier_sittings(toy):
    """The resume point carries the run's wall seconds so far; the resumed run reports them as
    ``resumed_seconds`` (what compare.py adds to a resumed cell's time), a fresh run reports 0,
    and the final resume point holds the whole run's seconds, both sittings together."""
    fresh = run("MF", "SL", "toy", config_dict=_config(toy, "SL", checkpoint_dir=str(toy / "fresh")))
    assert fresh["resumed_seconds"] == 0.0
    _, (train, valid, _), _, stopped = build_run("MF", "SL", "toy", config_dict=_config(toy, "SL"))
    _stop_at(stopped, 3)
    with pytest.raises(Stop):
        stopped.fit(train, valid, saved=True)
    earlier = load_checkpoint(stopped.resume_point_file)["run_seconds"]
    assert 0.0 < earlier < stopped.run_seconds  # the stopped epoch is not counted
    resumed = run("MF", "SL", "toy", config_dict=_config(toy, "SL", resume_checkpoint="last"))
    assert resumed["resumed_seconds"] == earlier
    points = [f for f in os.listdir(toy / "saved") if f.endswith(".resume.pt")]
    final = max((load_checkpoint(toy / "saved" / f) for f in points), key=lambda c: c["run_seconds"])
    assert final["finished"] is True and final["run_seconds"] > earlier
