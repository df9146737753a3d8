"""Runnable examples: ``python examples/<name>.py`` in a checkout, ``python -m
recbole_losses.examples.<name>`` after installing the package (``--help`` on each)."""
