r"""Seed-to-seed spread of short runs on the synthetic toy dataset (``recbole_losses.data.toy``),
with the configuration of the DDP test's full run (tests/test_ddp.py): the tolerance of its
DDP-versus-single-process metric comparison. For each loss, single-process runs with seeds
2020..2024 and their test NDCG@5 (best-validation checkpoint); prints one JSON line per loss with
the values, their range, and the 2-rank DDP value at seed 2020.

    nice -n 15 python benchmarks/ddp_seed_spread.py SL SL@K SogSL@K SogCLR SONG@K DrRL LLPAUC AdvInfoNCE Talos GuidedRec
"""

import argparse
import json
import os
import socket
import tempfile

import recbole_losses
from recbole_losses.data.toy import write_toy_dataset

EPOCHS = 8
LEARNING_RATE = {"LLPAUC": 0.03}
# Settings under which each stateful loss's state moves within a few toy epochs.
STATE = {
    "SL@K": {"slatk_t_beta": 1, "slatk_k": 5},
    "SogSL@K": {"sogslatk_t_beta": 1, "sogslatk_k": 5},
    "DrRL": {"drrl_margin_lr": 0.01},
    "AdvInfoNCE": {"advinfonce_adv_interval": 2, "advinfonce_adv_lr": 0.01},
}


def toy_config(root: str, loss: str, **extra) -> dict:
    return {
        "data_path": root, "epochs": EPOCHS, "neg_num": 8, "pos_num": 2, "train_batch_size": 128,
        "eval_step": 2, "show_progress": False, "learning_rate": LEARNING_RATE.get(loss, 0.1), "state": "WARNING",
        "checkpoint_dir": os.path.join(root, "saved"), "topk": [5], "valid_metric": "NDCG@5",
        "use_gpu": False, **STATE.get(loss, {}), **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("losses", nargs="+", choices=recbole_losses.available_losses(), metavar="LOSS")
    args = parser.parse_args()
    root = str(write_toy_dataset(tempfile.mkdtemp(prefix="recbole-losses-toy-")))
    os.chdir(root)  # RecBole's log/ and saved/
    for loss in args.losses:
        values = []
        for seed in range(2020, 2025):
            result = recbole_losses.run("MF", loss, "toy", config_dict=toy_config(root, loss, seed=seed))
            values.append(float(result["test_result"]["ndcg@5"]))
        with socket.socket() as s:
            s.bind(("localhost", 0))
            port = s.getsockname()[1]
        ddp = recbole_losses.run("MF", loss, "toy", config_dict=toy_config(root, loss, nproc=2, port=str(port)))
        ddp = float(ddp["test_result"]["ndcg@5"])
        print(json.dumps({"loss": loss, "single_ndcg@5": values, "range": max(values) - min(values),
                          "ddp_ndcg@5": ddp, "ddp_minus_seed2020": ddp - values[0]}), flush=True)


if __name__ == "__main__":
    main()
