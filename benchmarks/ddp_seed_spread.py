r"""Seed-to-seed spread of the toy runs of tests/test_ddp.py: the tolerance of its DDP-versus-
single-process metric test. For each loss, single-process runs with seeds 2020..2024 (the test's
configuration otherwise) and their test NDCG@5 (best-validation checkpoint); prints one JSON line
per loss with the values, their range, and the 2-rank DDP value at seed 2020.

    nice -n 15 python benchmarks/ddp_seed_spread.py [LOSS ...]
"""

import json
import os
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import recbole_losses  # noqa: E402

from test_ddp import LOSSES, _config  # noqa: E402
from test_training_state import write_toy_dataset  # noqa: E402


def main() -> None:
    root = write_toy_dataset(Path(tempfile.mkdtemp()))
    os.chdir(root)
    for loss in sys.argv[1:] or LOSSES:
        values = []
        for seed in range(2020, 2025):
            result = recbole_losses.run("MF", loss, "toy", config_dict=_config(root, loss, seed=seed))
            values.append(float(result["test_result"]["ndcg@5"]))
        with socket.socket() as s:
            s.bind(("localhost", 0))
            port = s.getsockname()[1]
        ddp = recbole_losses.run("MF", loss, "toy", config_dict=_config(root, loss, nproc=2, port=str(port)))
        ddp = float(ddp["test_result"]["ndcg@5"])
        print(json.dumps({"loss": loss, "single_ndcg@5": values, "range": max(values) - min(values),
                          "ddp_ndcg@5": ddp, "ddp_minus_seed2020": ddp - values[0]}), flush=True)


if __name__ == "__main__":
    main()
