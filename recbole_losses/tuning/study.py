r"""The tuner: an Optuna study on the validation metric for a model × loss × dataset.

Each trial draws the searched config keys, trains with validation every ``eval_step`` epochs,
reports every validation score to Optuna (``trial.report``) and stops early when the pruner says
so. The study maximises ``valid_metric`` (minimises it when ``valid_metric_bigger`` is False);
the test set is evaluated once, for the selected trial, after the search.

Budget: ``n_trials`` is the number of trials the *study* should hold (complete, pruned, or failed
with an error), not a number to add: rerunning the same command after an interruption runs only
the missing trials, and several workers on one storage stop together when the budget is reached.
A trial that was interrupted (Ctrl-C, a killed worker) does not count: the next run of the same
command continues it from its last epoch (its resume point, with its settings), or runs a new one
when it was stopped in its first epoch.
"""

from __future__ import annotations

import difflib
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState

from ..checkpoint import RESUME_SUFFIX
from ..config import validate
from ..config_checks import check_value
from ..data.datasets import check_dataset
from ..losses import LOSSES
from ..quick_start import run_config
from .runs import train_on_validation
from .space import Param, SpaceError, default_params_file, read_params_file

# Keys that decide where or how verbosely a run works, not what it learns: left out of best.yaml.
PLUMBING_KEYS = frozenset({
    "data_path", "checkpoint_dir", "gpu_id", "use_gpu", "show_progress", "state", "log_wandb",
    "nproc", "world_size", "offset", "ip", "port", "backend", "local_rank", "save_dataset",
    "save_dataloaders", "dataset_save_path", "dataloaders_save_path",
})
# Defaults of every trial run (a config file or --key=value overrides them): RecBole's progress
# bars and INFO logs would bury the tuner's own progress lines.
TRIAL_DEFAULTS = {"show_progress": False, "state": "WARNING"}
HEARTBEAT_SECONDS = 60  # a worker's running trial writes a heartbeat this often
GRACE_SECONDS = 180  # a running trial without a heartbeat this long is stale (its worker died)
STORAGE_ATTEMPTS = 5  # tries to open a storage another worker may be creating at the same moment


@dataclass
class TuneSettings:
    """What one tuner invocation does (the command line's options)."""

    model: str
    loss: str | None
    dataset: str
    n_trials: int
    params_file: str | None = None  # None: the shipped space of ``loss``
    study_name: str | None = None  # None: <model>-<loss>-<dataset>
    output_dir: str | None = None  # None: tuning/<study_name>
    storage: str | None = None  # None: sqlite:///<output_dir>/study.db
    config_files: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)  # --key=value config overrides
    pruner: str = "median"
    warmup_epochs: int | None = None  # None: a quarter of ``epochs``
    sampler: str = "tpe"
    sampler_seed: int | None = None
    timeout: float | None = None  # seconds after which this worker starts no new trial
    plots: bool = True

    def __post_init__(self):
        if isinstance(self.n_trials, bool) or not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise ValueError(f"n_trials must be an integer >= 1, got {self.n_trials!r}")
        if self.study_name is None:
            self.study_name = f"{self.model}-{self.loss or 'stock'}-{self.dataset}"
        if self.output_dir is None:
            self.output_dir = str(Path("tuning") / self.study_name.replace("@", "at"))
        if self.storage is None:
            self.storage = f"sqlite:///{Path(self.output_dir) / 'study.db'}"
        if self.pruner not in PRUNERS:
            raise ValueError(f"pruner must be one of {', '.join(PRUNERS)}, got {self.pruner!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")


PRUNERS = ("median", "none")
SAMPLERS = ("tpe", "random", "grid")


# ---------------------------------------------------------------------------------------------
# Checks before any trial runs
# ---------------------------------------------------------------------------------------------

def base_config(settings: TuneSettings, params_dict: dict | None = None):
    """The study's Config without any searched value (the defaults every trial starts from)."""
    return run_config(settings.model, settings.loss, settings.dataset, settings.config_files or None,
                      {**TRIAL_DEFAULTS, **(params_dict or {})}, settings.overrides)


def check_space(params: dict[str, Param], settings: TuneSettings, source: str):
    """Errors for a space that cannot run, before any trial: a key no config layer knows (with
    the closest known keys), a key also fixed on the command line, and a value at an end of a
    range (or any choice) that a run rejects: by the table of checks every run uses
    (:func:`recbole_losses.config_checks.check_value`), then by the loss built with it. Returns
    the base Config."""
    config = base_config(settings)
    active = config["loss"]
    known = set(config.final_config_dict)
    if active is not None:
        known |= set(LOSSES[active].config_keys())
    fixed = set(config.cmd_config_dict)  # the --key=value overrides, as the Config read them
    for name in params:
        if name in fixed:
            raise SpaceError(f"{source}: {name} is searched and also fixed by --{name}=...; drop one")
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
    cfg = config.final_config_dict
    for param in params.values():
        saved = cfg.get(param.name, KeyError)
        try:
            for value in param.candidates():
                cfg[param.name] = value
                try:
                    # The run's own table of checks (config_checks), then the loss built with it.
                    check_value(param.name, value, config.model, cfg)
                    validate(config)
                except ValueError as err:
                    raise SpaceError(
                        f"{source}: {param.name} {param.kind} {param.spec} reaches {param.name} = {value!r}, "
                        f"which a run rejects: {err}"
                    ) from None
        finally:
            if saved is KeyError:
                cfg.pop(param.name, None)
            else:
                cfg[param.name] = saved
    return config


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's database storage at ``url`` (a SQLite file's folder is created); a clear error
    when it cannot be written."""
    connect_args = {}
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"study storage {url}: cannot create the folder {path.parent}: "
                             f"{err.strerror or err}") from None
        target = path if path.exists() else path.parent
        if not os.access(target, os.W_OK):
            raise ValueError(f"study storage {url}: {target} is not writable")
        connect_args = {"timeout": 60}  # several workers on one SQLite file wait for its lock
    for attempt in range(STORAGE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat_interval
                return optuna.storages.RDBStorage(
                    url, engine_kwargs={"connect_args": connect_args} if connect_args else None,
                    heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS,
                )
        except Exception as err:  # SQLAlchemy/Optuna raise many kinds; say which storage failed
            if attempt + 1 == STORAGE_ATTEMPTS or "Failed to import" in str(err):
                raise ValueError(f"study storage {url} cannot be opened: {err}") from None
            # Workers starting together race to create the tables: the loser retries.
            time.sleep(1.0 + attempt)


def make_pruner(settings: TuneSettings, config) -> optuna.pruners.BasePruner:
    """Median pruning: from epoch ``warmup_epochs`` on (default a quarter of ``epochs``), a trial
    whose best validation score so far is worse than the median of the completed trials' scores at
    the same epoch stops; nothing is pruned before 5 trials have completed (they set the median)."""
    if settings.pruner == "none":
        return optuna.pruners.NopPruner()
    epochs = int(config["epochs"])
    warmup = settings.warmup_epochs if settings.warmup_epochs is not None else max(1, epochs // 4)
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup, interval_steps=1)


def make_sampler(settings: TuneSettings, params: dict[str, Param]) -> optuna.samplers.BaseSampler:
    """TPE (default), random, or grid: every point of the space once, in random order (RecBole's
    ``exhaustive``), which needs a finite space and ``n_trials`` no larger than it."""
    if settings.sampler == "grid":
        grid = {name: param.grid() for name, param in params.items()}
        continuous = [f"{p.name} {p.kind} {p.spec}" for p in params.values() if grid[p.name] is None]
        if continuous:
            raise SpaceError(f"--sampler=grid needs a finite space; continuous: {', '.join(continuous)}")
        size = math.prod(len(values) for values in grid.values())
        if settings.n_trials > size:
            raise SpaceError(f"the grid has {size} points; --n_trials={settings.n_trials} would repeat some "
                             f"(use --n_trials={size} for an exhaustive search)")
        return optuna.samplers.GridSampler(grid, seed=settings.sampler_seed)
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.sampler_seed)
    # constant_liar: parallel workers do not all draw next to the same running trial.
    return optuna.samplers.TPESampler(seed=settings.sampler_seed, constant_liar=True)


# ---------------------------------------------------------------------------------------------
# The search
# ---------------------------------------------------------------------------------------------

class _BudgetReached(Exception):
    """Raised inside a trial created after the budget was already taken by other trials."""


def counts_toward_budget(trial: optuna.trial.FrozenTrial) -> bool:
    """Complete, pruned, failed with an error, or running (in this or another worker)."""
    if trial.user_attrs.get("surplus"):
        return False
    if trial.state == TrialState.FAIL:
        return "error" in trial.user_attrs
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


def finished_trials(study) -> list[optuna.trial.FrozenTrial]:
    """The trials that count toward the budget and have ended."""
    return [t for t in study.get_trials(deepcopy=False)
            if counts_toward_budget(t) and t.state != TrialState.RUNNING]


def _remove_checkpoint(trial) -> None:
    folder = trial.user_attrs.get("checkpoint_dir")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def enqueue_interrupted_trials(study) -> list[int]:
    """Queue, once each, the settings of every interrupted trial (failed without an error: Ctrl-C,
    a killed worker found stale) whose checkpoint folder holds a resume point, so that the next
    trials continue them from their last epoch instead of drawing new settings; returns their
    numbers."""
    trials = study.get_trials(deepcopy=False)
    taken = {t.user_attrs.get("resumes") for t in trials}
    queued = []
    for trial in trials:
        folder = trial.user_attrs.get("checkpoint_dir")
        if (trial.state != TrialState.FAIL or "error" in trial.user_attrs or trial.number in taken
                or not folder or not any(Path(folder).glob(f"*{RESUME_SUFFIX}"))):
            continue
        study.enqueue_trial(trial.params, user_attrs={"resumes": trial.number}, skip_if_exists=False)
        queued.append(trial.number)
    return queued


class Objective:
    """One trial: draw the searched keys, train, report every validation, return the best. A trial
    queued by :func:`enqueue_interrupted_trials` continues the interrupted one from its resume point
    (its folder, ``resume_checkpoint: last``), with that trial's validation scores reported first."""

    def __init__(self, settings: TuneSettings, params: dict[str, Param], study):
        self.last_number = None
        self.settings = settings
        self.params = params
        self.study = study
        self.checkpoints = Path(settings.output_dir) / "checkpoints"

    def __call__(self, trial: optuna.Trial) -> float:
        self.last_number = trial.number
        taken = sum(1 for t in self.study.get_trials(deepcopy=False)
                    if t.number < trial.number and counts_toward_budget(t))
        if taken >= self.settings.n_trials:
            trial.set_user_attr("surplus", True)
            raise _BudgetReached(f"not run: other workers already took the budget of {self.settings.n_trials} trials")
        values = {name: param.suggest(trial) for name, param in self.params.items()}
        trial.set_user_attr("config", values)
        folder = self.checkpoints / f"trial-{trial.number}"
        resumes = trial.user_attrs.get("resumes")
        resume, replayed = {}, set()
        if resumes is not None:
            interrupted = next(t for t in self.study.get_trials(deepcopy=False) if t.number == resumes)
            folder, resume = Path(interrupted.user_attrs["checkpoint_dir"]), {"resume_checkpoint": "last"}
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

        config_dict = {**TRIAL_DEFAULTS, **values, "checkpoint_dir": str(folder), **resume}
        try:
            run = train_on_validation(self.settings.model, self.settings.loss, self.settings.dataset,
                                      self.settings.config_files or None, config_dict, self.settings.overrides,
                                      callback_fn=report)
        except optuna.TrialPruned:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        except (ValueError, RuntimeError, FloatingPointError) as err:
            # A diverging trial (the trainer's "training loss is nan ...") or a setting combination
            # a run rejects: recorded as FAILED with its message; the study goes on.
            trial.set_user_attr("error", f"{type(err).__name__}: {err}")
            trial.set_user_attr("wall_seconds", round(time.time() - start, 2))
            shutil.rmtree(folder, ignore_errors=True)
            raise
        trial.set_user_attr("wall_seconds", round(time.time() - start, 2))
        if not math.isfinite(run.best_valid_score):
            trial.set_user_attr("error", f"no validation score ({run.best_valid_score}): no evaluation ran")
            shutil.rmtree(folder, ignore_errors=True)
            raise ValueError(trial.user_attrs["error"])
        trial.set_user_attr("valid_result", run.best_valid_result)
        trial.set_user_attr("checkpoint", str(run.trainer.saved_model_file))
        return run.best_valid_score


def _keep_best_checkpoint(study) -> None:
    """After a complete trial, remove the checkpoints of complete trials that are not the best
    (the best one's is tested at the end; a missing one is retrained)."""
    try:
        best = study.best_trial.number
    except ValueError:
        return
    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if other.number != best:
            _remove_checkpoint(other)


def progress_line(study, trial, n_trials: int, metric: str) -> str:
    done = len(finished_trials(study))
    attrs = trial.user_attrs
    wall = attrs.get("wall_seconds")
    parts = [f"[tune {study.study_name}] trial {trial.number}: {trial.state.name}"]
    if trial.state == TrialState.COMPLETE:
        parts.append(f"valid {metric} = {trial.value:.6f}")
    elif trial.state == TrialState.PRUNED:
        last = trial.last_step
        parts.append(f"at epoch {last}" if last is not None else "before any validation")
    elif "error" in attrs:
        parts.append(attrs["error"].splitlines()[0][:160])
    if wall is not None:
        parts.append(f"{wall:.1f} s")
    if "epochs" in attrs:
        parts.append(f"{attrs['epochs']} epochs")
    parts.append(f"{attrs.get('config', trial.params)}")
    try:
        best = study.best_trial
        parts.append(f"best: trial {best.number} ({best.value:.6f})")
    except ValueError:
        pass
    parts.append(f"{done}/{n_trials} finished")
    return " | ".join(parts)


def load_space(settings: TuneSettings):
    """The space's parameters and the file they came from."""
    path = settings.params_file or default_params_file(settings.loss)
    return read_params_file(path), str(path)


def create_study(settings: TuneSettings, config, params: dict[str, Param]) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the tuner prints its own progress lines
    sampler, pruner = make_sampler(settings, params), make_pruner(settings, config)
    storage = open_storage(settings.storage)
    direction = "maximize" if config["valid_metric_bigger"] else "minimize"
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
    metric = str(config["valid_metric"]).lower()
    stored = study.user_attrs.get("valid_metric")
    if stored is None:
        study.set_user_attr("valid_metric", metric)
        study.set_user_attr("model", settings.model)
        study.set_user_attr("loss", settings.loss)
        study.set_user_attr("dataset", settings.dataset)
    elif stored != metric:
        raise ValueError(f"study {settings.study_name} selects on {stored}, this run's valid_metric is {metric}")
    return study


def optimize(settings: TuneSettings, study, params: dict[str, Param], metric: str, log=print):
    """Run trials until the study holds ``n_trials`` finished ones (or ``timeout`` passes),
    yielding each trial this worker ran once it has ended."""
    objective = Objective(settings, params, study)
    optuna.storages.fail_stale_trials(study)
    resumed = enqueue_interrupted_trials(study)
    if resumed:
        log(f"[tune {study.study_name}] continuing interrupted trial(s) {resumed} from their last epoch")
    start = time.time()
    while len([t for t in study.get_trials(deepcopy=False) if counts_toward_budget(t)]) < settings.n_trials:
        if settings.timeout is not None and time.time() - start >= settings.timeout:
            log(f"[tune {study.study_name}] timeout of {settings.timeout:g} s reached; rerun to continue")
            break
        try:
            study.optimize(objective, n_trials=1, catch=(ValueError, RuntimeError, FloatingPointError),
                           gc_after_trial=True)
        except _BudgetReached:
            break
        trial = next(t for t in study.get_trials(deepcopy=False) if t.number == objective.last_number)
        if trial.state == TrialState.COMPLETE:
            _keep_best_checkpoint(study)
        log(progress_line(study, trial, settings.n_trials, metric))
        yield trial


@dataclass
class StudyOutcome:
    study: optuna.Study
    best: optuna.trial.FrozenTrial | None
    test_result: dict | None
    output_dir: Path
    files: dict[str, Path]


def best_test_result(settings: TuneSettings, study, log=print) -> dict | None:
    """Test metrics of the selected (best-validation) trial, computed once and stored in the study:
    its checkpoint when this machine has it, otherwise the configuration trained again."""
    try:
        best = study.best_trial
    except ValueError:
        return None
    stored = study.user_attrs.get("test")
    if stored and stored.get("trial") == best.number:
        return stored
    values = best.user_attrs.get("config", best.params)
    config_dict = {**TRIAL_DEFAULTS, **values, "checkpoint_dir": best.user_attrs.get("checkpoint_dir", "saved")}
    checkpoint = best.user_attrs.get("checkpoint")
    from ..quick_start import build_run

    if checkpoint and Path(checkpoint).is_file():
        config, loaders, recommender, trainer = build_run(settings.model, settings.loss, settings.dataset,
                                                          settings.config_files or None, config_dict,
                                                          settings.overrides)
        result = trainer.evaluate(loaders[2], load_best_model=True, model_file=checkpoint)
        source = "checkpoint"
    else:
        log(f"[tune {study.study_name}] trial {best.number}'s checkpoint is not on this machine: training it again")
        run = train_on_validation(settings.model, settings.loss, settings.dataset, settings.config_files or None,
                                  config_dict, settings.overrides)
        result = run.test()
        source = "retrained"
    record = {"trial": best.number, "source": source, "metrics": {k: float(v) for k, v in result.items()}}
    study.set_user_attr("test", record)
    return record


def run_study(settings: TuneSettings, pruner: optuna.pruners.BasePruner | None = None, log=print) -> StudyOutcome:
    """Check the space and the storage, run the missing trials, test the selected trial once and
    write the outputs (trials table, best.yaml, plots) into ``output_dir``. ``pruner`` replaces the
    one ``settings.pruner`` names. Optuna's ExperimentalWarning for the features the tuner chose
    (heartbeats, stale-trial cleanup, the constant liar, matplotlib plots) is not shown: it is
    about this module, not about the user's settings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _run_study(settings, pruner, log)


def _run_study(settings: TuneSettings, pruner, log) -> StudyOutcome:
    from .report import write_outputs

    params, source = load_space(settings)
    config = check_space(params, settings, source)
    check_dataset(config)  # a dataset that is not prepared: the command that prepares it, before any trial
    metric = str(config["valid_metric"]).lower()
    study = create_study(settings, config, params)
    if pruner is not None:
        study.pruner = pruner
    done = len(finished_trials(study))
    log(f"[tune {study.study_name}] {settings.storage}: {done}/{settings.n_trials} trials finished; "
        f"searching {', '.join(params)} ({source}) on valid {metric}")
    for _ in optimize(settings, study, params, metric, log):
        write_outputs(settings, study, params, None, plots=False)
    optuna.storages.fail_stale_trials(study)
    running = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
    if running:
        # Another worker is still training: the one finishing last tests the selected trial.
        log(f"[tune {study.study_name}] trial(s) {running} still running in other workers; the worker "
            "that finishes last tests the selected trial and writes best.yaml")
        files = write_outputs(settings, study, params, None, plots=False)
        return StudyOutcome(study, None, None, Path(settings.output_dir), files)
    test = best_test_result(settings, study, log)
    files = write_outputs(settings, study, params, test, plots=settings.plots, log=log)
    best = None
    try:
        best = study.best_trial
    except ValueError:
        log(f"[tune {study.study_name}] no trial completed")
    return StudyOutcome(study, best, test, Path(settings.output_dir), files)


__all__ = ["PRUNERS", "SAMPLERS", "StudyOutcome", "TuneSettings", "best_test_result", "check_space",
           "counts_toward_budget", "create_study", "finished_trials", "make_pruner", "open_storage",
           "run_study"]
