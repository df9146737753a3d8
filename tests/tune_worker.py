"""One tuner worker for the multi-worker tests: the tuner's command line (``python -m
recbole_losses.tune``, the same arguments) with two test-only changes::

    python tests/tune_worker.py [--heartbeat=SECONDS,GRACE] [--hang_at_epoch=N,MARKER] <tuner arguments>

``--heartbeat``: the storage's heartbeat interval and the grace after which a silent trial is
stale (the tuner's are 60 s and 180 s; a test cannot wait that long). ``--hang_at_epoch``: this
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


def set_heartbeat(interval: float, grace: float) -> None:
    from recbole_losses.tuning import study

    for name in ("HEARTBEAT_SECONDS", "GRACE_SECONDS"):
        if not hasattr(study, name):
            raise SystemExit(f"tune_worker: recbole_losses.tuning.study has no {name}: update the test's heartbeat "
                             "setting to the tuner's")
    study.HEARTBEAT_SECONDS, study.GRACE_SECONDS = interval, grace


def main(argv: list[str]) -> int:
    rest = []
    for arg in argv:
        if arg.startswith("--heartbeat="):
            interval, grace = arg.split("=", 1)[1].split(",")
            set_heartbeat(float(interval), float(grace))
        elif arg.startswith("--hang_at_epoch="):
            epoch, marker = arg.split("=", 1)[1].split(",", 1)
            hang_at_epoch(int(epoch), Path(marker))
        else:
            rest.append(arg)
    from recbole_losses.cli import tune_main

    return tune_main(rest, prog="python -m recbole_losses.tune")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
