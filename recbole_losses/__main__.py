"""``python -m recbole_losses [--key=value ...]``: train and test, as ``recbole-losses``.

``python -m recbole_losses prepare ...`` prepares a benchmark dataset (``recbole-losses-prepare``);
``python -m recbole_losses tune ...`` runs the tuner (``recbole-losses-tune``).
"""

from __future__ import annotations

import importlib
import inspect
import sys

SUBCOMMANDS = {"prepare": "recbole_losses.cli:prepare_main", "tune": "recbole_losses.cli:tune_main"}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        module, function = SUBCOMMANDS[argv[0]].split(":")
        try:
            entry = getattr(importlib.import_module(module), function)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            print(f"error: 'python -m recbole_losses {argv[0]}' needs {module}, which this installation lacks",
                  file=sys.stderr)
            return 2
        takes_prog = "prog" in inspect.signature(entry).parameters
        return entry(argv[1:], **({"prog": f"python -m recbole_losses {argv[0]}"} if takes_prog else {}))
    from .cli import main as train

    return train(argv, prog="python -m recbole_losses")


if __name__ == "__main__":
    sys.exit(main())
