r"""The command line of a run or a study, as reports and tools print it.

One renderer for every command the package or its benchmarks print (a benchmark cell's command,
the tuner's study command, the hint in best.yaml): ``<program> --model=M [--loss=L] --dataset=D
[--key=value ...]``, each argument quoted for a POSIX shell only where it needs it::

    >>> command_line(TRAIN, "MF", "CW", "health", {"preset": "paper", "cw_tau": 0.1})
    'recbole-losses --model=MF --loss=CW --dataset=health --preset=paper --cw_tau=0.1'

Values are written as the command line reads them back: a string as it is, anything else as its
Python literal (``None``, ``True``, ``[64, 64]``).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping

TRAIN = "recbole-losses"  # the installed training command (also python -m recbole_losses)
TUNE = "recbole-losses-tune"  # the installed tuner (also python -m recbole_losses.tune)


def option(key: str, value) -> str:
    """``--key=value`` with ``value`` as the command line reads it back."""
    return f"--{key}={value if isinstance(value, str) else repr(value)}"


def command_line(program: str, model: str | None = None, loss: str | None = None, dataset: str | None = None,
                 options: Mapping | Iterable = ()) -> str:
    """``program`` (words as given, e.g. ``python run_recbole_losses.py``) with ``--model``,
    ``--loss`` and ``--dataset`` where given, then ``options``: a mapping of config keys to values
    (``--key=value`` in its order) or ready arguments (``--key=value`` strings, kept as they are).
    Every argument is quoted for a POSIX shell where it needs it."""
    args = [option(key, value) for key, value in (("model", model), ("loss", loss), ("dataset", dataset))
            if value is not None]
    if isinstance(options, Mapping):
        args += [option(key, value) for key, value in options.items()]
    else:
        args += [str(arg) for arg in options]
    return " ".join([program, *(shlex.quote(arg) for arg in args)])


__all__ = ["TRAIN", "TUNE", "command_line", "option"]
