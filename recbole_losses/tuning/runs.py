r"""RecBole's ``objective_function`` contract, so RecBole's own ``HyperTuning`` (``run_hyper.py``)
can drive our models and losses: one :class:`~recbole_losses.runner.Run` per call."""

from __future__ import annotations

from ..runner import Run


def objective_function(config_dict=None, config_file_list=None, saved=True) -> dict:
    """RecBole's ``objective_function`` for our models and losses: ``config_dict`` (the trial's
    parameters) and ``config_file_list`` (the fixed settings) carry ``model``, ``dataset`` and
    ``loss`` as config keys. Trains, tests the best-validation checkpoint (the last epoch without
    ``saved``), closes the run and returns ``model``, ``best_valid_score``,
    ``valid_score_bigger``, ``best_valid_result`` and ``test_result``."""
    config_dict = dict(config_dict or {})
    with Run(config_dict.pop("model", None), None, config_dict.pop("dataset", None), config_file_list,
             config_dict, saved=saved) as run:
        best_valid_score, best_valid_result = run.fit()
        test_result = run.test()
    return {
        "model": run.config["model"],
        "best_valid_score": best_valid_score,
        "valid_score_bigger": bool(run.config["valid_metric_bigger"]),
        "best_valid_result": best_valid_result or {},
        "test_result": test_result,
    }


__all__ = ["objective_function"]
