"""Train and test a RecBole model with a recbole-losses loss: ``python run_recbole_losses.py
--model=LightGCN --loss=CW --dataset=ml-100k``. The same command is installed as ``recbole-losses``
(and ``python -m recbole_losses``); ``--help`` lists the choices. The logic lives in
recbole_losses/cli.py."""

import sys

from recbole_losses.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="run_recbole_losses.py"))
