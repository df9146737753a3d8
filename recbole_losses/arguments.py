"""What every command and example shares: its argument parser (:class:`CommandParser`: ``--version``,
one-line errors with exit status 2) and checked argument types (:func:`checked`)."""

from __future__ import annotations

import argparse
import sys


def version_text(prog: str) -> str:
    """``<prog> 0.1.0 (RecBole 1.2.1, torch 2.x, Python 3.11.x)``: what ``--version`` prints."""
    import platform

    import recbole
    import torch

    # The package (recbole_losses/__init__.py, where the version is stated once) is imported before
    # any of its modules, so it is read from there without an import.
    version = sys.modules[__package__].__version__
    return f"{prog} {version} (RecBole {recbole.__version__}, torch {torch.__version__}, Python {platform.python_version()})"


class _Version(argparse.Action):
    """``--version``: :func:`version_text` on one line (argparse's own action wraps it)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text(parser.prog))
        parser.exit(0)


class CommandParser(argparse.ArgumentParser):
    """The argument parser of every command and example: ``--version``, and a mistake in the
    arguments is one line on stderr (``<prog>: error: ... (see <prog> --help)``) with exit status 2."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument("--version", action=_Version,
                          help="print the versions of recbole-losses, RecBole, torch and Python, and exit")

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def checked(rule, parse=int):
    """An argparse ``type``: ``parse`` the text (int, float), then check it with ``rule`` (a
    :class:`recbole_losses.losses._checks.Rule`); the error names the rule."""

    def convert(text):
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {rule.text()}, got {text!r}") from None
        if not rule.accepts(value):
            raise argparse.ArgumentTypeError(rule.problem(value, as_given=True))
        return value

    return convert


__all__ = ["CommandParser", "checked", "version_text"]
