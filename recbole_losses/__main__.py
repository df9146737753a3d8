"""``python -m recbole_losses [--key=value ...]``: train and test, as ``recbole-losses``.

``python -m recbole_losses prepare ...`` prepares a benchmark dataset (``recbole-losses-prepare``);
``python -m recbole_losses tune ...`` runs the tuner (``recbole-losses-tune``).
"""

from __future__ import annotations

import sys

from .cli import main as train
from .cli import prepare_main, tune_main

SUBCOMMANDS = {"prepare": prepare_main, "tune": tune_main}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:], prog=f"python -m recbole_losses {argv[0]}")
    return train(argv, prog="python -m recbole_losses")


if __name__ == "__main__":
    sys.exit(main())
