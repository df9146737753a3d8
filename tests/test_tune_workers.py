"""Several tuner workers on one study, one of them killed mid-trial, on SQLite and on a real
PostgreSQL server (a throw-away one, tests/postgres.py): the study still ends with exactly its
budget of complete trials, none lost and none run twice, the killed trial marked failed and
replaced, and best.yaml written.

Each worker is the tuner's command line (tests/tune_worker.py) on the toy dataset, with a short
heartbeat (1 s, stale after GRACE s) so that a killed worker's trial is found dead within seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from recbole_losses.data.toy import write_toy_dataset
from recbole_losses.tuning.storage import release_connections

REPO = Path(__file__).resolve().parent.parent
BUDGET = 4
GRACE = 10  # seconds without a heartbeat after which a running trial is stale
HANG_EPOCH = 2  # the victim's trial hangs in this epoch (0-based), after two resume points
STUDY = "workers"
WAIT = 600  # seconds any one step may take on a loaded machine


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request, workdir):
    if request.param == "sqlite":
        return f"sqlite:///{workdir / 'study.db'}"
    return request.getfixturevalue("postgres_url")


def tuner_args(workdir: Path, storage: str) -> list[str]:
    (workdir / "space.hyper").write_text("learning_rate loguniform -7,-2\n")  # continuous: no two equal draws
    data_path = write_toy_dataset(workdir)
    return ["--model=MF", "--loss=BPR", "--dataset=toy", f"--data_path={data_path}", f"--n_trials={BUDGET}",
            "--params_file=space.hyper", f"--study_name={STUDY}", "--output_dir=out", f"--storage={storage}",
            "--sampler=random", "--pruner=none", "--no-plots", "--epochs=6", "--eval_step=1"]


def start_worker(workdir: Path, args: list[str], *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(REPO / "tests" / "tune_worker.py"), f"--heartbeat=1,{GRACE}",
                             *extra, *args], cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    """The study's trials as the storage holds them now ([] while it is being created)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=STUDY, storage=storage)
        try:
            return study.get_trials(deepcopy=False)
        finally:  # polled ten times a second: each load opens a pool, closed here, not at garbage collection
            release_connections(study)
    except Exception:  # noqa: BLE001  the study or its tables do not exist yet, or the file is locked
        return []


def wait_until(condition, what: str, *workers: subprocess.Popen) -> None:
    deadline = time.time() + WAIT
    while not condition():
        for worker in workers:
            if worker.poll() is not None:
                raise AssertionError(f"a worker exited ({worker.returncode}) before {what}:\n{worker.stdout.read()}")
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def kill_one_worker_mid_trial(workdir: Path, storage: str) -> tuple[subprocess.Popen, str, float]:
    """Start a worker whose trial hangs mid-trial, then a second worker; SIGKILL the first as soon
    as the second has started a trial of its own (both mid-study). Returns the second worker, its
    output once it has exited, and the time of the kill."""
    args = tuner_args(workdir, storage)
    marker = workdir / "victim-is-mid-trial"
    victim = start_worker(workdir, args, f"--hang_at_epoch={HANG_EPOCH},{marker}")
    wait_until(marker.is_file, "the first worker's trial reached its hanging epoch", victim)
    survivor = start_worker(workdir, args)
    wait_until(lambda: len(trials(storage)) >= 2, "the second worker started a trial", victim, survivor)
    victim.send_signal(signal.SIGKILL)
    killed_at = time.time()
    assert victim.wait(timeout=60) == -signal.SIGKILL
    victim.stdout.close()
    output = survivor.communicate(timeout=WAIT)[0]
    return survivor, output, killed_at


def assert_budget_complete(workdir: Path, storage: str) -> None:
    """Exactly BUDGET complete trials with distinct settings; the killed trial FAIL, continued by a
    complete trial with its settings; nothing left running; best.yaml and the test of the best."""
    study = optuna.load_study(study_name=STUDY, storage=storage)
    everything = study.get_trials()
    complete = [t for t in everything if t.state == TrialState.COMPLETE]
    failed = [t for t in everything if t.state == TrialState.FAIL and not t.user_attrs.get("surplus")]
    states = [(t.number, t.state.name) for t in everything]
    assert not [t for t in everything if t.state == TrialState.RUNNING], states
    assert len(complete) == BUDGET, states
    settings = [t.params["learning_rate"] for t in complete]
    assert len(set(settings)) == BUDGET, settings  # no trial run twice
    (dead,) = failed
    assert "error" not in dead.user_attrs  # interrupted, not a failing setting
    assert dead.params["learning_rate"] in settings  # continued from its resume point, with its settings
    best_yaml = workdir / "out" / "best.yaml"
    assert best_yaml.is_file()
    assert f"learning_rate: {study.best_trial.params['learning_rate']}" in best_yaml.read_text()
    summary = json.loads((workdir / "out" / "summary.json").read_text())
    assert summary["best_trial"] == study.best_trial.number == summary["test"]["trial"]


def test_the_surviving_worker_replaces_a_killed_workers_trial(workdir, storage):
    survivor, output, _ = kill_one_worker_mid_trial(workdir, storage)
    assert survivor.returncode == 0, output
    assert_budget_complete(workdir, storage)


def test_after_a_killed_worker_a_rerun_completes_the_budget(workdir, storage):
    survivor, output, killed_at = kill_one_worker_mid_trial(workdir, storage)
    assert survivor.returncode == 0, output
    time.sleep(max(0.0, killed_at + GRACE + 2 - time.time()))  # the killed trial is stale by now
    rerun = start_worker(workdir, tuner_args(workdir, storage))
    output = rerun.communicate(timeout=WAIT)[0]
    assert rerun.returncode == 0, output
    assert_budget_complete(workdir, storage)
