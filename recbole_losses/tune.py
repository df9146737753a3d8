"""``python -m recbole_losses.tune``: the tuner's command line under its older name. The tuner is
the package :mod:`recbole_losses.tuning`; its command line is :mod:`recbole_losses.tuning.command`
(installed as ``recbole-losses-tune``)."""

import sys

from .cli import tune_main
from .tuning.runs import objective_function  # noqa: F401  (RecBole HyperTuning users import it from here)

if __name__ == "__main__":
    sys.exit(tune_main(prog="python -m recbole_losses.tune"))
