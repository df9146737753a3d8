r"""One trial: the searched values drawn, one :class:`~recbole_losses.runner.Run` trained on
validation, every validation reported to Optuna, the best returned.

A trial queued to continue an interrupted one (``resumes`` user attribute: Ctrl-C, or a killed
worker's trial found stale) takes that trial's settings and checkpoint folder, resumes from its
last resume point and reports that trial's validation scores first.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import optuna

from ..runner import Run
from .budget import is_surplus
from .space import Param

# Defaults of every trial run (a config file or --key=value overrides them): RecBole's progress
# bars and INFO logs would bury the tuner's own progress lines.
TRIAL_DEFAULTS = {"show_progress": False, "state": "WARNING"}
# What ends a trial as FAILED with its message while the study goes on: a diverging trial (the
# trainer's "training loss is nan ...") or a setting combination a run rejects.
TRIAL_ERRORS = (ValueError, RuntimeError, FloatingPointError)


def trial_config_dict(values: dict, checkpoint_dir, resume: bool = False) -> dict:
    """The ``config_dict`` of a trial's run: the trial defaults, its searched values, its own
    checkpoint folder (and ``resume_checkpoint: last`` when it continues an interrupted trial)."""
    return {**TRIAL_DEFAULTS, **values, "checkpoint_dir": str(checkpoint_dir),
            **({"resume_checkpoint": "last"} if resume else {})}


def trial_run(settings, config_dict: dict) -> Run:
    """The :class:`Run` of one trial of the study ``settings`` describe."""
    return Run(settings.model, settings.loss, settings.dataset, settings.config_files or None, config_dict,
               settings.overrides)


class Objective:
    """Optuna's objective for one study: ``checkpoints`` is the study's own checkpoint folder
    (one ``trial-<number>`` folder per trial)."""

    def __init__(self, settings, params: dict[str, Param], checkpoints: Path):
        self.settings = settings
        self.params = params
        self.checkpoints = Path(checkpoints)

    def __call__(self, trial: optuna.Trial) -> float:
        if is_surplus(trial.study, trial.number, self.settings.n_trials):
            trial.set_user_attr("surplus", True)  # read by sampling.is_surplus_trial: holds nothing, not reported
            raise optuna.TrialPruned(f"surplus: the study already holds {self.settings.n_trials} trials")
        values = {name: param.suggest(trial) for name, param in self.params.items()}
        trial.set_user_attr("config", values)
        folder = self.checkpoints / f"trial-{trial.number}"
        resumes = trial.user_attrs.get("resumes")
        replayed = set()
        if resumes is not None:
            interrupted = trial.study.get_trials(deepcopy=False)[resumes]
            folder = Path(interrupted.user_attrs["checkpoint_dir"])
            for step, score in sorted(interrupted.intermediate_values.items()):
                trial.report(score, step=step)
            replayed = set(interrupted.intermediate_values)  # the epoch in progress may validate again
        trial.set_user_attr("checkpoint_dir", str(folder))
        start = time.time()

        def report(epoch_idx, valid_score):
            score = float(valid_score)
            trial.set_user_attr("epochs", epoch_idx + 1)
            trial.set_user_attr("wall_seconds", round(time.time() - start, 2))
            if not math.isfinite(score):
                raise ValueError(f"validation score is {score}")
            if epoch_idx + 1 not in replayed:
                trial.report(score, step=epoch_idx + 1)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch_idx + 1} (valid {score:.6f})")

        try:
            with trial_run(self.settings, trial_config_dict(values, folder, resumes is not None)) as run:
                run.fit(callback_fn=report)
                checkpoint = run.trainer.saved_model_file
        except optuna.TrialPruned:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        except TRIAL_ERRORS as err:
            trial.set_user_attr("error", f"{type(err).__name__}: {err}")
            trial.set_user_attr("wall_seconds", round(time.time() - start, 2))
            shutil.rmtree(folder, ignore_errors=True)
            raise
        trial.set_user_attr("wall_seconds", round(time.time() - start, 2))
        if run.best_valid_score is None or not math.isfinite(run.best_valid_score):
            trial.set_user_attr("error", f"no validation score ({run.best_valid_score}): no evaluation ran")
            shutil.rmtree(folder, ignore_errors=True)
            raise ValueError(trial.user_attrs["error"])
        trial.set_user_attr("valid_result", run.best_valid_result)
        trial.set_user_attr("checkpoint", str(checkpoint))
        return run.best_valid_score


__all__ = ["TRIAL_DEFAULTS", "TRIAL_ERRORS", "Objective", "trial_config_dict", "trial_run"]
