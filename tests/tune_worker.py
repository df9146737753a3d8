"""One tuner worker for the multi-worker tests: the tuner's command line (``python -m
recbole_losses.tune``, the same arguments) with two test-only changes::

    python tests/tune_worker.py [--heartbeat=SECONDS,GRACE] [--hang_at_epoch=N,MARKER] <tuner arguments>

``--heartbeat=SECONDS,GRACE``: short for the tuner's ``--heartbeat_interval=SECONDS
--heartbeat_grace=GRACE`` (60 s and 180 s by default; a test cannot wait that long). ``--hang_at_epoch``: this
worker's trials write the file MARKER when they reach training epoch N (after the resume point of
epoch N - 1 is written) and then hang there, mid-trial, until the process is killed."""

from __future__ import annotations

import sys
import time
from pathlib import Path


def hang_at_epoch(epoch: int, marker: Path) -> None:
    from recbole_losses.trainer import Trainer

    original = Trainer._train_epoch

    def hanging(self, train_data, epoch_idx, *args, **kwargs):
        if epoch_idx == epoch:
            marker.write_text("mid-trial\n")
            while True:
                time.sleep(1)
        return original(self, train_data, epoch_idx, *args, **kwargs)

    Trainer._train_epoch = hanging


def main(argv: list[str]) -> int:
    rest = []
    for arg in argv:
        if arg.startswith("--heartbeat="):
            interval, grace = arg.split("=", 1)[1].split(",")
            rest += [f"--heartbeat_interval={interval}", f"--heartbeat_grace={grace}"]
        elif arg.startswith("--hang_at_epoch="):
            epoch, marker = arg.split("=", 1)[1].split(",", 1)
            hang_at_epoch(int(epoch), Path(marker))
        else:
            rest.append(arg)
    from recbole_losses.cli import tune_main

    return tune_main(rest, prog="python -m recbole_losses.tune")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
