r"""The tuner: an Optuna study on the validation metric for a model × loss × dataset.

:func:`run_study` puts the parts together:

1. the study's configuration, once (:func:`base_config`), and the checks before any trial
   (:func:`check_space`; the dataset is prepared);
2. the study, an identity (:mod:`.identity`): a rerun with other settings is refused; its
   output folder is claimed; its storage must hold nothing but Optuna's tables (:mod:`.storage`);
3. the trials: Optuna's ``optimize`` with the objective (:mod:`.objective`: one
   :class:`~recbole_losses.runner.Run` per trial), a sampler that never proposes settings the
   study holds (:mod:`.sampling`), the budget as a callback that stops the study
   (:mod:`.budget`) and one progress line per trial (:mod:`.progress`); trials running in other
   workers are waited for, and one found dead (no heartbeat past the grace) is run again;
4. the selected trial tested once (:mod:`.selection`) and the outputs written (:mod:`.report`,
   which only reads the study).

Budget: ``n_trials`` is the number of trials the *study* should hold (complete, pruned, failed
with an error, running or queued), not a number to add: rerunning the same command runs only the
missing trials, and several workers on one storage stop together when the budget is reached. A
trial that was interrupted (Ctrl-C, a killed worker) does not count: its continuation is queued
(from its last epoch when it wrote a resume point) and run by the next worker that starts a trial.
"""

from __future__ import annotations

import difflib
import logging
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from ..data.datasets import check_dataset
from ..losses import LOSSES
from ..quick_start import run_config
from .budget import Budget, enqueue_interrupted_trials, finished_trials, replace_stale_trial, wants_trials
from .identity import check_identity, claim_output_dir, study_identity
from .objective import TRIAL_DEFAULTS, TRIAL_ERRORS, Objective
from .progress import Progress, duration
from .report import write_outputs
from .sampling import make_pruner, make_sampler
from .selection import best_test_result, selected_trial
from .settings import TuneSettings
from .space import Param, SpaceError, check_ranges, default_params_file, read_params_file
from .storage import heartbeat_ages, open_storage, release_connections

# Seconds between two looks at the trials other workers are running, at most.
POLL_SECONDS = 5.0


def base_config(settings: TuneSettings):
    """The study's Config without any searched value (the defaults every trial starts from)."""
    return run_config(settings.model, settings.loss, settings.dataset, settings.config_files or None,
                      dict(TRIAL_DEFAULTS), settings.overrides)


def check_space(params: dict[str, Param], settings, source: str, config=None):
    """Errors for a space that cannot run, before any trial: a key no config layer knows (with
    the closest known keys), a key also fixed on the command line, and a value at an end of a
    range (or any choice) that a run rejects: by the table of checks every run uses
    (:func:`recbole_losses.config_checks.check_value`), then by the loss built with it. Returns
    the base Config."""
    config = base_config(settings) if config is None else config
    active = config["loss"]
    known = set(config.final_config_dict)
    if active is not None:
        known |= set(LOSSES[active].config_keys())
    fixed = set(config.cmd_config_dict)  # the --key=value overrides, as the Config read them
    in_files = getattr(config, "file_key_sources", {})
    for name in params:
        if name in fixed:
            raise SpaceError(f"{source}: {name} is searched and also fixed by --{name}=...; drop one")
        if name in in_files:
            raise SpaceError(f"{source}: {name} is searched and also fixed by {in_files[name]}; drop one")
        if name in ("model", "dataset", "loss"):
            raise SpaceError(f"{source}: {name} cannot be searched (one study is one model, loss and dataset)")
        if name not in known:
            owners = [cls.name for cls in LOSSES.values() if name in cls.config_keys()]
            if owners:
                raise SpaceError(f"{source}: {name} is a key of loss {owners[0]}, but the study's loss is {active}")
            close = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise SpaceError(f"{source}: unknown config key {name!r} (not a RecBole or recbole-losses key){hint}")
    epochs, eval_step = config["epochs"], config["eval_step"]
    if not {"epochs", "eval_step"} & set(params) and not (isinstance(eval_step, int) and 1 <= eval_step <= epochs):
        raise SpaceError(f"the tuner selects on validation: eval_step must be in 1 .. epochs = {epochs}, got {eval_step}")
    check_ranges(params, config, source)
    return config


def load_space(settings: TuneSettings):
    """The space's parameters and the file they came from."""
    path = settings.params_file or default_params_file(settings.loss)
    return read_params_file(path), str(path)


def create_study(settings: TuneSettings, config, params: dict[str, Param]) -> optuna.Study:
    """The study in its storage (made on the first run), checked against this run's identity."""
    direction = "maximize" if config["valid_metric_bigger"] else "minimize"
    sampler, pruner = make_sampler(settings, params), make_pruner(settings, config)
    storage = open_storage(settings.storage, settings.heartbeat_interval, settings.heartbeat_grace,
                           replace_stale_trial)
    try:
        study = optuna.create_study(
            study_name=settings.study_name, storage=storage, load_if_exists=True, direction=direction,
            sampler=sampler, pruner=pruner,
        )
    except ValueError as err:
        raise ValueError(f"study {settings.study_name} in {settings.storage}: {err}") from None
    if study.direction.name.lower() != direction:
        raise ValueError(f"study {settings.study_name} in {settings.storage} was created to "
                         f"{study.direction.name.lower()} its value, but valid_metric_bigger asks to {direction}")
    check_identity(study, study_identity(config, params), settings.storage)
    if study.user_attrs.get("valid_metric") is None:
        study.set_user_attr("valid_metric", str(config["valid_metric"]).lower())
    return study


@dataclass
class StudyOutcome:
    study: optuna.Study
    best: optuna.trial.FrozenTrial | None
    test_result: dict | None
    output_dir: Path
    files: dict[str, Path]


def run_study(settings: TuneSettings, pruner: optuna.pruners.BasePruner | None = None, log=print) -> StudyOutcome:
    """Check the space, the storage and the study's identity, run the missing trials (waiting for
    those other workers run, running again any found dead), test the selected trial once and
    write the outputs (trials table, best.yaml, plots) into ``output_dir``. ``pruner`` replaces the
    one ``settings.pruner`` names. Optuna's own log lines and its ExperimentalWarning for the
    features the tuner chose are not shown: the tuner prints its own lines."""
    optuna_logger = logging.getLogger("optuna")
    level = optuna_logger.level
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return _run_study(settings, pruner, log)
    finally:
        optuna_logger.setLevel(level)


def _run_study(settings: TuneSettings, pruner, log) -> StudyOutcome:
    params, source = load_space(settings)
    config = check_space(params, settings, source, base_config(settings))
    check_dataset(config)  # a dataset that is not prepared: the command that prepares it, before any trial
    metric = str(config["valid_metric"]).lower()
    claim_output_dir(settings.output_dir, settings.study_name, settings.storage, settings.overwrite)
    study = create_study(settings, config, params)
    try:
        return _run_trials(settings, study, params, source, metric, pruner, log)
    finally:
        release_connections(study)


def _run_trials(settings: TuneSettings, study: optuna.Study, params: dict[str, Param], source: str, metric: str,
                pruner, log) -> StudyOutcome:
    if pruner is not None:
        study.pruner = pruner
    name = f"[tune {study.study_name}]"
    log(f"{name} {settings.storage}: {len(finished_trials(study))}/{settings.n_trials} trials finished; "
        f"searching {', '.join(params)} ({source}) on valid {metric}")
    checkpoints = Path(settings.output_dir) / "checkpoints" / settings.study_name.replace("@", "at")
    objective = Objective(settings, params, checkpoints)
    progress = Progress(settings.n_trials, metric, log)

    def after_trial(study, trial):
        if trial.state == TrialState.COMPLETE:
            keep_best_checkpoint(study)
        write_outputs(settings, study, params, None, plots=False)

    deadline = None if settings.timeout is None else time.time() + settings.timeout
    waited_for = None
    while True:
        optuna.storages.fail_stale_trials(study)  # a dead worker's trial: failed, its continuation queued
        resumed = enqueue_interrupted_trials(study)
        if resumed:
            log(f"{name} continuing interrupted trial(s) {resumed}")
        if wants_trials(study, settings.n_trials):
            if deadline is not None and time.time() >= deadline:
                log(f"{name} timeout of {settings.timeout:g} s reached; rerun to continue")
                break
            study.optimize(objective, timeout=None if deadline is None else deadline - time.time(),
                           catch=TRIAL_ERRORS, gc_after_trial=True,
                           callbacks=[after_trial, progress, Budget(settings.n_trials)])
            if deadline is None or time.time() < deadline:
                continue
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not running:
            break
        numbers = [t.number for t in running]
        if numbers != waited_for:
            waited_for = numbers
            log(f"{name} {waiting_line(study, numbers, settings)}")
        time.sleep(min(POLL_SECONDS, settings.heartbeat_interval))
    test = best_test_result(settings, study, log)
    files = write_outputs(settings, study, params, test, plots=settings.plots, log=log)
    best = selected_trial(study)
    if best is None:
        log(f"{name} no trial completed")
    return StudyOutcome(study, best, test, Path(settings.output_dir), files)


def waiting_line(study, numbers: list[int], settings: TuneSettings) -> str:
    """Which trials this worker waits for, and when each is reclaimed should its worker be dead."""
    ages = heartbeat_ages(study)
    grace = settings.heartbeat_grace
    parts = []
    for number in numbers:
        age = ages.get(number)
        if age is None:
            parts.append(f"trial {number}")
        elif age > 2 * settings.heartbeat_interval:
            parts.append(f"trial {number} (no heartbeat for {duration(age)}: its worker seems gone; "
                         f"it is run again in {duration(max(0.0, grace - age))}, at {duration(grace)} without one)")
        else:
            parts.append(f"trial {number} (heartbeat {duration(age)} ago)")
    return (f"waiting for {', '.join(parts)} running in another worker; a trial without a heartbeat for "
            f"{duration(grace)} (--heartbeat_grace) is run again here")


def keep_best_checkpoint(study) -> None:
    """After a complete trial, remove the checkpoints of complete trials that are not the best
    (the best one's is tested at the end; a missing one is retrained)."""
    best = selected_trial(study)
    if best is None:
        return
    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        folder = other.user_attrs.get("checkpoint_dir")
        if other.number != best.number and folder:
            shutil.rmtree(folder, ignore_errors=True)


__all__ = ["StudyOutcome", "TuneSettings", "base_config", "check_space", "create_study", "keep_best_checkpoint",
           "load_space", "run_study", "waiting_line"]
