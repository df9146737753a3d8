r"""The tuner's outputs in ``output_dir``: ``trials.csv`` and ``trials.md`` (one row per trial:
state, validation score, epochs trained, wall time, settings, why it was pruned or failed),
``best.yaml`` (everything the selected trial trained with: ``recbole-losses
--config_files=best.yaml`` runs it again), ``summary.json``, ``history.png`` (optimisation
history) and ``importance.png`` (parameter importance).

The report only reads: the study (its trials and its stored identity, see
:mod:`recbole_losses.tuning.identity`) and the settings of this invocation; it builds no
configuration and trains nothing. Files are replaced whole (written beside, then renamed), so two
workers finishing together never leave a half-written file."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib
import optuna
import yaml
from optuna.trial import TrialState

from ..commands import TRAIN, TUNE, command_line
from ..tables import replace_file, write_table
from .budget import INTERRUPTED
from .sampling import is_surplus_trial
from .selection import selected_trial

MIN_TRIALS_FOR_IMPORTANCE = 2


def trial_rows(study, params) -> list[dict]:
    """One dict per trial of the study."""
    metric = study.user_attrs.get("valid_metric", "value")
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        if is_surplus_trial(trial):
            continue
        note = attrs.get("error", "")
        if trial.state == TrialState.PRUNED:
            note = f"pruned after epoch {trial.last_step}" if trial.last_step is not None else "pruned"
        elif trial.state == TrialState.FAIL and not note:
            note = INTERRUPTED
        values = attrs.get("config", dict(trial.params))
        row = {
            "trial": trial.number,
            "state": trial.state.name,
            f"valid {metric}": trial.value if trial.state == TrialState.COMPLETE else None,
            "epochs": attrs.get("epochs"),
            "wall_s": attrs.get("wall_seconds"),
        }
        for name in dict.fromkeys([*params, *values]):
            row[name] = values.get(name)
        row["note"] = note
        rows.append(row)
    return rows


def count_states(study) -> dict[str, int]:
    counts = {"complete": 0, "pruned": 0, "failed": 0}
    for trial in study.get_trials(deepcopy=False):
        if is_surplus_trial(trial):
            continue
        if trial.state == TrialState.COMPLETE:
            counts["complete"] += 1
        elif trial.state == TrialState.PRUNED:
            counts["pruned"] += 1
        elif trial.state == TrialState.FAIL and "error" in trial.user_attrs:
            counts["failed"] += 1
    return counts


def study_command(settings) -> str:
    """The command line that runs (or resumes) this study."""
    args = [f"--n_trials={settings.n_trials}", f"--study_name={settings.study_name}",
            f"--output_dir={settings.output_dir}", f"--storage={settings.storage}"]
    if settings.params_file:
        args.append(f"--params_file={settings.params_file}")
    if settings.config_files:
        args.append(f"--config_files={' '.join(settings.config_files)}")
    if settings.pruner != "median":
        args.append(f"--pruner={settings.pruner}")
    if settings.warmup_epochs is not None:
        args.append(f"--warmup_epochs={settings.warmup_epochs}")
    if settings.sampler != "tpe":
        args.append(f"--sampler={settings.sampler}")
    if settings.sampler_seed is not None:
        args.append(f"--sampler_seed={settings.sampler_seed}")
    return command_line(TUNE, settings.model, settings.loss or None, settings.dataset, [*args, *settings.overrides])


def best_settings(study, best) -> dict:
    """Everything the selected trial trained with, read from the study: model, loss and dataset,
    the study's fixed settings (paths and verbosity left out), its protocol (epochs, evaluation,
    metrics) and the trial's searched values: the YAML ``recbole-losses --config_files`` runs."""
    identity = study.user_attrs.get("identity", {})
    names = {key: identity.get(key) for key in ("model", "loss", "dataset") if identity.get(key) is not None}
    return {**names, **identity.get("protocol", {}), **identity.get("fixed", {}),
            **best.user_attrs.get("config", best.params)}


def write_best_yaml(path: Path, study, best, test) -> None:
    metric = study.user_attrs.get("valid_metric", "value")
    values = best_settings(study, best)
    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    header = [
        f"# Best of tuner study {study.study_name}: trial {best.number}, selected on valid {metric} = "
        f"{best.value:.6f} (validation only), of {complete} complete trials; trained "
        f"{best.user_attrs.get('epochs', '?')} epochs.",
    ]
    if test:
        metrics = ", ".join(f"{k} = {v:.6f}" for k, v in test["metrics"].items())
        header.append(f"# Test, computed once after selection ({test['source']}): {metrics}")
    header.append(f"# Run it again: {command_line(TRAIN, options=[f'--config_files={path.name}'])} (add "
                  "--data_path=... where the data lives elsewhere)")
    replace_file(path, "\n".join(header) + "\n" + yaml.safe_dump(values, sort_keys=False))


def write_plots(study, out: Path, log=print) -> dict[str, Path]:
    """history.png and importance.png (matplotlib, Agg); a note instead when importance cannot be
    computed (fewer than two complete trials, or a single distinct setting)."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    files = {}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna's matplotlib plots are marked experimental
        if complete:
            ax = optuna_plots.plot_optimization_history(study, target_name=study.user_attrs.get("valid_metric", "value"))
            ax.figure.savefig(out / "history.png", dpi=120, bbox_inches="tight")
            plt.close(ax.figure)
            files["history"] = out / "history.png"
        note = out / "importance.txt"
        if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
            reason = f"{len(complete)} complete trial(s); parameter importance needs at least {MIN_TRIALS_FOR_IMPORTANCE}"
        else:
            try:
                evaluator = optuna.importance.PedAnovaImportanceEvaluator()
                ax = optuna_plots.plot_param_importances(study, evaluator=evaluator)
                ax.figure.savefig(out / "importance.png", dpi=120, bbox_inches="tight")
                plt.close(ax.figure)
                files["importance"] = out / "importance.png"
                note.unlink(missing_ok=True)
                return files
            except (ValueError, RuntimeError, ZeroDivisionError) as err:
                reason = f"parameter importance could not be computed: {err}"
        replace_file(note, reason + "\n")
        files["importance_note"] = note
        log(f"[tune {study.study_name}] no importance plot: {reason}")
    return files


def write_outputs(settings, study, params, test, plots: bool = True, log=print) -> dict[str, Path]:
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(study, params)
    write_table(rows, out / "trials.csv", out / "trials.md", f"Tuner study {study.study_name}",
                shown=None if rows else ["trial"])
    files = {"trials_csv": out / "trials.csv", "trials_md": out / "trials.md"}
    best = selected_trial(study)
    identity = study.user_attrs.get("identity", {})
    summary = {
        "study_name": study.study_name, "storage": settings.storage, "command": study_command(settings),
        "model": identity.get("model", settings.model), "loss": identity.get("loss", settings.loss),
        "dataset": identity.get("dataset", settings.dataset),
        "valid_metric": study.user_attrs.get("valid_metric"), "n_trials": settings.n_trials,
        "pruner": type(study.pruner).__name__, "sampler": type(study.sampler).__name__,
        "trials": count_states(study),
        "wall_seconds": round(sum(r["wall_s"] or 0 for r in rows), 2),
        "best_trial": best.number if best else None,
        "best_valid_score": best.value if best else None,
        "best_valid_result": best.user_attrs.get("valid_result") if best else None,
        "best_params": best.user_attrs.get("config", best.params) if best else None,
        "best_settings": best_settings(study, best) if best else None,
        "test": test,
    }
    replace_file(out / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    files["summary"] = out / "summary.json"
    if best is not None and test is not None:
        write_best_yaml(out / "best.yaml", study, best, test)
        files["best_yaml"] = out / "best.yaml"
    if plots:
        files.update(write_plots(study, out, log))
    return files


__all__ = ["best_settings", "count_states", "study_command", "trial_rows", "write_outputs",
           "write_plots"]
