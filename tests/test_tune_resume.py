"""Resuming a study without repeats or holes, and following it: a seeded sampler restarted on a
study never proposes settings it holds; a trial found dead is run again in the same run; best.yaml
alone reruns the selected trial; one line per trial; Ctrl-C is one line and exit status 130."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from recbole_losses.cli import main as train_main
from recbole_losses.tuning import TuneSettings, run_study
from recbole_losses.tuning.command import main

REPO = Path(__file__).resolve().parent.parent
TINY = ["--epochs=1", "--eval_step=1", "--train_batch_size=8192"]
SPACE = "learning_rate choice [0.01,0.005]\nweight_decay choice [0,1e-6]\n"


def quiet(*_):
    pass


def settings(workdir, n_trials, **kw) -> TuneSettings:
    params = workdir / "space.hyper"
    params.write_text(kw.pop("space", SPACE))
    kw.setdefault("overrides", TINY)
    return TuneSettings(**{"model": "MF", "loss": "BPR", "dataset": "ml-100k", "n_trials": n_trials,
                           "params_file": str(params), "output_dir": str(workdir / "out"), "plots": False, **kw})


@pytest.mark.parametrize("sampler", ["random", "tpe", "grid"])
def test_three_reruns_of_one_trial_each_try_three_settings(workdir, sampler):
    """The same command with one more trial each time, the sampler seeded alike every time."""
    for n in (1, 2, 3):
        outcome = run_study(settings(workdir, n, sampler=sampler, sampler_seed=7), log=quiet)
    tried = [tuple(sorted(t.params.items())) for t in outcome.study.get_trials()]
    assert len(tried) == 3 and len(set(tried)) == 3, tried


def test_a_dead_trial_is_run_again_in_the_same_run(workdir):
    """A worker was killed in a trial (running, its heartbeat stopped): the next run waits for the
    grace, says when the trial is reclaimed, runs it again, and completes the budget."""
    tune = settings(workdir, 2, space="learning_rate choice [0.01,0.005]\n", sampler="random", sampler_seed=1,
                    heartbeat_interval=1, heartbeat_grace=3)
    (workdir / "out").mkdir()
    storage = optuna.storages.RDBStorage(tune.storage, heartbeat_interval=1, grace_period=3)
    study = optuna.create_study(study_name=tune.study_name, storage=storage, direction="maximize")
    trial = study.ask()
    trial.suggest_categorical("learning_rate", [0.01, 0.005])
    alive = threading.Event()
    alive.set()

    def other_worker():  # beats until it is "killed", when this run's first trial has ended
        while alive.is_set():
            storage.record_heartbeat(trial._trial_id)
            time.sleep(0.3)

    beating = threading.Thread(target=other_worker)
    beating.start()
    lines = []

    def log(line):
        lines.append(line)
        if "1/2 trial" in line:
            alive.clear()

    try:
        outcome = run_study(tune, log=log)
    finally:
        alive.clear()
        beating.join()
    states = [t.state for t in outcome.study.get_trials()]
    assert states.count(TrialState.COMPLETE) == 2 and states[0] == TrialState.FAIL, states
    replacement = [t for t in outcome.study.get_trials() if t.user_attrs.get("replaces") == 0]
    assert len(replacement) == 1 and replacement[0].params == {"learning_rate": trial.params["learning_rate"]}
    waiting = [line for line in lines if "waiting for trial 0" in line]
    assert waiting and "is run again here" in waiting[0] and "other workers are still running" not in " ".join(lines)
    assert (workdir / "out" / "best.yaml").is_file()
    assert "of 2 complete trials" in (workdir / "out" / "best.yaml").read_text()


def test_best_yaml_alone_reruns_the_selected_trial(workdir, capsys):
    outcome = run_study(settings(workdir, 2, sampler="random", sampler_seed=3,
                                 overrides=["--epochs=2", "--eval_step=1", "--train_batch_size=8192"]), log=quiet)
    best_yaml = workdir / "out" / "best.yaml"
    text = best_yaml.read_text()
    assert "recbole-losses --config_files=best.yaml" in text and "run_recbole_losses.py" not in text
    assert "\nmodel: MF\nloss: BPR\ndataset: ml-100k\n" in text and "\nepochs: 2\n" in text
    capsys.readouterr()
    assert train_main([f"--config_files={best_yaml}", "--state=WARNING", "--show_progress=False"]) == 0
    out = capsys.readouterr().out
    best_line = next(line for line in out.splitlines() if line.startswith("best valid"))
    assert "(MF, loss=BPR, ml-100k)" in best_line
    assert f"'ndcg@20': {outcome.best.value}" in best_line


def test_one_line_per_trial_with_the_budget_the_best_and_the_time_left(workdir):
    lines = []
    run_study(settings(workdir, 2, sampler="random", sampler_seed=0), log=lines.append)
    trial_lines = [line for line in lines if " trial " in line and "COMPLETE" in line]
    assert len(trial_lines) == 2
    first, second = trial_lines
    assert "1/2 trial 0: COMPLETE" in first and "2/2 trial 1: COMPLETE" in second
    assert "1 epochs" in first and "best: trial" in first and "learning_rate" in first
    assert "elapsed" in first and "left" in first and "elapsed" in second


def test_show_progress_shows_a_trials_own_progress(workdir, capfd):
    run_study(settings(workdir, 1, sampler="random", overrides=[*TINY, "--show_progress=True"]), log=quiet)
    err = capfd.readouterr().err
    assert "Train" in err and "Evaluate" in err  # RecBole's progress bars


def test_no_complete_trial_is_exit_status_1_with_a_line(workdir, capsys):
    (workdir / "space.hyper").write_text("learning_rate choice [1e30]\n")
    code = main(["--loss=BPR", "--n_trials=1", "--params_file=space.hyper", "--no-plots", *TINY])
    assert code == 1
    captured = capsys.readouterr()
    assert "no trial completed, so no best.yaml" in captured.err
    assert not list(workdir.glob("tuning/*/best.yaml"))


def test_ctrl_c_is_one_line_and_exit_status_130(workdir):
    (workdir / "space.hyper").write_text(SPACE)
    cmd = [sys.executable, "-m", "recbole_losses.tune", "--loss=BPR", "--n_trials=1", "--params_file=space.hyper",
           "--no-plots", "--epochs=2000", "--stopping_step=4000", "--eval_step=1",
           "--train_batch_size=8192"]  # long enough that no early stop ends the trial before the signal
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    # SIGINT at its default in the worker, as in a terminal: a shell that starts a job in the
    # background (`cmd &`) ignores it, and Python would then never raise KeyboardInterrupt
    worker = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    started = time.time()
    # the trial is training once its checkpoint folder holds a resume point (written each epoch)
    while not list(workdir.glob("tuning/*/checkpoints/**/*.resume.pt")) and time.time() - started < 600:
        assert worker.poll() is None, worker.communicate()
        time.sleep(0.5)
    worker.send_signal(signal.SIGINT)
    try:
        out, err = worker.communicate(timeout=300)
    finally:
        worker.kill()  # no stray worker when the signal was not obeyed
    assert worker.returncode == 130, (out, err)
    assert err.strip().splitlines() == [
        "interrupted: the running trial does not count; rerun the same command to resume"], err
