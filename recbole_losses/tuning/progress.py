r"""What a worker prints while a study runs: one line per trial this worker ran (n/N, state,
validation score, epochs, settings, best so far, elapsed time and an estimate of what is left)."""

from __future__ import annotations

import time

from optuna.trial import TrialState

from .budget import finished_trials
from .sampling import is_surplus_trial
from .selection import selected_trial


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Optuna callback printing :meth:`line` for every trial this worker ends."""

    def __init__(self, n_trials: int, metric: str, log=print):
        self.n_trials, self.metric, self.log = n_trials, metric, log
        self.start = time.time()
        self.ran = 0

    def __call__(self, study, trial) -> None:
        if is_surplus_trial(trial):
            return
        self.ran += 1
        self.log(self.line(study, trial))

    def line(self, study, trial) -> str:
        done = len(finished_trials(study))
        attrs = trial.user_attrs
        parts = [f"[tune {study.study_name}] {done}/{self.n_trials} trial {trial.number}: {trial.state.name}"]
        if trial.state == TrialState.COMPLETE:
            parts.append(f"valid {self.metric} = {trial.value:.6f}")
        elif trial.state == TrialState.PRUNED:
            parts.append(f"at epoch {trial.last_step}" if trial.last_step is not None else "before any validation")
        elif "error" in attrs:
            parts.append(attrs["error"].splitlines()[0][:160])
        if "epochs" in attrs:
            parts.append(f"{attrs['epochs']} epochs")
        if attrs.get("wall_seconds") is not None:
            parts.append(f"{attrs['wall_seconds']:.1f} s")
        parts.append(f"{attrs.get('config', trial.params)}")
        best = selected_trial(study)
        if best is not None:
            parts.append(f"best: trial {best.number} ({best.value:.6f})")
        elapsed = time.time() - self.start
        left = max(0, self.n_trials - done)
        eta = f", about {duration(elapsed / self.ran * left)} left" if left and self.ran else ""
        parts.append(f"elapsed {duration(elapsed)}{eta}")
        return " | ".join(parts)


__all__ = ["Progress", "duration"]
