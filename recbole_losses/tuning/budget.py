r"""The budget: ``n_trials`` is the number of trials the *study* should hold, enforced with Optuna's
own means (a callback that calls ``study.stop()``), and the replacement of trials that did not
finish (interrupted by Ctrl-C, or found dead: running without a heartbeat past the grace)."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from ..checkpoint import RESUME_SUFFIX
from .sampling import holds

# What a trial's budget place is called in the outputs when it did not finish.
INTERRUPTED = "interrupted (does not count; run again)"


def counts_toward_budget(trial: optuna.trial.FrozenTrial) -> bool:
    """Complete, pruned, failed with an error, running or queued (in this or another worker); an
    interrupted trial (failed without an error) does not count: it is run again."""
    return holds(trial)


def taken(study) -> int:
    """How many places of the budget are taken."""
    return sum(1 for t in study.get_trials(deepcopy=False) if counts_toward_budget(t))


def queued(study) -> list[int]:
    return [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))]


def finished_trials(study) -> list[optuna.trial.FrozenTrial]:
    """The trials that count toward the budget and have ended."""
    return [t for t in study.get_trials(deepcopy=False) if counts_toward_budget(t) and t.state.is_finished()]


def wants_trials(study, n_trials: int) -> bool:
    """Whether this worker should start a trial: a queued one waits, or places are free."""
    return bool(queued(study)) or taken(study) < n_trials


def is_surplus(study, trial_number: int, n_trials: int) -> bool:
    """Whether a trial this worker just started is one too many: the trials numbered before it
    (Optuna numbers trials in the order the storage creates them) already hold ``n_trials``
    places. Two workers that finish at the same moment may each start a trial for the last place;
    the later-numbered one is the surplus and ends before it runs. A queued trial (the continuation
    of an interrupted one) is never surplus: its place is the one it continues."""
    trials = study.get_trials(deepcopy=False)
    if {"resumes", "replaces"} & set(trials[trial_number].user_attrs):
        return False
    return sum(1 for t in trials[:trial_number] if counts_toward_budget(t)) >= n_trials


class Budget:
    """Optuna callback: stop this worker's ``optimize`` once the study holds ``n_trials`` trials and
    none is queued."""

    def __init__(self, n_trials: int):
        self.n_trials = n_trials

    def __call__(self, study, trial) -> None:
        if not wants_trials(study, self.n_trials):
            study.stop()


def continuation(study, trial: optuna.trial.FrozenTrial) -> bool:
    """Queue the continuation of a trial that did not finish: its settings, from its resume point
    (its checkpoint folder) when it wrote one, else from its first epoch. Returns whether queued
    (once per trial)."""
    trials = study.get_trials(deepcopy=False)
    if any(t.user_attrs.get("resumes") == trial.number for t in trials):
        return False
    folder = trial.user_attrs.get("checkpoint_dir")
    if folder and any(Path(folder).glob(f"*{RESUME_SUFFIX}")):
        study.enqueue_trial(trial.params, user_attrs={"resumes": trial.number}, skip_if_exists=False)
    else:
        study.enqueue_trial(trial.params, user_attrs={"replaces": trial.number}, skip_if_exists=False)
    return True


def replace_stale_trial(study, trial: optuna.trial.FrozenTrial) -> None:
    """Optuna's stale-trial callback: a trial whose worker died (no heartbeat past the grace) was
    just marked failed by this worker, the only one that does so: its continuation is queued."""
    continuation(study, trial)


def enqueue_interrupted_trials(study) -> list[int]:
    """Queue, once each, the continuation of every trial interrupted by Ctrl-C (failed without an
    error) that no trial continues yet; returns their numbers."""
    done = {t.user_attrs.get("resumes") for t in study.get_trials(deepcopy=False)} | {
        t.user_attrs.get("replaces") for t in study.get_trials(deepcopy=False)}
    found = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if "error" in trial.user_attrs or trial.number in done or not trial.params:
            continue
        if continuation(study, trial):
            found.append(trial.number)
    return found


__all__ = ["INTERRUPTED", "Budget", "continuation", "counts_toward_budget", "enqueue_interrupted_trials",
           "finished_trials", "is_surplus", "queued", "replace_stale_trial", "taken", "wants_trials"]
