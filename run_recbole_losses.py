"""Train and test a RecBole model with a recbole-losses loss. See README.md and
``python run_recbole_losses.py --help``; the logic lives in recbole_losses/cli.py."""

import sys

from recbole_losses.cli import main

if __name__ == "__main__":
    sys.exit(main())
