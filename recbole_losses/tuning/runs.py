r"""One training run on validation, and RecBole's ``objective_function`` contract.

:func:`train_on_validation` is the RecBole quick start up to the end of ``fit``: Config → data →
model → trainer, trained with validation every ``eval_step`` epochs. A tuner trial and
:func:`objective_function` (the function RecBole's ``HyperTuning`` calls) both use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..quick_start import build_run


@dataclass
class TrainedRun:
    """What a finished ``fit`` leaves: the config, loaders, trainer and best validation."""

    config: object
    loaders: tuple
    trainer: object
    best_valid_score: float
    best_valid_result: dict

    def test(self, model_file: str | None = None) -> dict:
        """Test metrics of the best-validation checkpoint (``model_file``: another checkpoint)."""
        result = self.trainer.evaluate(self.loaders[2], load_best_model=True, model_file=model_file,
                                       show_progress=self.config["show_progress"])
        return {key: float(value) for key, value in result.items()}


def train_on_validation(model, loss, dataset, config_file_list=None, config_dict=None, cmd_args=None, *,
                        saved: bool = True, callback_fn=None) -> TrainedRun:
    """Train one configuration; ``callback_fn(epoch_idx, valid_score)`` after every validation
    (RecBole's hook: a tuner reports there and may raise to stop the run)."""
    config, loaders, _, trainer = build_run(model, loss, dataset, config_file_list, config_dict, cmd_args)
    try:
        score, result = trainer.fit(loaders[0], loaders[1], saved=saved, show_progress=config["show_progress"],
                                    callback_fn=callback_fn)
    finally:
        # RecBole opens a TensorBoard writer per trainer and never closes it: in a process that
        # trains hundreds of trials each would keep its file and thread.
        trainer.tensorboard.close()
    result = {key: float(value) for key, value in (result or {}).items()}
    return TrainedRun(config, loaders, trainer, float(score), result)


def objective_function(config_dict=None, config_file_list=None, saved=True) -> dict:
    """RecBole's ``objective_function`` contract for our models and losses, so RecBole's own
    ``HyperTuning`` (``run_hyper.py``) can drive them: ``config_dict`` (the trial's parameters) and
    ``config_file_list`` (the fixed settings) carry ``model``, ``dataset`` and ``loss`` as config
    keys. Trains, tests the best-validation checkpoint and returns ``model``, ``best_valid_score``,
    ``valid_score_bigger``, ``best_valid_result`` and ``test_result``."""
    config_dict = dict(config_dict or {})
    run = train_on_validation(config_dict.pop("model", None), None, config_dict.pop("dataset", None),
                              config_file_list, config_dict, saved=saved)
    test_result = run.test() if saved else {
        key: float(value) for key, value in run.trainer.evaluate(run.loaders[2], load_best_model=False).items()
    }
    return {
        "model": run.config["model"],
        "best_valid_score": run.best_valid_score,
        "valid_score_bigger": bool(run.config["valid_metric_bigger"]),
        "best_valid_result": run.best_valid_result,
        "test_result": test_result,
    }


__all__ = ["TrainedRun", "objective_function", "train_on_validation"]
