"""The tuner: Optuna searches on validation over RecBole params-file spaces (see docs/tuning.md).

``python -m recbole_losses.tune`` runs one study; :func:`run_study` is the Python API;
:func:`objective_function` lets RecBole's own ``HyperTuning`` drive our models and losses.
"""

from .runs import objective_function, train_on_validation
from .space import Param, SpaceError, default_params_file, parse_params, read_params_file
from .study import StudyOutcome, TuneSettings, run_study

__all__ = ["Param", "SpaceError", "StudyOutcome", "TuneSettings", "default_params_file", "objective_function",
           "parse_params", "read_params_file", "run_study", "train_on_validation"]
