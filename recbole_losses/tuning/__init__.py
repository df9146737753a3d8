"""The tuner: Optuna searches on validation over RecBole params-file spaces (see docs/tuning.md).

``recbole-losses-tune`` (:mod:`.command`) runs one study; :func:`run_study` is the Python API,
:class:`TuneSettings` its settings; :func:`objective_function` lets RecBole's own ``HyperTuning``
drive our models and losses. The parts: :mod:`.settings`, :mod:`.space`, :mod:`.identity`,
:mod:`.storage`, :mod:`.sampling`, :mod:`.objective`, :mod:`.budget`, :mod:`.progress`,
:mod:`.selection`, :mod:`.report`, put together by :mod:`.study`.
"""

from .runs import objective_function
from .settings import TuneSettings
from .space import Param, SpaceError, default_params_file, parse_params, read_params_file
from .study import StudyOutcome, run_study

__all__ = ["Param", "SpaceError", "StudyOutcome", "TuneSettings", "default_params_file", "objective_function",
           "parse_params", "read_params_file", "run_study"]
