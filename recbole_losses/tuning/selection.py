r"""The selected trial (best validation score) and its test, computed once after the search."""

from __future__ import annotations

from pathlib import Path

from .objective import trial_config_dict, trial_run


def selected_trial(study):
    """The complete trial with the best validation score, or None."""
    try:
        return study.best_trial
    except ValueError:
        return None


def best_test_result(settings, study, log=print) -> dict | None:
    """Test metrics of the selected trial, computed once and stored in the study: its checkpoint
    when this machine has it, otherwise its settings trained again. One :class:`Run`."""
    best = selected_trial(study)
    if best is None:
        return None
    stored = study.user_attrs.get("test")
    if stored and stored.get("trial") == best.number:
        return stored
    values = best.user_attrs.get("config", best.params)
    checkpoint = best.user_attrs.get("checkpoint")
    with trial_run(settings, trial_config_dict(values, best.user_attrs.get("checkpoint_dir", "saved"))) as run:
        if checkpoint and Path(checkpoint).is_file():
            metrics, source = run.test(model_file=checkpoint), "checkpoint"
        else:
            log(f"[tune {study.study_name}] trial {best.number}'s checkpoint is not on this machine: training it again")
            run.fit()
            metrics, source = run.test(), "retrained"
    record = {"trial": best.number, "source": source, "metrics": metrics}
    study.set_user_attr("test", record)
    return record


__all__ = ["best_test_result", "selected_trial"]
